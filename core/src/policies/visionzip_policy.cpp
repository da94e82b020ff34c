// VisionZip (stage V): per image, the dominant patches by the tower's [CLS] attention (SigLIP,
// without a CLS token: the mean attention each patch receives, as VisPruner does), then a few
// contextual tokens: targets evenly spaced among the rest, every other remaining token merged
// into its most similar target as target + mean(members), the reference's rule. A merged token is
// a new KV entry at its target's position; StepTelemetry::merged lists the patches it stands for.
// Differences from the reference (README): similarity and merge act on the projected embeddings
// (the reference uses the tower's keys and merges before the projector).
#include <ATen/ATen.h>

#include <cmath>

#include "policy_factories.h"
#include "vision_pruner.h"
#include "visual_selection.h"

namespace hae {
namespace {

class VisionZipPolicy final : public VisionPruner {
 public:
  explicit VisionZipPolicy(const KnobSet& k)
      : VisionPruner("visionzip", k), contextual_(k.getFloat("contextual")) {}
  bool wantsTowerAttention() const override { return true; }

 protected:
  Indices selectSpan(const VisionInput& in, const Span& span, PolicyContext& ctx,
                     VisionDecision& decision, std::vector<float>& scores) override {
    scores = towerScores(in, span, false);
    const auto m = static_cast<std::int64_t>(span.rows.size());
    if (span.keep >= m) return fastvKeep(scores, m);
    const auto contextual = std::min<std::int64_t>(
        span.keep,
        static_cast<std::int64_t>(std::llround(contextual_ * static_cast<double>(span.keep))));
    const auto embeds = spanEmbeds(in, span);
    const VisionZipPlan plan =
        visionZipPlan(scores, cosineMatrix(embeds), span.keep - contextual, contextual);
    Indices kept = plan.dominant;
    for (std::size_t t = 0; t < plan.targets.size(); ++t) {
      const auto target = plan.targets[t];
      kept.push_back(target);
      MergedToken merged{in.rows[span.rows[target]].position,
                         {in.rows[span.rows[target]].position}};
      for (auto member : plan.members[t])
        merged.members.push_back(in.rows[span.rows[member]].position);
      if (ctx.merged) ctx.merged->push_back(merged);
      if (plan.members[t].empty()) continue;
      auto index = at::tensor(plan.members[t], at::kLong).to(embeds.device());
      decision.replace.push_back(
          {span.rows[target], embeds[target] + embeds.index_select(0, index).mean(0)});
    }
    std::sort(kept.begin(), kept.end());
    return kept;
  }

 private:
  double contextual_;
};

}  // namespace

std::unique_ptr<Policy> makeVisionZipPolicy(const KnobSet& knobs) {
  return std::make_unique<VisionZipPolicy>(knobs);
}

}  // namespace hae
