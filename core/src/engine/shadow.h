#pragma once
// The full-cache shadow of a policy run (issue 16): a second Engine over the same loaded model
// (the weights are shared through the shared_ptr; the shadow's only memory of its own is its KV
// cache) with the "full" policy, fed the same prompt plan and then, teacher-forced, the policy
// run's tokens (or, free-running, its own). After each step it compares the two next-token
// distributions and measures the attention the full model put on what the policy's cache could
// not show, layer by layer.
//
// Definitions (ShadowStep, telemetry.h), at step s (0 = prefill):
// - kl, total_variation, top1_agree, top_full / top_policy: the two next-token distributions the
//   two runs produced after step s (softmax of the logits, in fp64).
// - policy_token_rank: the rank under the full model's distribution of step s of the token the
//   policy run emits at step s + 1 (0 = the full model's top). When the step is measured that token
//   is not picked yet, so the rank of the policy's argmax is written (the emitted token under greedy
//   decoding); Session overwrites it in history() with the rank of the token actually picked
//   (rankOfLast) when sampling picks another one.
// - layers[l].missed_*: the full model's attention in layer l (mean over query heads; query = the
//   step's token, the last prompt token at prefill) on tokens the policy's layer-l cache did not
//   let its own query see in the same step's forward: absent (never cached, evicted) or masked and
//   freed -> missed_evicted; masked in the recycle bin -> missed_binned; by the token's modality.
//   Per-KV-head caches: a query head counts the tokens its KV head dropped.
// - visual_attention[l][v]: the full model's head-mean attention on the prompt's v-th visual token.
// - ms: the shadow's forward plus these measurements, none of it in the policy run's model_ms or
//   policy_ms.
// In free mode the two runs' contexts differ after the first divergence: the measurements then
// compare the two runs as they are, token index by token index.
#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <vector>

#include "engine.h"
#include "regret.h"
#include "sampler.h"

namespace hae {

// Throws hae::Error naming the field (shadow.mode, shadow.regret_threshold, shadow.restore_window).
void checkShadowOptions(const ShadowOptions& options);

// The comparisons of one step, apart from the engines (tests call them on hand-made inputs).
// `tokens`: the policy run's tokens (modalities); `visual_tokens`: indices of the visual ones.
void compareLogits(const at::Tensor& full, const at::Tensor& policy, const Tokenizer* tokenizer,
                   ShadowStep& out);
void measureMissed(const std::vector<LayerView>& full, const std::vector<LayerView>& policy,
                   const std::vector<TokenInfo>& tokens, const std::vector<int>& visual_tokens,
                   ShadowStep& out);
// [layer][token]: the full model's head-mean attention on every token of the run (0 where absent).
std::vector<std::vector<float>> headMeanAttention(const std::vector<LayerView>& full, int num_tokens);

class ShadowRun {
 public:
  ShadowRun(std::shared_ptr<VlmModel> model, const ShadowOptions& options,
            const SamplingOptions& sampling);
  Engine& engine() { return *engine_; }
  const ShadowOptions& options() const { return options_; }
  bool freeRunning() const { return options_.mode == "free"; }

  // After the policy engine's prefill of `plan`: runs the shadow's prefill and fills t.shadow
  // (and t.regrets) from the policy engine's views and logits.
  void prefill(const PromptPlan& plan, const Engine& policy, const at::Tensor& policy_logits,
               StepTelemetry& t);
  // After the policy engine decoded `policy_token`: forced, the shadow decodes the same token;
  // free, its own pick (with its own sampler, the run's settings). Fills t.shadow unless a
  // free-running shadow has finished (it picked an end-of-sequence token).
  void step(std::int64_t policy_token, const Engine& policy, const at::Tensor& policy_logits,
            StepTelemetry& t);
  // The policy run ended with an end-of-sequence token at decode step `step` (not decoded): a
  // free-running shadow that would have gone on diverges there.
  void policyEnded(std::int64_t eos_token, int step);
  // The rank of `token` under the shadow's last next-token distribution.
  int rankOfLast(std::int64_t token) const;

  int firstDivergenceStep() const { return first_divergence_; }
  const std::vector<int>& generated() const { return generated_; }
  bool finished() const { return finished_; }
  void requestCancel() { engine_->requestCancel(); }
  void clearCancel() { engine_->clearCancel(); }

 private:
  void measure(const Engine& policy, const at::Tensor& policy_logits, double forward_ms,
               StepTelemetry& t);
  bool isEos(std::int64_t token) const;

  ShadowOptions options_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Sampler> sampler_;
  at::Tensor logits_;  // the shadow's next-token logits after the last step
  std::vector<int> generated_;
  std::vector<int> visual_tokens_;
  int first_divergence_ = -1;
  bool finished_ = false;
  RegretTracker regrets_;
};

}  // namespace hae
