// H2O: heavy hitters by attention accumulated over every query seen (all prompt rows in prefill,
// then each decode row), plus a recent window; budgets fixed from the prompt length. As in the
// reference, every KV head accumulates its own scores (its query heads summed) and keeps its own
// tokens, in per-head storage once the cache first exceeds the budget; `heads=shared` keeps one
// set per layer from head-averaged scores instead.
#include <cmath>

#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"

namespace hae {
namespace {

class H2oPolicy final : public Policy {
 public:
  explicit H2oPolicy(const KnobSet& k)
      : knobs_(k.asText()),
        heavy_ratio_(k.getFloat("heavy_ratio")),
        recent_ratio_(k.getFloat("recent_ratio")),
        per_head_(k.getChoice("heads") == "per_head") {}
  std::string name() const override { return "h2o"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  bool wantsPrefillTap(int) const override { return true; }  // all rows: the full column sums
  bool wantsDecodeTap(int) const override { return true; }

  void endPrefill(std::vector<AttentionTap>& taps, PolicyContext& ctx) override {
    const auto n = static_cast<double>(ctx.cache.layer(0).size());
    heavy_ = static_cast<int>(std::floor(heavy_ratio_ * n));
    recent_ = static_cast<int>(std::floor(recent_ratio_ * n));
    scores_.assign(ctx.cache.numLayers(), {});
    update(taps, ctx);
  }
  void afterDecodeStep(std::vector<AttentionTap>& taps, PolicyContext& ctx) override {
    update(taps, ctx);
  }

 private:
  // Keeps the heavy hitters and the recent window of one score vector (indices into it).
  Indices selection(const std::vector<float>& s) const {
    const int size = static_cast<int>(s.size());
    std::vector<bool> protect(size, false);
    for (int j = std::max(0, size - recent_); j < size; ++j) protect[j] = true;
    return topKWithProtected(s, heavy_ + recent_, protect);
  }

  // Scores are kept per token, not per slot, so slots that leave the cache for reasons of their
  // own (the engine's what-if force-evict, pinned slots a keep() retains) cannot shift them.
  static void accumulate(std::vector<float>& by_token, const std::vector<float>& a,
                         const std::vector<SlotMeta>& slots, std::size_t tokens) {
    by_token.resize(tokens, 0.0f);  // new tokens start at 0 and receive this step's attention
    for (std::size_t j = 0; j < a.size() && j < slots.size(); ++j) by_token[slots[j].token] += a[j];
  }
  static std::vector<float> slotScores(const std::vector<float>& by_token,
                                       const std::vector<SlotMeta>& slots) {
    std::vector<float> out(slots.size());
    for (std::size_t j = 0; j < slots.size(); ++j) out[j] = by_token[slots[j].token];
    return out;
  }

  void update(std::vector<AttentionTap>& taps, PolicyContext& ctx) {
    const std::size_t tokens = ctx.tokens.size();
    for (int l = 0; l < ctx.cache.numLayers(); ++l) {
      LayerCache& lc = ctx.cache.layer(l);
      auto& per_head = scores_[l];  // one vector per KV head (one in total when shared)
      if (!per_head_) {
        per_head.resize(1);
        accumulate(per_head[0], toFloats(taps[l].col_sum), lc.slots(), tokens);
        if (lc.size() <= heavy_ + recent_) continue;
        const auto s = slotScores(per_head[0], lc.slots());
        keepSlots(ctx, l, selection(s), s, l);
      } else if (!lc.perHead()) {
        // Still one slot axis: accumulate per head until the budget is first exceeded.
        const auto votes = headVotes(taps[l], lc.size());
        per_head.resize(votes.size());
        for (std::size_t h = 0; h < votes.size(); ++h)
          accumulate(per_head[h], votes[h], lc.slots(), tokens);
        if (lc.size() <= heavy_ + recent_) continue;
        std::vector<Indices> keep;
        std::vector<std::vector<float>> slot_scores;
        for (auto& s : per_head) slot_scores.push_back(slotScores(s, lc.slots()));
        for (auto& s : slot_scores) keep.push_back(selection(s));
        keepSlotsPerHead(ctx, l, keep, slot_scores);
      } else {
        for (int h = 0; h < lc.numHeads(); ++h) {
          auto& by_token = per_head[static_cast<std::size_t>(h)];
          accumulate(by_token,
                     toFloats(taps[l].ragged_head_col_sum.at(static_cast<std::size_t>(h))),
                     lc.headSlots(h), tokens);
          if (lc.headSize(h) <= heavy_ + recent_) continue;
          const auto s = slotScores(by_token, lc.headSlots(h));
          const Indices keep = selection(s);
          std::size_t k = 0;
          for (int i = 0; i < lc.headSize(h); ++i) {
            if (k < keep.size() && keep[k] == i) {
              ++k;
              continue;
            }
            if (!lc.headSlots(h)[i].pinned) recordEvent(ctx, EventKind::Evict, l, lc.headSlots(h)[i], s[i], h);
          }
          lc.keepHead(h, keep);
        }
      }
    }
  }
  std::map<std::string, std::string> knobs_;
  double heavy_ratio_, recent_ratio_;
  bool per_head_;
  int heavy_ = 0, recent_ = 0;
  std::vector<std::vector<std::vector<float>>> scores_;  // per layer, per KV head, per token
};

}  // namespace

std::unique_ptr<Policy> makeH2oPolicy(const KnobSet& knobs) {
  return std::make_unique<H2oPolicy>(knobs);
}

}  // namespace hae
