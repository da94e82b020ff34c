#include "policy_util.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "../models/vlm_model.h"
#include "hae/error.h"

namespace hae {

std::vector<float> toFloats(const at::Tensor& t) {
  if (!t.defined()) return {};
  auto c = t.to(at::kFloat).cpu().contiguous();
  const float* p = c.data_ptr<float>();
  return {p, p + c.numel()};
}

Indices observationWindow(const std::vector<SlotMeta>& rows, int window) {
  Indices q;
  const auto n = static_cast<std::int64_t>(rows.size());
  for (std::int64_t i = std::max<std::int64_t>(0, n - window); i < n; ++i) q.push_back(i);
  return q;
}

Indices queryRows(const std::vector<SlotMeta>& rows, const std::string& set) {
  Indices q;
  const auto n = static_cast<std::int64_t>(rows.size());
  if (n == 0) return q;
  if (set == "last-token") return {n - 1};
  if (set == "all-text") {
    for (std::int64_t i = 0; i < n; ++i)
      if (rows[i].modality == Modality::Text) q.push_back(i);
    return q;
  }
  std::int64_t last_visual = -1;
  for (std::int64_t i = 0; i < n; ++i)
    if (rows[i].modality == Modality::Visual) last_visual = i;
  for (std::int64_t i = last_visual + 1; i < n; ++i) q.push_back(i);
  return q;
}

std::vector<Indices> visualSpans(const std::vector<SlotMeta>& slots,
                                 const std::vector<TokenInfo>& tokens, bool per_image,
                                 bool separators) {
  std::vector<Indices> spans;
  int current = -2;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(slots.size()); ++i) {
    const SlotMeta& s = slots[i];
    const bool candidate =
        s.modality == Modality::Visual ||
        (separators && s.modality == Modality::Separator &&
         s.token < static_cast<int>(tokens.size()) && tokens[s.token].image >= 0);
    if (!candidate) continue;
    const int image =
        per_image && s.token < static_cast<int>(tokens.size()) ? tokens[s.token].image : 0;
    if (spans.empty() || image != current) spans.emplace_back(), current = image;
    spans.back().push_back(i);
  }
  return spans;
}

void recordEvent(PolicyContext& ctx, EventKind kind, int layer, const SlotMeta& slot, float score,
                 int head) {
  PolicyEvent e;
  e.kind = kind;
  e.step = ctx.step;
  e.layer = layer;
  e.head = head;
  // The token's place in the sequence (a slot's rotary position differs after renumbering).
  e.position = slot.token < static_cast<int>(ctx.tokens.size()) ? ctx.tokens[slot.token].position
                                                                 : slot.position;
  e.modality = slot.modality;
  e.score = score;
  ctx.events.push_back(e);
}

void keepSlots(PolicyContext& ctx, int layer, const Indices& keep, const std::vector<float>& scores,
               int event_layer) {
  LayerCache& lc = ctx.cache.layer(layer);
  if (static_cast<int>(keep.size()) == lc.size()) return;
  std::size_t k = 0;
  for (int i = 0; i < lc.size(); ++i) {
    if (k < keep.size() && keep[k] == i) {
      ++k;
      continue;
    }
    if (event_layer != -2 && !lc.slots()[i].pinned)
      recordEvent(ctx, EventKind::Evict, event_layer, lc.slots()[i],
                  i < static_cast<int>(scores.size()) ? scores[i] : 0);
  }
  lc.keep(keep);
}

std::vector<std::vector<float>> headVotes(const AttentionTap& tap, std::int64_t n) {
  const auto flat = toFloats(tap.head_col_sum);
  const auto heads = static_cast<std::int64_t>(tap.head_col_sum.size(0));
  std::vector<std::vector<float>> votes(static_cast<std::size_t>(heads));
  for (std::int64_t h = 0; h < heads; ++h)
    votes[h].assign(flat.begin() + h * n, flat.begin() + (h + 1) * n);
  return votes;
}

void keepSlotsPerHead(PolicyContext& ctx, int layer, const std::vector<Indices>& keep,
                      const std::vector<std::vector<float>>& votes) {
  LayerCache& lc = ctx.cache.layer(layer);
  for (std::size_t h = 0; h < keep.size(); ++h) {
    std::size_t k = 0;
    for (int i = 0; i < lc.size(); ++i) {
      if (k < keep[h].size() && keep[h][k] == i) {
        ++k;
        continue;
      }
      if (!lc.slots()[i].pinned)
        recordEvent(ctx, EventKind::Evict, layer, lc.slots()[i], votes[h][i], static_cast<int>(h));
    }
  }
  lc.splitHeads(keep);
}

void checkLayer(const PolicyContext& ctx, const std::string& policy, const std::string& knob,
                int layer) {
  if (layer < 0 || layer >= ctx.spec.num_layers)
    throw Error(fmt::format(
        "policy '{}': knob '{}' = {} is not a layer of this model; valid: int in [0, {}]", policy,
        knob, layer, ctx.spec.num_layers - 1));
}

}  // namespace hae
