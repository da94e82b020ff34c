// FastV (the released code's rule): at layer K-1 the last prompt token's head-mean attention
// ranks the visual tokens; the lowest fraction R of them leave the hidden-state sequence, so
// layers >= K compute on and cache only the rest, while layers < K keep their full KV. The paper
// prose speaks of average attention received; the code uses the last row, as here.
#include <cmath>

#include "../models/vlm_model.h"
#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"

namespace hae {
namespace {

class FastvPolicy final : public Policy {
 public:
  explicit FastvPolicy(const KnobSet& k)
      : knobs_(k.asText()),
        k_(k.getInt("k")),
        ratio_(k.getFloat("ratio")),
        keep_(k.getInt("keep")) {}
  std::string name() const override { return "fastv"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  bool wantsPrefillTap(int layer) const override { return layer == k_ - 1; }
  std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const override {
    return queryRows(rows, "last-token");
  }

  std::optional<std::vector<std::int64_t>> afterPrefillLayer(int layer,
                                                             const std::vector<SlotMeta>& rows,
                                                             AttentionTap* tap,
                                                             PolicyContext& ctx) override {
    checkLayer(ctx, "fastv", "k", k_);  // K itself must be a layer: the first one pruned
    // In prefill the layer's cache holds exactly this forward's rows, so columns are rows.
    const auto s = toFloats(tap->col_sum);
    Indices visual;
    std::vector<float> vs;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(rows.size()); ++i)
      if (rows[i].modality == Modality::Visual) visual.push_back(i), vs.push_back(s[i]);
    if (visual.empty()) return std::nullopt;
    const auto m = static_cast<std::int64_t>(visual.size());
    const std::int64_t keep = keep_ > 0 ? std::min<std::int64_t>(keep_, m)
                                        : m - static_cast<std::int64_t>(std::llround(ratio_ * m));
    if (keep >= m) return std::nullopt;
    const Indices kept = fastvKeep(vs, keep);
    std::vector<bool> keep_row(rows.size(), true);
    for (auto v : visual) keep_row[v] = false;
    for (auto k : kept) keep_row[visual[k]] = true;
    std::vector<std::int64_t> out;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(rows.size()); ++i) {
      if (keep_row[i])
        out.push_back(i);
      else
        recordEvent(ctx, EventKind::Evict, layer + 1, rows[i], s[i]);
    }
    return out;
  }

  // A layer beyond the model is never tapped, so it is refused here rather than ignored.
  void endPrefill(std::vector<AttentionTap>&, PolicyContext& ctx) override {
    checkLayer(ctx, "fastv", "k", k_);
  }

 private:
  std::map<std::string, std::string> knobs_;
  int k_;
  double ratio_;
  std::int64_t keep_;
};

}  // namespace

std::unique_ptr<Policy> makeFastvPolicy(const KnobSet& knobs) {
  return std::make_unique<FastvPolicy>(knobs);
}

}  // namespace hae
