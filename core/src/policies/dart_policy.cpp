// DART (stage P): after layer K-1 of prefill, per image, pivot tokens (the visual tokens and the
// query tokens after the image with the largest key L1 norm) each keep the visual tokens least
// similar to them (cosine over the layer's output rows after the final norm), so duplicates go;
// layers >= K compute on and cache only the kept rows (layers < K keep their full KV, as FastV).
// Differences from the reference (README): the kept count is exactly the budget (the reference
// keeps pivots + pivots * floor(budget / pivots)), pivots are taken in prompt order (the
// reference iterates a Python set).
#include <ATen/ATen.h>
#include <fmt/format.h>

#include "hae/error.h"
#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"
#include "visual_selection.h"

namespace hae {
namespace {

std::vector<float> cosine(const at::Tensor& a, const at::Tensor& b) {
  auto na = a / a.norm(2, {1}, true).clamp_min(1e-12);
  auto nb = b / b.norm(2, {1}, true).clamp_min(1e-12);
  return toFloats(at::matmul(na, nb.t()).reshape({-1}));
}

class DartPolicy final : public Policy {
 public:
  explicit DartPolicy(const KnobSet& k)
      : knobs_(k.asText()),
        k_(k.getInt("k")),
        ratio_(k.getFloat("ratio")),
        keep_(k.getInt("keep")),
        image_pivots_(k.getInt("pivots.image")),
        text_pivots_(k.getInt("pivots.text")) {}
  std::string name() const override { return "dart"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  bool wantsPrefillTap(int layer) const override { return layer == k_ - 1; }
  bool wantsPrefillHidden(int layer) const override { return layer == k_ - 1; }
  void configureTap(int, bool, AttentionTap& tap) const override { tap.col_sum_only = true; }

  std::optional<std::vector<std::int64_t>> afterPrefillLayer(int layer,
                                                             const std::vector<SlotMeta>& rows,
                                                             AttentionTap*,
                                                             PolicyContext& ctx) override {
    checkLayer(ctx, "dart", "k", k_);
    const LayerCache& lc = ctx.cache.layer(layer);
    if (!ctx.hidden || lc.perHead() || lc.size() != static_cast<int>(rows.size()))
      throw Error("dart: the pruning layer's cache must hold exactly this prefill's rows");
    // Key L1 norm over every KV head: the reference's pivot score.
    const auto norms = toFloats(lc.keys().to(at::kFloat).abs().sum(at::IntArrayRef{0, 2}));
    const at::Tensor& hidden = *ctx.hidden;
    auto rowsOf = [&](const Indices& r) {
      return hidden.index_select(0, at::tensor(r, at::kLong).to(hidden.device())).to(at::kFloat);
    };
    const auto spans = visualSpans(rows, ctx.tokens, true, false);
    if (spans.empty()) return std::nullopt;
    const Indices text = queryRows(rows, "text-after-image");
    std::vector<float> text_norm;
    for (auto r : text) text_norm.push_back(norms[r]);
    const at::Tensor text_hidden = text.empty() ? at::Tensor() : rowsOf(text);
    std::vector<std::int64_t> sizes;
    for (const auto& s : spans) sizes.push_back(static_cast<std::int64_t>(s.size()));
    const auto budgets = visualBudgets(sizes, ratio_, keep_);
    std::vector<bool> keep_row(rows.size(), true);
    for (std::size_t s = 0; s < spans.size(); ++s) {
      std::vector<float> vnorm;
      for (auto r : spans[s]) vnorm.push_back(norms[r]), keep_row[r] = false;
      const at::Tensor vh = rowsOf(spans[s]);
      const auto sim_text = text.empty() ? std::vector<float>{} : cosine(text_hidden, vh);
      for (auto k : dartKeep(vnorm, text_norm, cosine(vh, vh), sim_text, image_pivots_,
                             text_pivots_, budgets[s]))
        keep_row[spans[s][k]] = true;
    }
    std::vector<std::int64_t> out;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(rows.size()); ++i) {
      if (keep_row[i])
        out.push_back(i);
      else
        recordEvent(ctx, EventKind::Evict, layer + 1, rows[i], norms[i]);
    }
    if (out.size() == rows.size()) return std::nullopt;
    return out;
  }

  void endPrefill(std::vector<AttentionTap>&, PolicyContext& ctx) override {
    checkLayer(ctx, "dart", "k", k_);
  }

 private:
  std::map<std::string, std::string> knobs_;
  int k_;
  double ratio_;
  std::int64_t keep_, image_pivots_, text_pivots_;
};

}  // namespace

std::unique_ptr<Policy> makeDartPolicy(const KnobSet& knobs) {
  return std::make_unique<DartPolicy>(knobs);
}

}  // namespace hae
