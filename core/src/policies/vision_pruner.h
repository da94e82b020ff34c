#pragma once
// What every vision-side (stage V) pruner shares: the budget knobs (ratio / keep / pos.mode), one
// candidate span per image (visual rows only, so separators are never dropped), the per-image
// budgets, the Evict events of the dropped rows and the V hook's decision. A pruner supplies only
// its rule for one image.
#include <string>

#include "policy.h"
#include "selection.h"

namespace hae {

class VisionPruner : public Policy {
 public:
  VisionPruner(std::string name, const KnobSet& knobs);
  std::string name() const override { return name_; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  bool decidesOnVision() const override { return true; }
  bool renumbersPositions() const override { return renumber_; }
  std::optional<VisionDecision> selectVisionRows(const VisionInput& in, PolicyContext& ctx) final;

 protected:
  struct Span {
    int image = 0;
    Indices rows;           // rows of the prompt (indices into in.rows), ascending
    std::int64_t keep = 0;  // how many of them this image keeps
  };
  // The kept members of `span` (indices into span.rows, ascending, exactly span.keep of them);
  // `scores` (one per member) goes with the Evict events. A merging rule adds to `decision`.
  virtual Indices selectSpan(const VisionInput& in, const Span& span, PolicyContext& ctx,
                             VisionDecision& decision, std::vector<float>& scores) = 0;
  // Refuses (hae::Error naming the method and the missing piece) what the rule cannot run on.
  virtual void check(const VisionInput& /*in*/) const {}

  // The span's input embeddings [m, hidden] in fp32, and their pairwise cosine similarity (m x m,
  // row-major): the similarity DivPrune, CDPruner and VisionZip's merge use.
  static at::Tensor spanEmbeds(const VisionInput& in, const Span& span);
  static std::vector<float> cosineMatrix(const at::Tensor& embeds);
  // The tower tap over the span, or a refusal naming this method when the family has none (or,
  // with `needs_cls`, when its tower has no CLS token).
  std::vector<float> towerScores(const VisionInput& in, const Span& span, bool needs_cls) const;

 private:
  std::string name_;
  std::map<std::string, std::string> knobs_;
  double ratio_;
  std::int64_t keep_;
  bool renumber_;
};

}  // namespace hae
