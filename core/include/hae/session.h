#pragma once
// The engine behind a torch-free facade: the GUI worker and the CLI drive a model through this
// header without including LibTorch (Qt's `slots` macro breaks LibTorch headers).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hae/telemetry.h"

namespace hae {

struct SamplingOptions {
  double temperature = 0;  // 0: greedy
  double top_p = 1.0;
  std::uint64_t seed = 0;
};

// Issue 16: a full-cache shadow over the same loaded weights (a second KV cache only).
struct ShadowOptions {
  std::string mode = "off";        // off | forced (fed the policy run's tokens) | free (decodes on its own)
  double regret_threshold = 0.01;  // full-model attention above which a purged token was wanted
  int restore_window = 4;          // a restore is timely if the full model attends it within k steps
};

// What-if edits, over any policy: force-kept tokens are protected from every eviction; force-evicted
// ones are dropped from every layer at the end of prefill. Original token positions.
struct KeepOverrides {
  std::vector<int> force_keep;
  std::vector<int> force_evict;
  bool empty() const { return force_keep.empty() && force_evict.empty(); }
};

struct SessionOptions {
  std::string model_dir;         // a Hugging Face folder; empty: the embedded demo model
  std::string random_init;       // a config.json: same architecture, seeded random weights
  std::string dtype = "fp32";    // fp32 | bf16 | fp16 (CUDA only)
  std::string device = "cpu";    // cpu | cuda
  std::string policy = "full";
  std::map<std::string, std::string> knobs;
  int max_new_tokens = 64;
  SamplingOptions sampling;
  int image_longest_edge = 0;    // SmolVLM/Idefics3 tiling: longest edge in px (0: the model's)
  int image_num_crops = 0;       // Phi-3.5-V HD transform: most sub-crops per image (0: the model's)
  long long image_min_pixels = 0;  // Qwen2-VL smart_resize bounds (0: preprocessor_config.json's)
  long long image_max_pixels = 0;
  ShadowOptions shadow;
  KeepOverrides overrides;
  bool record_attention = false;  // StepTelemetry::attention: each layer's attention on the visual tokens
};

class Session {
 public:
  // Loads the model; throws hae::Error with a message naming the folder, file or field.
  explicit Session(const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Replaces the policy (the model stays loaded); takes effect at the next prefill.
  void setPolicy(const std::string& name, const std::map<std::string, std::string>& knobs);
  // The full-cache shadow for the next prefill (SessionOptions::shadow); the model stays loaded.
  void setShadow(const ShadowOptions& shadow);
  // The what-if edits for the next prefill (SessionOptions::overrides); positions are checked then.
  void setOverrides(const KeepOverrides& overrides);
  // Tokenizes the chat prompt, preprocesses the images, runs the prompt; returns step 0.
  const StepTelemetry& prefill(const std::string& prompt, const std::vector<std::string>& images);
  // Compress once, ask many: answers `prompt` about the last prefill's images from the cache the
  // policy compressed for that prefill's question. The old question and its answer leave the
  // cache; the new question's tokens run as decode steps (the policy sees them as such); history
  // becomes one step 0 that stands for both (times summed). Throws hae::Error when the template
  // puts the question before the images. Step numbers continue after the fed tokens.
  const StepTelemetry& ask(const std::string& prompt);
  // One token; nullopt when the answer is finished (EOS or max_new_tokens).
  std::optional<StepTelemetry> step();
  bool finished() const;
  std::string answer() const;           // decoded generated text so far (special tokens skipped)
  // With a shadow (SessionOptions::shadow, issue 16): the first decode step at which a
  // free-running shadow's token differs from the policy run's (-1: none so far, and always with
  // a forced shadow), and the shadow's own answer (forced: the policy run's tokens).
  int firstDivergenceStep() const;
  std::string shadowAnswer() const;
  const RunInfo& runInfo() const;
  // Bytes one decode step reads from the model's weights (decoder layers, final norm, output
  // matrix), for the memory bound (`hae profile`, the studio's status bar); 0 if unknown.
  std::int64_t decodeWeightBytes() const;
  const std::vector<StepTelemetry>& history() const;
  // Thread-safe: the running prefill/step stops at the next layer boundary and throws Cancelled.
  void cancel();
  void reset();  // forget the run; keep the model

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Thrown by prefill/step after cancel().
class SessionCancelled : public std::exception {
 public:
  const char* what() const noexcept override { return "cancelled"; }
};

// The embedded demo model's folder (installed resources, or the source tree's resources/).
std::string demoModelDir();

}  // namespace hae
