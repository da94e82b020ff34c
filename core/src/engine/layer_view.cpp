#include "layer_view.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "hae/error.h"

namespace hae {

namespace {

std::vector<int> tokensOf(const std::vector<SlotMeta>& slots) {
  std::vector<int> t(slots.size());
  for (std::size_t i = 0; i < slots.size(); ++i) t[i] = slots[i].token;
  return t;
}

}  // namespace

void observeLayer(const LayerCache& cache, int num_tokens, const ObserveOptions& options,
                  const AttentionTap* tap, LayerView& view) {
  view = {};
  view.per_head = cache.perHead();
  const int groups = view.per_head ? cache.numHeads() : 1;
  if (options.visibility) {
    view.token_view.assign(groups, std::vector<TokenView>(num_tokens, TokenView::Absent));
    if (view.per_head) {
      // Per-head storage attends every slot a head holds (no mask), so a held slot is visible.
      for (int h = 0; h < groups; ++h)
        for (const SlotMeta& s : cache.headSlots(h))
          if (s.token >= 0 && s.token < num_tokens) view.token_view[h][s.token] = TokenView::Visible;
    } else {
      const auto& slots = cache.slots();
      for (int i = 0; i < cache.size(); ++i) {
        const int t = slots[i].token;
        if (t < 0 || t >= num_tokens) continue;
        view.token_view[0][t] = cache.attended(i) ? TokenView::Visible
                                : slots[i].binned ? TokenView::Binned
                                                  : TokenView::Masked;
      }
    }
  }
  if (!options.attention) return;
  if (!tap) throw Error("engine: an observed layer ran without its attention tap");
  if (view.per_head) {
    if (static_cast<int>(tap->ragged_last_row.size()) != groups)
      throw Error(fmt::format("engine: {} per-head attention rows for {} KV heads",
                              tap->ragged_last_row.size(), groups));
    for (int h = 0; h < groups; ++h) {
      view.slot_token.push_back(tokensOf(cache.headSlots(h)));
      view.probs.push_back(tap->ragged_last_row[h].to(at::kFloat).cpu().contiguous());
    }
  } else {
    if (!tap->last_row.defined() || tap->last_row.size(1) != cache.size())
      throw Error("engine: the observed attention row does not cover the layer's slots");
    view.slot_token.push_back(tokensOf(cache.slots()));
    view.probs.push_back(tap->last_row.to(at::kFloat).cpu().contiguous());
  }
}

std::vector<StepAttention> visualAttention(const std::vector<LayerView>& views,
                                           const std::vector<int>& visual_tokens, int num_tokens) {
  std::vector<int> visual_index(num_tokens, -1);
  for (std::size_t v = 0; v < visual_tokens.size(); ++v)
    if (visual_tokens[v] >= 0 && visual_tokens[v] < num_tokens) visual_index[visual_tokens[v]] = static_cast<int>(v);
  const auto V = static_cast<std::int64_t>(visual_tokens.size());
  std::vector<StepAttention> out(views.size());
  for (std::size_t l = 0; l < views.size(); ++l) {
    const LayerView& view = views[l];
    StepAttention& a = out[l];
    for (const auto& p : view.probs) a.heads += static_cast<int>(p.size(0));
    a.weights.assign(static_cast<std::size_t>(a.heads * V), 0.0f);
    int head0 = 0;  // the first query head of this group
    for (std::size_t g = 0; g < view.probs.size(); ++g) {
      const at::Tensor& p = view.probs[g];  // [group heads, slots]
      const float* w = p.data_ptr<float>();
      const auto slots = p.size(1);
      const auto& tok = view.slot_token[g];
      for (std::int64_t j = 0; j < slots && j < static_cast<std::int64_t>(tok.size()); ++j) {
        const int t = tok[j];
        if (t < 0 || t >= num_tokens || visual_index[t] < 0) continue;
        for (std::int64_t h = 0; h < p.size(0); ++h)
          a.weights[(head0 + h) * V + visual_index[t]] = w[h * slots + j];
      }
      head0 += static_cast<int>(p.size(0));
    }
  }
  return out;
}

}  // namespace hae
