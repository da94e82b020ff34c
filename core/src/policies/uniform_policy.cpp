// Spatially uniform control (stage V): each image keeps an evenly spaced lattice of its patches,
// grid by grid (a Phi-3.5-V crop, a SmolVLM tile), the image's budget shared over its grids in
// proportion to their tokens. Several studies found this control hard to beat; it uses no
// attention and no features, so it runs on every family.
#include <map>

#include "policy_factories.h"
#include "vision_pruner.h"
#include "visual_selection.h"

namespace hae {
namespace {

class UniformPolicy final : public VisionPruner {
 public:
  explicit UniformPolicy(const KnobSet& k) : VisionPruner("uniform", k) {}

 protected:
  Indices selectSpan(const VisionInput& in, const Span& span, PolicyContext& ctx, VisionDecision&,
                     std::vector<float>&) override {
    // Members of each grid (crop) of the image, in order.
    std::map<int, Indices> grids;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(span.rows.size()); ++i)
      grids[ctx.tokens[in.rows[span.rows[i]].token].crop].push_back(i);
    std::vector<std::int64_t> sizes;
    for (const auto& [crop, members] : grids)
      sizes.push_back(static_cast<std::int64_t>(members.size()));
    const auto budgets = visualBudgets(sizes, 0, span.keep);
    Indices kept;
    std::size_t g = 0;
    for (const auto& [crop, members] : grids) {
      std::vector<std::pair<int, int>> cells;
      int rows = 1, cols = 1;
      for (auto m : members) {
        const TokenInfo& t = ctx.tokens[in.rows[span.rows[m]].token];
        cells.push_back({t.row, t.col});
        rows = std::max(rows, t.row + 1);
        cols = std::max(cols, t.col + 1);
      }
      for (auto c : uniformGridKeep(cells, rows, cols, budgets[g++])) kept.push_back(members[c]);
    }
    std::sort(kept.begin(), kept.end());
    return kept;
  }
};

}  // namespace

std::unique_ptr<Policy> makeUniformPolicy(const KnobSet& knobs) {
  return std::make_unique<UniformPolicy>(knobs);
}

}  // namespace hae
