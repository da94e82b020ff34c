#pragma once
// Pieces every policy shares on the torch side: copying a tap's scores out once per step,
// choosing query rows, applying a keep-set to a layer with one gather, and recording events.
#include <functional>
#include <string>
#include <vector>

#include "policy.h"
#include "selection.h"

namespace hae {

// One device-to-host copy of a 1-D score tensor; empty for an undefined tensor.
std::vector<float> toFloats(const at::Tensor& t);
// Rows of a prefill chunk: text after the last visual row ("text-after-image"), every text row
// ("all-text") or the last row ("last-token"). Empty when the set is empty.
Indices queryRows(const std::vector<SlotMeta>& rows, const std::string& set);
// The last `window` rows: SnapKV's observation window (also Ada-KV's and PyramidKV's).
Indices observationWindow(const std::vector<SlotMeta>& rows, int window);
// Spans of visual slots (split at image changes) among `slots`, as indices into it; with
// `separators` true, separator slots inside an image count as candidates too.
std::vector<Indices> visualSpans(const std::vector<SlotMeta>& slots,
                                 const std::vector<TokenInfo>& tokens, bool per_image,
                                 bool separators);

void recordEvent(PolicyContext& ctx, EventKind kind, int layer, const SlotMeta& slot, float score,
                 int head = -1);
// Keeps `keep` (ascending) in `layer` with one gather, recording an Evict event for every
// dropped slot with its score in `scores` (indexed by slot; may be empty).
void keepSlots(PolicyContext& ctx, int layer, const Indices& keep, const std::vector<float>& scores,
               int event_layer);
// Per KV head, the votes of a tap's head_col_sum ([kv_heads, n]: each KV group's query heads
// summed, the kvpress GQA reduction) as one vector of n per head.
std::vector<std::vector<float>> headVotes(const AttentionTap& tap, std::int64_t n);
// Splits `layer` into per-head storage keeping keep[h] (ascending) in head h, recording an Evict
// event (with the head and its votes[h] score) for every slot a head drops.
void keepSlotsPerHead(PolicyContext& ctx, int layer, const std::vector<Indices>& keep,
                      const std::vector<std::vector<float>>& votes);
// Throws hae::Error naming `knob` when `layer` is not a layer of this model.
void checkLayer(const PolicyContext& ctx, const std::string& policy, const std::string& knob,
                int layer);

}  // namespace hae
