// Ada-KV (with SnapKV scoring) at the end of prefill: the layer's budget is shared out across
// KV heads by their pooled window votes (with a floor), and each head keeps its own slots in
// per-head storage, so the memory of what a head drops is really freed (kvpress only masks).
// Decode appends to every head; attention then runs per KV head (LayerCache::perHead).
#include <cmath>

#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"

namespace hae {
namespace {

class AdaKvPolicy final : public Policy {
 public:
  explicit AdaKvPolicy(const KnobSet& k)
      : knobs_(k.asText()),
        budget_(k.getInt("budget")),
        ratio_(k.getFloat("keep_ratio")),
        window_(k.getInt("window")),
        kernel_(k.getInt("kernel")),
        max_pool_(k.getChoice("pooling") == "max"),
        alpha_(k.getFloat("floor")) {}
  std::string name() const override { return "adakv"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  bool wantsPrefillTap(int) const override { return true; }
  std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const override {
    return observationWindow(rows, window_);
  }

  void endPrefill(std::vector<AttentionTap>& taps, PolicyContext& ctx) override {
    const std::int64_t n = ctx.cache.layer(0).size();
    const std::int64_t budget =
        ratio_ > 0 ? static_cast<std::int64_t>(std::llround(ratio_ * n)) : budget_;
    if (n <= budget) return;
    for (int l = 0; l < ctx.cache.numLayers(); ++l) {
      LayerCache& lc = ctx.cache.layer(l);
      // head_col_sum sums each KV group's query heads: the same ranking as kvpress's group mean.
      const auto flat = toFloats(taps[l].head_col_sum);
      const auto heads = static_cast<std::int64_t>(taps[l].head_col_sum.size(0));
      std::vector<std::vector<float>> votes(heads);
      for (std::int64_t h = 0; h < heads; ++h)
        votes[h].assign(flat.begin() + h * n, flat.begin() + (h + 1) * n);
      const auto keep = adaKvKeep(votes, budget, window_, kernel_, max_pool_, alpha_);
      for (std::int64_t h = 0; h < heads; ++h) {
        std::size_t k = 0;
        for (std::int64_t i = 0; i < n; ++i) {
          if (k < keep[h].size() && keep[h][k] == i) {
            ++k;
            continue;
          }
          recordEvent(ctx, EventKind::Evict, l, lc.slots()[i], votes[h][i], static_cast<int>(h));
        }
      }
      lc.splitHeads(keep);
    }
  }

 private:
  std::map<std::string, std::string> knobs_;
  std::int64_t budget_;
  double ratio_;
  std::int64_t window_;
  int kernel_;
  bool max_pool_;
  double alpha_;
};

}  // namespace

std::unique_ptr<Policy> makeAdaKvPolicy(const KnobSet& knobs) {
  return std::make_unique<AdaKvPolicy>(knobs);
}

}  // namespace hae
