// SnapKV and PyramidKV: at the end of prefill, the last `window` prompt queries vote for the
// prefix keys, the votes are pooled along the sequence, and each layer keeps the top prefix plus
// the whole window. As in the reference, every KV head ranks by its own votes (its query heads
// summed, the kvpress GQA reduction) and keeps its own tokens, the same count per head, in
// per-head storage; `heads=shared` ranks by the head mean and keeps one set per layer instead.
// PyramidKV only changes the per-layer budget. Decode then just appends.
#include <cmath>

#include "../models/vlm_model.h"
#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"

namespace hae {
namespace {

class SnapKvPolicy final : public Policy {
 public:
  SnapKvPolicy(const KnobSet& k, bool pyramid)
      : knobs_(k.asText()),
        pyramid_(pyramid),
        budget_(k.getInt("budget")),
        ratio_(k.getFloat("keep_ratio")),
        window_(k.getInt("window")),
        kernel_(k.getInt("kernel")),
        max_pool_(k.getChoice("pooling") == "max"),
        per_head_(k.getChoice("heads") == "per_head"),
        beta_(pyramid ? k.getFloat("beta") : 20.0) {}
  std::string name() const override { return pyramid_ ? "pyramidkv" : "snapkv"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  bool wantsPrefillTap(int) const override { return true; }
  std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const override {
    return observationWindow(rows, window_);
  }

  void endPrefill(std::vector<AttentionTap>& taps, PolicyContext& ctx) override {
    const int layers = ctx.cache.numLayers();
    const std::int64_t n = ctx.cache.layer(0).size();
    const std::int64_t budget =
        ratio_ > 0 ? static_cast<std::int64_t>(std::llround(ratio_ * n)) : budget_;
    const auto budgets = pyramid_ ? pyramidBudgets(n, budget, window_, beta_, layers)
                                  : std::vector<std::int64_t>(layers, budget);
    for (int l = 0; l < layers; ++l) {
      if (!per_head_) {
        const auto votes = toFloats(taps[l].col_sum);
        keepSlots(ctx, l, snapKvKeep(votes, budgets[l], window_, kernel_, max_pool_), votes, l);
        continue;
      }
      if (n <= budgets[l]) continue;
      const auto votes = headVotes(taps[l], n);
      std::vector<Indices> keep;
      for (const auto& v : votes) keep.push_back(snapKvKeep(v, budgets[l], window_, kernel_, max_pool_));
      keepSlotsPerHead(ctx, l, keep, votes);
    }
  }

 private:
  std::map<std::string, std::string> knobs_;
  bool pyramid_;
  std::int64_t budget_;
  double ratio_;
  std::int64_t window_;
  int kernel_;
  bool max_pool_;
  bool per_head_;
  double beta_;
};

}  // namespace

std::unique_ptr<Policy> makeSnapKvPolicy(const KnobSet& knobs, bool pyramid) {
  return std::make_unique<SnapKvPolicy>(knobs, pyramid);
}

}  // namespace hae
