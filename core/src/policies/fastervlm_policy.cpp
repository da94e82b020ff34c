// FasterVLM (stage V): per image, the patches the vision tower's [CLS] token attends to most in
// the feature layer (heads averaged; a Phi-3.5-V token sums its 2x2 patches); needs a CLS
// token, so SmolVLM (SigLIP) is refused by name, as is any family whose tower attention the
// engine cannot tap.
#include "policy_factories.h"
#include "vision_pruner.h"

namespace hae {
namespace {

class FasterVlmPolicy final : public VisionPruner {
 public:
  explicit FasterVlmPolicy(const KnobSet& k) : VisionPruner("fastervlm", k) {}
  bool wantsTowerAttention() const override { return true; }

 protected:
  Indices selectSpan(const VisionInput& in, const Span& span, PolicyContext&, VisionDecision&,
                     std::vector<float>& scores) override {
    scores = towerScores(in, span, true);
    return fastvKeep(scores, span.keep);
  }
};

}  // namespace

std::unique_ptr<Policy> makeFasterVlmPolicy(const KnobSet& knobs) {
  return std::make_unique<FasterVlmPolicy>(knobs);
}

}  // namespace hae
