#include <fmt/format.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <optional>
#include <random>

#include "../engine/engine.h"
#include "../engine/load_options.h"
#include "hae/build_info.h"
#include "hae/error.h"
#include "hae/profile.h"

namespace hae {

namespace {

using Clock = std::chrono::steady_clock;

// One bandwidth sample per this many decode steps: best of three 512 MiB reads (~30 ms), as the
// first read after a step shares the cores with OpenMP's threads still spinning (one-read
// samples came out as low as 7 GB/s on a 55 GB/s machine).
constexpr int kTokensPerBandwidthSample = 8;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Appends `count` text tokens of random ids to the plan. Ids come from the middle of the
// vocabulary: the low ids are often bytes and control tokens, the high ones added specials.
void appendRandomText(PromptPlan& plan, int count, int vocab_size) {
  std::vector<std::int64_t> avoid;
  for (const auto& t : plan.tokens)
    if (t.image >= 0) avoid.push_back(t.id);
  const int lo = std::min(300, vocab_size / 4), hi = std::max(lo, std::min(vocab_size, 32000) - 1);
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int> pick(lo, hi);
  int position = plan.tokens.empty() ? 0 : plan.tokens.back().position + 1;
  int rope = 0;
  if (!plan.mrope_positions.empty()) {
    const auto& last = plan.mrope_positions.back();
    rope = *std::max_element(last.begin(), last.end()) + 1;
  }
  for (int i = 0; i < count; ++i) {
    int id = pick(rng);
    while (std::find(avoid.begin(), avoid.end(), id) != avoid.end()) id = pick(rng);
    TokenInfo t;
    t.position = position++;
    t.id = id;
    plan.ids.push_back(id);
    plan.tokens.push_back(t);
    if (!plan.mrope_positions.empty()) plan.mrope_positions.push_back({rope, rope, rope}), ++rope;
  }
}

// Matmul and attention arithmetic of the decoder over a prompt of n tokens: two FLOPs per weight
// per token, and the score and value products over the full n x n square (computed, then masked).
double decoderGflop(const ModelSpec& spec, std::int64_t decode_weight_bytes, int n) {
  const double elem = static_cast<double>(torch::elementSize(spec.dtype));
  const double matmul_weights =
      decode_weight_bytes / elem - double(spec.vocab_size) * spec.hidden_size;
  const double attention = 4.0 * double(n) * n * spec.num_heads * spec.head_dim * spec.num_layers;
  return (2.0 * matmul_weights * n + attention) / 1e9;
}

}  // namespace

double ProfileResult::boundMs() const {
  return (static_cast<double>(weight_bytes_per_token) + kv_bytes_mean) / (read_gbps * 1e9) * 1e3;
}

ProfileResult runProfile(const ProfileOptions& options, const ProfileProgress& progress) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  if (options.prompt_tokens < 1) throw Error("--prompt-tokens must be at least 1");
  if (options.decode_tokens < 1) throw Error("--decode-tokens must be at least 1");
  torch::NoGradGuard no_grad;
  ProfileResult r;

  // Bandwidth first, while no model occupies the memory it streams through; then again every
  // few decode steps (not timed) and after them, and the ratio uses the median.
  say("measuring the memory read bandwidth");
  ReadBandwidthProbe probe(options.threads > 0 ? options.threads : buildInfo().threads, 512);
  r.read_gbps_samples.push_back(probe.sample(8));

  say(options.session.random_init.empty() ? "loading the model"
                                          : "building the model with random weights");
  std::shared_ptr<VlmModel> model = loadSessionModel(options.session);
  const ModelSpec& spec = model->spec();
  r.model = spec.name;
  r.dtype = options.session.dtype;
  r.weight_bytes_per_token = model->decodeWeightBytes();
  if (r.weight_bytes_per_token <= 0)
    throw Error(
        fmt::format("hae profile: the {} family does not report its decoder's size", spec.family));

  PromptPlan plan;
  if (!options.images.empty()) plan = model->buildPrompt("Describe the image.", options.images);
  appendRandomText(plan, options.prompt_tokens, spec.vocab_size);
  for (const auto& t : plan.tokens) r.visual_tokens += t.modality == Modality::Visual ? 1 : 0;
  r.prompt_tokens = static_cast<int>(plan.tokens.size());
  r.images = static_cast<int>(options.images.size());

  Engine engine(model, makePolicy(options.session.policy, options.session.knobs));
  std::optional<torch::autograd::profiler::RecordProfile> trace;
  if (!options.op_trace.empty()) trace.emplace(options.op_trace);
  say(fmt::format("prefill of {} tokens", r.prompt_tokens));
  const auto prefill_start = Clock::now();
  auto logits = engine.prefill(plan);
  r.prefill_s = secondsSince(prefill_start);
  r.vision_s = options.images.empty() ? 0 : engine.lastEmbedMs() / 1e3;
  r.decoder_gflop = decoderGflop(spec, r.weight_bytes_per_token, r.prompt_tokens);
  r.decoder_gflops = r.decoder_gflop / std::max(1e-9, r.prefill_s - r.vision_s);

  say(fmt::format("decoding {} tokens", options.decode_tokens));
  std::vector<double> ms;
  double kv_sum = 0;
  for (int i = 0; i < options.decode_tokens; ++i) {
    if (i > 0 && i % kTokensPerBandwidthSample == 0) r.read_gbps_samples.push_back(probe.sample(3));
    const std::int64_t token = logits.argmax().item<std::int64_t>();  // EOS or not: keep going
    const StepTelemetry& last = engine.lastTelemetry();  // the cache this step will read
    for (int l = 0; l < spec.num_layers; ++l)
      kv_sum += double(last.liveSlots(l)) * spec.kvBytesPerToken() / spec.num_layers;
    const auto t0 = Clock::now();
    logits = engine.decode(token);
    ms.push_back(secondsSince(t0) * 1e3);
  }
  r.decode_tokens = options.decode_tokens;
  r.decode_ms_mean = std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
  r.decode_ms_best = *std::min_element(ms.begin(), ms.end());
  r.kv_bytes_mean = static_cast<std::int64_t>(kv_sum / options.decode_tokens);
  r.read_gbps_samples.push_back(probe.sample(4));
  auto sorted = r.read_gbps_samples;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t mid = sorted.size() / 2;
  r.read_gbps = sorted.size() % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return r;
}

}  // namespace hae
