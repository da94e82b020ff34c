// MustDrop's prefill stage: the dual-attention filter (cumulative attention below r times the
// total, and peak attention below r) from the text query rows to the visual tokens, applied at
// several layers; dropped tokens leave the hidden-state sequence, so the caches form a staircase
// (each filter layer and the ones before it keep what they saw).
#include "../models/vlm_model.h"
#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"

namespace hae {
namespace {

class MustDropPolicy final : public Policy {
 public:
  explicit MustDropPolicy(const KnobSet& k)
      : knobs_(k.asText()),
        first_(k.getInt("layer")),
        stages_(k.getInt("stages")),
        stride_(k.getInt("stride")),
        r_(k.getFloat("r")),
        query_set_(k.getChoice("query_set")) {}
  std::string name() const override { return "mustdrop"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  bool wantsPrefillTap(int layer) const override {
    return layer >= first_ && (layer - first_) % stride_ == 0 &&
           (layer - first_) / stride_ < stages_;
  }
  std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const override {
    return queryRows(rows, query_set_);
  }

  std::optional<std::vector<std::int64_t>> afterPrefillLayer(int layer,
                                                             const std::vector<SlotMeta>& rows,
                                                             AttentionTap* tap,
                                                             PolicyContext& ctx) override {
    checkLayer(ctx, "mustdrop", "layer", first_);
    if (queryRows(rows, query_set_).empty()) return std::nullopt;  // no text to judge by
    const auto A = toFloats(tap->col_sum), M = toFloats(tap->col_max);
    Indices visual;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(rows.size()); ++i)
      if (rows[i].modality == Modality::Visual) visual.push_back(i);
    const Indices evict = dualAttentionEvict(A, M, visual, r_, r_);
    if (evict.empty()) return std::nullopt;
    std::vector<std::int64_t> out;
    std::size_t e = 0;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(rows.size()); ++i) {
      if (e < evict.size() && evict[e] == i) {
        recordEvent(ctx, EventKind::Evict, layer + 1, rows[i], A[i]);
        ++e;
      } else {
        out.push_back(i);
      }
    }
    return out;
  }

  // A layer beyond the model is never tapped, so it is refused here rather than ignored.
  void endPrefill(std::vector<AttentionTap>&, PolicyContext& ctx) override {
    checkLayer(ctx, "mustdrop", "layer", first_);
  }

 private:
  std::map<std::string, std::string> knobs_;
  int first_, stages_, stride_;
  double r_;
  std::string query_set_;
};

}  // namespace

std::unique_ptr<Policy> makeMustDropPolicy(const KnobSet& knobs) {
  return std::make_unique<MustDropPolicy>(knobs);
}

}  // namespace hae
