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
      const auto votes = headVotes(taps[l], n);
      keepSlotsPerHead(ctx, l, adaKvKeep(votes, budget, window_, kernel_, max_pool_, alpha_),
                       votes);
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
