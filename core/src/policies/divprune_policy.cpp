// DivPrune (stage V): per image, greedy max-min diversity over the projected visual embeddings
// with cosine distance, as the reference prunes LLaVA's mm_projector output; no attention is used,
// so it runs on every family. The rule gives no per-token score, so the Evict events carry 0.
#include <ATen/ATen.h>

#include "policy_factories.h"
#include "vision_pruner.h"
#include "visual_selection.h"

namespace hae {
namespace {

class DivPrunePolicy final : public VisionPruner {
 public:
  explicit DivPrunePolicy(const KnobSet& k) : VisionPruner("divprune", k) {}

 protected:
  Indices selectSpan(const VisionInput& in, const Span& span, PolicyContext&, VisionDecision&,
                     std::vector<float>&) override {
    auto distance = cosineMatrix(spanEmbeds(in, span));
    for (float& d : distance) d = 1.0f - d;
    return divPruneKeep(distance, static_cast<std::int64_t>(span.rows.size()), span.keep);
  }
};

}  // namespace

std::unique_ptr<Policy> makeDivPrunePolicy(const KnobSet& knobs) {
  return std::make_unique<DivPrunePolicy>(knobs);
}

}  // namespace hae
