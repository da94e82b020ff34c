// Random control: a seeded subset of the prompt (or of its visual tokens), drawn once at the end
// of prefill and applied to every layer, so a method must beat chance at the same budget.
#include <algorithm>
#include <cmath>

#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"

namespace hae {
namespace {

class RandomPolicy final : public Policy {
 public:
  explicit RandomPolicy(const KnobSet& k)
      : knobs_(k.asText()),
        ratio_(k.getFloat("keep_ratio")),
        visual_(k.getChoice("scope") == "visual"),
        seed_(static_cast<std::uint64_t>(k.getInt("seed"))) {}
  std::string name() const override { return "random"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }

  void endPrefill(std::vector<AttentionTap>&, PolicyContext& ctx) override {
    const auto& slots = ctx.cache.layer(0).slots();
    Indices cand, keep;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(slots.size()); ++i)
      (!visual_ || slots[i].modality == Modality::Visual ? cand : keep).push_back(i);
    const auto k =
        static_cast<std::int64_t>(std::llround(ratio_ * static_cast<double>(cand.size())));
    for (auto c : randomSubset(static_cast<std::int64_t>(cand.size()), k, seed_))
      keep.push_back(cand[c]);
    std::sort(keep.begin(), keep.end());
    // Every layer holds the same prompt slots here, so one draw serves all; one event per token.
    for (int l = 0; l < ctx.cache.numLayers(); ++l) keepSlots(ctx, l, keep, {}, l == 0 ? -1 : -2);
  }

 private:
  std::map<std::string, std::string> knobs_;
  double ratio_;
  bool visual_;
  std::uint64_t seed_;
};

}  // namespace

std::unique_ptr<Policy> makeRandomPolicy(const KnobSet& knobs) {
  return std::make_unique<RandomPolicy>(knobs);
}

}  // namespace hae
