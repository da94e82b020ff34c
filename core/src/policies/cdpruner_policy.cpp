// CDPruner (stage V): per image, a DPP kernel L = diag(r) S diag(r) over the visual tokens, S the
// cosine similarity of the projected embeddings and r their relevance to the instruction, and the
// greedy MAP selection (incremental Cholesky) of the kept set: the most diverse tokens given the
// question. Relevance as the reference computes it: minus the mean cosine to the instruction
// tokens, min-max normalised; the instruction tokens here are the prompt's text rows after the
// image (their decoder input embeddings), where the reference embeds the instruction with CLIP's
// text tower (README). Without text after the image every token is equally relevant.
#include <ATen/ATen.h>

#include "policy_factories.h"
#include "policy_util.h"
#include "vision_pruner.h"
#include "visual_selection.h"

namespace hae {
namespace {

class CdPrunerPolicy final : public VisionPruner {
 public:
  explicit CdPrunerPolicy(const KnobSet& k) : VisionPruner("cdpruner", k) {}

 protected:
  Indices selectSpan(const VisionInput& in, const Span& span, PolicyContext&, VisionDecision&,
                     std::vector<float>&) override {
    const auto embeds = spanEmbeds(in, span);
    const auto m = static_cast<std::int64_t>(span.rows.size());
    std::vector<double> relevance(m, 1.0);
    const Indices text = queryRows(in.rows, "text-after-image");
    Indices instruction;
    for (auto r : text)
      if (in.rows[r].modality == Modality::Text) instruction.push_back(r);
    if (!instruction.empty()) {
      auto t = in.embeds.index_select(0, at::tensor(instruction, at::kLong).to(in.embeds.device()))
                   .to(at::kFloat);
      t = t / t.norm(2, {1}, true).clamp_min(1e-12);
      auto v = embeds / embeds.norm(2, {1}, true).clamp_min(1e-12);
      const auto rel = toFloats((-at::matmul(v, t.t())).mean(1));
      relevance.assign(rel.begin(), rel.end());
    }
    return dppGreedyKeep(conditionalKernel(cosineMatrix(embeds), relevance), m, span.keep);
  }
};

}  // namespace

std::unique_ptr<Policy> makeCdPrunerPolicy(const KnobSet& knobs) {
  return std::make_unique<CdPrunerPolicy>(knobs);
}

}  // namespace hae
