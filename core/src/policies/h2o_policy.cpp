// H2O: heavy hitters by attention accumulated over every query seen (all prompt rows in prefill,
// then each decode row), plus a recent window; budgets fixed from the prompt length. Scores are
// head-averaged per layer, so all KV heads of a layer keep one set (the reference keeps per-head
// sets; per-head storage is what Ada-KV would need).
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
        recent_ratio_(k.getFloat("recent_ratio")) {}
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
  void update(std::vector<AttentionTap>& taps, PolicyContext& ctx) {
    for (int l = 0; l < ctx.cache.numLayers(); ++l) {
      const int size = ctx.cache.layer(l).size();
      auto& s = scores_[l];
      s.resize(size, 0.0f);  // new slots start at 0 and receive this step's attention below
      const auto a = toFloats(taps[l].col_sum);
      for (std::size_t j = 0; j < a.size() && j < s.size(); ++j) s[j] += a[j];
      if (size <= heavy_ + recent_) continue;
      std::vector<bool> protect(size, false);
      for (int j = std::max(0, size - recent_); j < size; ++j) protect[j] = true;
      const Indices keep = topKWithProtected(s, heavy_ + recent_, protect);
      keepSlots(ctx, l, keep, s, l);
      remapScores(s, keep);
    }
  }
  std::map<std::string, std::string> knobs_;
  double heavy_ratio_, recent_ratio_;
  int heavy_ = 0, recent_ = 0;
  std::vector<std::vector<float>> scores_;  // per layer, per slot
};

}  // namespace

std::unique_ptr<Policy> makeH2oPolicy(const KnobSet& knobs) {
  return std::make_unique<H2oPolicy>(knobs);
}

}  // namespace hae
