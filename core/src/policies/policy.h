#pragma once
// The eviction policy interface. The engine calls the hooks; a policy reads attention through
// taps it asked for and changes the cache through LayerCache::keep / setAttended / setBinned, in
// one batch per hook so compaction is one gather. Policies record what they did as PolicyEvents.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../cache/kv_cache.h"
#include "../text/attention_tap.h"
#include "catalog.h"
#include "hae/knobs.h"
#include "hae/telemetry.h"

namespace hae {

struct ModelSpec;

struct PolicyContext {
  KvCache& cache;
  const ModelSpec& spec;
  const std::vector<TokenInfo>& tokens;  // prompt tokens, then generated ones
  int step = 0;                          // 0 = prefill
  std::vector<PolicyEvent>& events;
  std::vector<LayerProbe>& probes;       // filled only by policies asked for probes
  std::vector<MergedToken>* merged = nullptr;  // the V hook's merged tokens (VisionZip)
  // In afterPrefillLayer, for a policy whose wantsPrefillHidden(layer) is true: the layer's output
  // rows [rows, hidden] after the model's final norm.
  const at::Tensor* hidden = nullptr;
  // In afterPrefillLayer: the layer's output rows [rows, hidden] (the residual stream, before the
  // final norm). A policy that returns kept rows may also give some of them a new hidden state
  // here (row index into `rows`, [hidden]): SparseVLM's recycled tokens, which the layers after
  // compute from. The engine applies them before dropping rows, and clears the list per layer.
  const at::Tensor* output = nullptr;
  std::vector<std::pair<std::int64_t, at::Tensor>> replace;
};

// What a vision-side (stage V) policy sees in the engine's V hook: the decoder's input rows of the
// prompt after the vision tower and projector, before any decoder layer runs.
struct VisionInput {
  at::Tensor embeds;                  // [n, hidden]; image rows hold the projector's output
  const std::vector<SlotMeta>& rows;  // one per row: position, modality, token index
  // [n] fp32 when asked for: the attention each image row's patch(es) received in the tower's
  // feature layer (CLS row for CLIP, mean over query rows without CLS); 0 on other rows.
  // Undefined when the family exposes none; `tower_missing` then says why.
  at::Tensor tower_attention;
  bool tower_has_cls = false;  // the CLS row (CLIP); false: mean over query rows (SigLIP)
  std::string tower_missing;
};

struct VisionDecision {
  std::vector<std::int64_t> keep;  // rows kept, ascending
  // Kept rows whose input embedding is replaced ([hidden] each): VisionZip's merged tokens.
  std::vector<std::pair<std::int64_t, at::Tensor>> replace;
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string name() const = 0;
  virtual std::map<std::string, std::string> settings() const = 0;

  // The V hook (stage V): called once per prefill, before the decoder runs, when this is true.
  // Rows not in the decision's keep never enter the decoder, so no layer computes or caches them;
  // with renumbersPositions() the kept rows take positions 0..n-1.
  virtual bool decidesOnVision() const { return false; }
  virtual bool wantsTowerAttention() const { return false; }
  virtual std::optional<VisionDecision> selectVisionRows(const VisionInput& /*in*/,
                                                         PolicyContext& /*ctx*/) {
    return std::nullopt;
  }

  // Prefill: attention taps the policy wants after a layer, over the query rows it chooses
  // (`rows` are the slots of the tokens this forward computes).
  virtual bool wantsPrefillTap(int /*layer*/) const { return false; }
  virtual std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const {
    (void)rows;
    return {};
  }
  // Also hand afterPrefillLayer the layer's output rows (final-normed) through ctx.hidden.
  virtual bool wantsPrefillHidden(int /*layer*/) const { return false; }
  // Extra tap options (probabilities, peeking at masked slots) for a tap the policy asked for.
  virtual void configureTap(int /*layer*/, bool /*prefill*/, AttentionTap& /*tap*/) const {}
  // After `layer` ran in prefill. Returning rows (indices into `rows`) drops every other row's
  // hidden state before later layers run; the caches of layers <= `layer` keep what they hold
  // unless the policy gathers them too (HAE does, to broadcast its kept set; FastV does not).
  virtual std::optional<std::vector<std::int64_t>> afterPrefillLayer(int /*layer*/,
                                                                     const std::vector<SlotMeta>& /*rows*/,
                                                                     AttentionTap* /*tap*/,
                                                                     PolicyContext& /*ctx*/) {
    return std::nullopt;
  }
  // True: once the policy drops prompt rows in prefill, the kept tokens take positions 0..n-1 in
  // the layers after, every cache's keys are re-rotated to them at the end of prefill, and decoding
  // continues at n (HAE's pos.mode = renumber). The policy must keep one token set in every layer.
  virtual bool renumbersPositions() const { return false; }
  // After the whole prompt is in the cache; taps[layer] holds the taps requested for prefill.
  virtual void endPrefill(std::vector<AttentionTap>& /*taps*/, PolicyContext& /*ctx*/) {}

  // Decode: which layers' last-token attention the policy needs each step.
  virtual bool wantsDecodeTap(int /*layer*/) const { return false; }
  virtual void afterDecodeStep(std::vector<AttentionTap>& /*taps*/, PolicyContext& /*ctx*/) {}
};

// Creates a policy by name; unknown names and invalid knob values throw hae::Error naming the
// knob and its valid range.
std::unique_ptr<Policy> makePolicy(const std::string& name, const std::map<std::string, std::string>& knobs);

}  // namespace hae
