// PyramidDrop (stage P): the decoder is cut into `stages` equal segments; at the end of each but
// the last, the last prompt token's head-mean attention ranks the visual tokens still present and
// only the top lambda of them go on (hidden rows dropped; earlier layers keep their KV), so the
// visual tokens shrink geometrically with depth. The segment boundaries come from the model's
// depth, read at layer 0. Differences from the reference (README): one lambda for every stage
// (the reference's ratio list is lambda, lambda^2, lambda^3 by default), the ranking query is the
// prompt's last token (the reference's "last instruction token").
#include <cmath>

#include "../models/vlm_model.h"
#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"

namespace hae {
namespace {

class PyramidDropPolicy final : public Policy {
 public:
  explicit PyramidDropPolicy(const KnobSet& k)
      : knobs_(k.asText()), stages_(k.getInt("stages")), lambda_(k.getFloat("lambda")) {}
  std::string name() const override { return "pyramiddrop"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  // Until the depth is known (the first prefill's layer 0), layer 0 is tapped to learn it.
  bool wantsPrefillTap(int layer) const override {
    return layers_ < 0 ? layer == 0 : isScoreLayer(layer);
  }
  std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const override {
    return queryRows(rows, "last-token");
  }
  void configureTap(int, bool, AttentionTap& tap) const override { tap.col_sum_only = true; }

  std::optional<std::vector<std::int64_t>> afterPrefillLayer(int layer,
                                                             const std::vector<SlotMeta>& rows,
                                                             AttentionTap* tap,
                                                             PolicyContext& ctx) override {
    layers_ = ctx.spec.num_layers;
    if (!isScoreLayer(layer)) return std::nullopt;
    const auto s = toFloats(tap->col_sum);
    Indices visual;
    std::vector<float> vs;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(rows.size()); ++i)
      if (rows[i].modality == Modality::Visual) visual.push_back(i), vs.push_back(s[i]);
    if (visual.empty()) return std::nullopt;
    const auto m = static_cast<std::int64_t>(visual.size());
    const auto keep = static_cast<std::int64_t>(std::llround(lambda_ * static_cast<double>(m)));
    if (keep >= m) return std::nullopt;
    std::vector<bool> keep_row(rows.size(), true);
    for (auto v : visual) keep_row[v] = false;
    for (auto k : fastvKeep(vs, keep)) keep_row[visual[k]] = true;
    std::vector<std::int64_t> out;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(rows.size()); ++i) {
      if (keep_row[i])
        out.push_back(i);
      else
        recordEvent(ctx, EventKind::Evict, layer + 1, rows[i], s[i]);
    }
    return out;
  }

 private:
  // Layer l is scored (and the rows dropped after it) iff l + 1 is a segment boundary
  // round(j * L / stages), 0 < j < stages.
  bool isScoreLayer(int layer) const {
    for (int j = 1; j < stages_; ++j) {
      const int boundary = static_cast<int>(std::lround(double(j) * layers_ / stages_));
      if (boundary > 0 && boundary < layers_ && layer == boundary - 1) return true;
    }
    return false;
  }

  std::map<std::string, std::string> knobs_;
  int stages_;
  double lambda_;
  int layers_ = -1;  // the model's depth, once seen
};

}  // namespace

std::unique_ptr<Policy> makePyramidDropPolicy(const KnobSet& knobs) {
  return std::make_unique<PyramidDropPolicy>(knobs);
}

}  // namespace hae
