// TOVA: after every forward (the prefill, then each decode step), a layer over its budget keeps
// the tokens the last query attends to most, heads averaged; the last token is always kept.
#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"

namespace hae {
namespace {

class TovaPolicy final : public Policy {
 public:
  explicit TovaPolicy(const KnobSet& k) : knobs_(k.asText()), budget_(k.getInt("budget")) {}
  std::string name() const override { return "tova"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  bool wantsPrefillTap(int) const override { return true; }
  std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const override {
    return queryRows(rows, "last-token");
  }
  bool wantsDecodeTap(int) const override { return true; }
  void endPrefill(std::vector<AttentionTap>& taps, PolicyContext& ctx) override {
    apply(taps, ctx);
  }
  void afterDecodeStep(std::vector<AttentionTap>& taps, PolicyContext& ctx) override {
    apply(taps, ctx);
  }

 private:
  void apply(std::vector<AttentionTap>& taps, PolicyContext& ctx) {
    for (int l = 0; l < ctx.cache.numLayers(); ++l) {
      const int size = ctx.cache.layer(l).size();
      if (size <= budget_) continue;
      const auto s = toFloats(taps[l].col_sum);
      std::vector<bool> protect(size, false);
      protect[size - 1] = true;
      keepSlots(ctx, l, topKWithProtected(s, budget_, protect), s, l);
    }
  }
  std::map<std::string, std::string> knobs_;
  int budget_;
};

}  // namespace

std::unique_ptr<Policy> makeTovaPolicy(const KnobSet& knobs) {
  return std::make_unique<TovaPolicy>(knobs);
}

}  // namespace hae
