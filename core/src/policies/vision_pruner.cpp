#include "vision_pruner.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "hae/error.h"
#include "policy_util.h"
#include "visual_selection.h"

namespace hae {

VisionPruner::VisionPruner(std::string name, const KnobSet& k)
    : name_(std::move(name)),
      knobs_(k.asText()),
      ratio_(k.getFloat("ratio")),
      keep_(k.getInt("keep")),
      renumber_(k.getChoice("pos.mode") == "renumber") {}

std::optional<VisionDecision> VisionPruner::selectVisionRows(const VisionInput& in,
                                                             PolicyContext& ctx) {
  // Visual rows only, one span per image: separators and tile markers are never candidates.
  std::vector<Span> spans;
  for (const Indices& rows : visualSpans(in.rows, ctx.tokens, true, false)) {
    const SlotMeta& first = in.rows[rows.front()];
    spans.push_back({ctx.tokens[first.token].image, rows, 0});
  }
  if (spans.empty()) return std::nullopt;
  check(in);
  std::vector<std::int64_t> sizes;
  for (const Span& s : spans) sizes.push_back(static_cast<std::int64_t>(s.rows.size()));
  const auto budgets = visualBudgets(sizes, ratio_, keep_);
  std::vector<bool> keep_row(in.rows.size(), true);
  std::vector<float> row_score(in.rows.size(), 0);
  VisionDecision decision;
  for (std::size_t s = 0; s < spans.size(); ++s) {
    spans[s].keep = budgets[s];
    std::vector<float> scores(spans[s].rows.size(), 0);
    const Indices kept = selectSpan(in, spans[s], ctx, decision, scores);
    if (static_cast<std::int64_t>(kept.size()) != spans[s].keep)
      throw Error(fmt::format("{}: kept {} of image {}'s visual tokens, its budget is {}", name_,
                              kept.size(), spans[s].image, spans[s].keep));
    for (std::size_t i = 0; i < spans[s].rows.size(); ++i) {
      keep_row[spans[s].rows[i]] = false;
      row_score[spans[s].rows[i]] = scores[i];
    }
    for (auto k : kept) keep_row[spans[s].rows[k]] = true;
  }
  for (std::int64_t r = 0; r < static_cast<std::int64_t>(in.rows.size()); ++r) {
    if (keep_row[r])
      decision.keep.push_back(r);
    else
      recordEvent(ctx, EventKind::Evict, -1, in.rows[r], row_score[r]);
  }
  return decision;
}

at::Tensor VisionPruner::spanEmbeds(const VisionInput& in, const Span& span) {
  auto index = at::tensor(span.rows, at::kLong).to(in.embeds.device());
  return in.embeds.index_select(0, index).to(at::kFloat);
}

std::vector<float> VisionPruner::cosineMatrix(const at::Tensor& embeds) {
  auto normed = embeds / embeds.norm(2, {1}, true).clamp_min(1e-12);
  return toFloats(at::matmul(normed, normed.t()).reshape({-1}));
}

std::vector<float> VisionPruner::towerScores(const VisionInput& in, const Span& span,
                                             bool needs_cls) const {
  if (!in.tower_attention.defined())
    throw Error(fmt::format("{} needs the vision tower's attention: {}", name_,
                            in.tower_missing.empty() ? "not available" : in.tower_missing));
  if (needs_cls && !in.tower_has_cls)
    throw Error(
        fmt::format("{} ranks patches by the vision tower's CLS attention, but this "
                    "model's tower has no CLS token (SigLIP); use visionzip or divprune",
                    name_));
  const auto all = toFloats(in.tower_attention);
  std::vector<float> out;
  for (auto r : span.rows) out.push_back(all.at(r));
  return out;
}

}  // namespace hae
