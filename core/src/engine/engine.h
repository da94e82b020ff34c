#pragma once
// Runs a model over its KV cache under a policy: prefill of a prompt plan, then one token per
// decode step, timing each layer and the policy's own work, and producing telemetry.
#include <ATen/core/Tensor.h>

#include <atomic>
#include <memory>

#include "../models/vlm_model.h"
#include "../policies/policy.h"
#include "hae/session.h"
#include "hae/telemetry.h"
#include "core_share.h"
#include "layer_view.h"

namespace hae {

struct ForwardCapture {  // what `hae dump` and the parity tests want from a prefill
  bool enabled = false;
  at::Tensor inputs_embeds;
  std::vector<at::Tensor> hidden_states;  // HF convention: [i] = output of layer i-1, [L] = normed
  at::Tensor last_layer_output_prenorm;
  at::Tensor logits;                      // all positions
  ImageOutputs image;
};

class Cancelled : public std::exception {
 public:
  const char* what() const noexcept override { return "cancelled"; }
};

class Engine {
 public:
  Engine(std::shared_ptr<VlmModel> model, std::unique_ptr<Policy> policy);
  VlmModel& model() { return *model_; }
  Policy& policy() { return *policy_; }
  const KvCache& cache() const { return cache_; }

  // Runs the prompt; returns the logits of the last position [vocab] (fp32, CPU).
  at::Tensor prefill(const PromptPlan& plan, ForwardCapture* capture = nullptr);
  // Appends one token at the next position and returns its logits [vocab] (fp32, CPU). With
  // `prompt_token`, the token is prompt text fed after forgetFrom (compress once, ask many).
  at::Tensor decode(std::int64_t token, const TokenInfo* prompt_token = nullptr);
  // Compress once, ask many: every layer (and head) forgets the tokens from prompt index `first`
  // on (the question the cache was compressed with, and its answer); the next tokens fed take the
  // positions from `first`'s on. The forgotten tokens stay in tokens() (policies index by token).
  void forgetFrom(int first);

  const StepTelemetry& lastTelemetry() const { return telemetry_; }
  const std::vector<TokenInfo>& tokens() const { return tokens_; }
  int nextPosition() const { return next_position_; }
  // The last prefill's embedding time: the vision tower and projector, and the text lookup.
  double lastEmbedMs() const { return embed_ms_; }
  // M-RoPE models: transformers' rope_deltas of the prompt (decoding rotates token i at
  // i + delta); 0 elsewhere.
  int ropeDelta() const { return rope_delta_; }
  // Checked between layers; a pending cancel makes prefill/decode throw Cancelled.
  void requestCancel() { cancel_ = true; }
  void clearCancel() { cancel_ = false; }
  // What-if edits (overrides.h), applied from the next prefill on.
  void setOverrides(KeepOverrides overrides) { overrides_ = std::move(overrides); }
  // The session's own measurements of every layer's forward (layer_view.h), apart from the
  // policy's taps; off by default. Their time is left out of model_ms (lastObserveMs).
  void setObserve(const ObserveOptions& options) { observe_ = options; }
  const std::vector<LayerView>& lastViews() const { return views_; }
  double lastObserveMs() const { return observe_ms_; }

 private:
  at::Tensor runLayers(at::Tensor h, at::Tensor positions, std::vector<SlotMeta> metas, bool prefill,
                       ForwardCapture* capture);
  double visionHook(const PromptPlan& plan, at::Tensor& h,
                    std::vector<SlotMeta>& metas, std::vector<std::int64_t>& positions);
  void checkCancel() const;
  void recomputeCache(int kv_length);
  int renumberCache();
  void recordTelemetry(int step);

  std::shared_ptr<VlmModel> model_;
  std::unique_ptr<Policy> policy_;
  KvCache cache_;
  std::vector<TokenInfo> tokens_;
  std::vector<int> visual_tokens_;
  at::Tensor prompt_pixels_;  // kept for recomputeCache
  at::Tensor prompt_grid_thw_;
  bool mrope_ = false;  // the model rotates by (t, h, w) triples (SlotMeta::mrope)
  std::vector<std::array<int, 3>> prompt_mrope_;
  int rope_delta_ = 0;
  int next_position_ = 0;  // the next token's place in the sequence
  int answer_start_ = 0;   // tokens_ index where the current answer's context starts (forgetFrom)
  int rope_shift_ = 0;     // next_position_ minus the next rotary position (pos.mode = renumber)
  int step_ = 0;
  CoreShare core_share_;  // fewer decode threads while other processes hold cores
  void shareCores();
  double embed_ms_ = 0;
  StepTelemetry telemetry_;
  std::atomic<bool> cancel_{false};
  KeepOverrides overrides_;
  ObserveOptions observe_;
  std::vector<LayerView> views_;  // [layer], of the last forward
  double observe_ms_ = 0;
};

}  // namespace hae
