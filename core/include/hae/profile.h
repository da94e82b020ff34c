#pragma once
// `hae profile`: how fast a model prefills and decodes on this machine, against what the machine
// allows. Decode reads every decoder weight and the whole KV cache once per token, so its floor is
// those bytes over the memory's read bandwidth, measured in the same run (machines differ 2x).
// Torch-free header.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hae/session.h"

namespace hae {

// Best-of-`reps` read bandwidth in GB/s over a buffer of `mib` MiB (larger than any cache), with
// `threads` threads each reading its own part, as the decoder's threads read their rows.
double measureReadBandwidth(int threads, int mib = 1024, int reps = 8);

// The same kernel with its buffer kept, so that a run can measure again between its own steps:
// a shared machine's bandwidth moves by 2x within seconds, and a ratio to the bound means
// something only against the bandwidth of the same moments.
class ReadBandwidthProbe {
 public:
  ReadBandwidthProbe(int threads, int mib);  // allocates and touches the buffer
  ~ReadBandwidthProbe();
  double sample(int reps);  // best of `reps` reads, GB/s

 private:
  void run(bool first_touch);
  int threads_;
  std::size_t words_;
  std::unique_ptr<std::uint64_t[]> buffer_;
  std::atomic<std::uint64_t> sink_{0};
};

struct ProfileOptions {
  SessionOptions session;           // model_dir or random_init, dtype, device
  int prompt_tokens = 512;          // text tokens (random ids); images add theirs on top
  std::vector<std::string> images;  // optional: the vision path is timed as well
  int decode_tokens = 32;
  int threads = 0;       // for the bandwidth kernel; 0 = all cores
  std::string op_trace;  // LibTorch's per-operator trace of the run (Chrome JSON)
};

struct ProfileResult {
  std::string model, dtype;
  int prompt_tokens = 0, visual_tokens = 0, images = 0, decode_tokens = 0;
  double vision_s = 0;        // vision tower + projector inside the prefill
  double prefill_s = 0;       // the whole prefill, vision included
  double decoder_gflop = 0;   // the decoder's arithmetic in the prefill (matmuls and attention)
  double decoder_gflops = 0;  // decoder_gflop over (prefill_s - vision_s)
  double decode_ms_mean = 0, decode_ms_best = 0;
  std::int64_t weight_bytes_per_token = 0;  // decoder weights read by one decode step
  std::int64_t kv_bytes_mean = 0;           // cache bytes a decode step reads, mean over the run
  double read_gbps = 0;                     // median of the samples below
  std::vector<double> read_gbps_samples;    // before the model loads, during decode, after it
  double boundMs() const;                   // (weights + cache) / bandwidth
  double ratio() const { return decode_ms_mean / boundMs(); }
};

using ProfileProgress = std::function<void(const std::string& stage)>;
ProfileResult runProfile(const ProfileOptions& options, const ProfileProgress& progress = {});

}  // namespace hae
