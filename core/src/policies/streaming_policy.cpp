// StreamingLLM: attention sinks plus a recent window, by position only, in every layer alike.
// Original positions are kept (no pos-shift re-rotation), as kvpress does without
// KeyRerotationPress.
#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"

namespace hae {
namespace {

class StreamingPolicy final : public Policy {
 public:
  explicit StreamingPolicy(const KnobSet& k)
      : knobs_(k.asText()), sink_(k.getInt("sink")), recent_(k.getInt("recent")) {}
  std::string name() const override { return "streaming"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  void endPrefill(std::vector<AttentionTap>&, PolicyContext& ctx) override { enforce(ctx); }
  void afterDecodeStep(std::vector<AttentionTap>&, PolicyContext& ctx) override { enforce(ctx); }

 private:
  void enforce(PolicyContext& ctx) {
    for (int l = 0; l < ctx.cache.numLayers(); ++l) {
      const int n = ctx.cache.layer(l).size();
      if (n > sink_ + recent_) keepSlots(ctx, l, streamingKeep(n, sink_, recent_), {}, l);
    }
  }
  std::map<std::string, std::string> knobs_;
  int sink_, recent_;
};

}  // namespace

std::unique_ptr<Policy> makeStreamingPolicy(const KnobSet& knobs) {
  return std::make_unique<StreamingPolicy>(knobs);
}

}  // namespace hae
