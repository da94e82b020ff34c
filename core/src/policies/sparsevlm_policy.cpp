// SparseVLM (stage P), after the reference's LLaVA decoder (Gumpest/SparseVLMs,
// modelling_sparse_llama.py and score.py):
//  - Raters, once per prompt from the decoder's input embeddings (read in the V hook, which drops
//    nothing here): each visual row's softmax over the rows after the image, averaged over the
//    visual rows; the rows above the mean share are the raters (the question tokens that matter).
//  - At the reference's layers (2, 6 and 15 of LLaMA's 32, scaled to the model's depth) the
//    raters' head-mean attention rates each image's visual tokens still present; the top ones go
//    on, so the image shrinks to its budget stage by stage (hidden rows dropped; earlier layers
//    keep their KV, as FastV).
//  - Token recycling: the best-rated share of the pruned tokens is clustered (DPC-KNN over the
//    layer's output rows) and each cluster goes on as one recycled token, the mean of its members'
//    hidden states, which the layers after compute from. It sits at its centre's row and position;
//    StepTelemetry::merged lists the patches it stands for.
// Only visual rows are candidates, per image, so separators and text always stay. Differences
// from the reference: core/src/policies/README.md.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "../models/vlm_model.h"
#include "hae/error.h"
#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"
#include "visual_selection.h"

namespace hae {
namespace {

// The reference's pruning layers in LLaVA-1.5's 32-layer LLaMA.
constexpr int kReferenceLayers[] = {2, 6, 15};
constexpr double kReferenceDepth = 32;

class SparseVlmPolicy final : public Policy {
 public:
  explicit SparseVlmPolicy(const KnobSet& k)
      : knobs_(k.asText()),
        ratio_(k.getFloat("ratio")),
        keep_(k.getInt("keep")),
        share_(k.getFloat("recycle.share")),
        per_cluster_(k.getInt("recycle.cluster")) {}
  std::string name() const override { return "sparsevlm"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }

  // The V hook only reads the decoder's input rows (for the raters); it drops nothing.
  bool decidesOnVision() const override { return true; }
  std::optional<VisionDecision> selectVisionRows(const VisionInput& in,
                                                 PolicyContext& ctx) override {
    start(in, ctx);
    return std::nullopt;
  }

  bool wantsPrefillTap(int layer) const override { return stageOf(layer) >= 0; }
  std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const override {
    Indices q;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(rows.size()); ++i)
      if (raters_.count(rows[i].token)) q.push_back(i);
    return q.empty() ? queryRows(rows, "last-token") : q;
  }
  void configureTap(int, bool, AttentionTap& tap) const override { tap.col_sum_only = true; }

  std::optional<std::vector<std::int64_t>> afterPrefillLayer(int layer,
                                                             const std::vector<SlotMeta>& rows,
                                                             AttentionTap* tap,
                                                             PolicyContext& ctx) override {
    const int stage = stageOf(layer);
    if (stage < 0 || !tap) return std::nullopt;
    if (!ctx.output || ctx.output->size(0) != static_cast<std::int64_t>(rows.size()))
      throw Error("sparsevlm: the pruning layer's output rows are missing");
    const auto scores = toFloats(tap->col_sum);  // in prefill the cache's slots are the rows
    std::vector<bool> keep_row(rows.size(), true);
    bool dropped = false;
    for (const Indices& span : visualSpans(rows, ctx.tokens, true, false)) {
      const int image = imageOf(rows[span.front()], ctx);
      const auto target = targets_.count(image) ? targets_.at(image)[stage]
                                                : static_cast<std::int64_t>(span.size());
      std::vector<float> vs;
      for (auto r : span) vs.push_back(scores[r]);
      const SparseVlmDrop drop = sparseVlmDrop(vs, target, share_, per_cluster_);
      if (drop.kept.size() == span.size()) continue;
      dropped = true;
      for (auto r : span) keep_row[r] = false;
      for (auto k : drop.kept) keep_row[span[k]] = true;
      if (drop.clusters > 0) recycle(span, drop, rows, ctx, keep_row);
    }
    if (!dropped) return std::nullopt;
    std::vector<std::int64_t> out;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(rows.size()); ++i) {
      if (keep_row[i]) {
        out.push_back(i);
        continue;
      }
      recordEvent(ctx, EventKind::Evict, layer + 1, rows[i], scores[i]);
      forget(positionOf(rows[i], ctx), ctx);  // a recycled token pruned again stands for nothing now
    }
    return out;
  }

 private:
  // Per prompt: the raters, the drop layers for this depth, and every image's kept count per drop.
  void start(const VisionInput& in, PolicyContext& ctx) {
    const int depth = ctx.spec.num_layers;
    if (depth < 2)
      throw Error(fmt::format("sparsevlm: the model has {} decoder layer(s); SparseVLM drops "
                              "visual tokens after a layer and needs at least 2",
                              depth));
    layers_.clear();
    for (int ref : kReferenceLayers) {
      const int l = std::min(depth - 2, static_cast<int>(std::lround(ref * depth / kReferenceDepth)));
      if (layers_.empty() || l > layers_.back()) layers_.push_back(l);
    }
    raters_.clear();
    targets_.clear();
    members_.clear();
    const Indices text = queryRows(in.rows, "text-after-image");
    Indices visual;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(in.rows.size()); ++i)
      if (in.rows[i].modality == Modality::Visual) visual.push_back(i);
    if (visual.empty()) return;
    if (!text.empty()) {
      auto rowsOf = [&](const Indices& r) {
        return in.embeds.index_select(0, at::tensor(r, at::kLong).to(in.embeds.device()))
            .to(at::kFloat);
      };
      const auto logits = toFloats(at::matmul(rowsOf(visual), rowsOf(text).t()).reshape({-1}));
      auto picked = sparseVlmRaters(logits, static_cast<std::int64_t>(visual.size()),
                                    static_cast<std::int64_t>(text.size()));
      if (picked.empty()) picked.assign(text.size(), 0), std::iota(picked.begin(), picked.end(), 0);
      for (auto t : picked) raters_.insert(in.rows[text[t]].token);
    }
    const auto spans = visualSpans(in.rows, ctx.tokens, true, false);
    std::vector<std::int64_t> sizes;
    for (const auto& s : spans) sizes.push_back(static_cast<std::int64_t>(s.size()));
    const auto budgets = visualBudgets(sizes, ratio_, keep_);
    for (std::size_t s = 0; s < spans.size(); ++s)
      targets_[imageOf(in.rows[spans[s].front()], ctx)] =
          sparseVlmSchedule(sizes[s], budgets[s], static_cast<int>(layers_.size()));
  }

  int stageOf(int layer) const {
    for (std::size_t s = 0; s < layers_.size(); ++s)
      if (layers_[s] == layer) return static_cast<int>(s);
    return -1;
  }

  // The token's place in the sequence (what MergedToken and the events name).
  static int positionOf(const SlotMeta& slot, const PolicyContext& ctx) {
    return slot.token < static_cast<int>(ctx.tokens.size()) ? ctx.tokens[slot.token].position
                                                             : slot.position;
  }
  static int imageOf(const SlotMeta& slot, const PolicyContext& ctx) {
    return slot.token < static_cast<int>(ctx.tokens.size()) ? ctx.tokens[slot.token].image : 0;
  }

  // The drop's candidates become drop.clusters recycled tokens, each at its centre's row with the
  // mean of its members' output rows (fp32, then the model's dtype).
  void recycle(const Indices& span, const SparseVlmDrop& drop, const std::vector<SlotMeta>& rows,
               PolicyContext& ctx, std::vector<bool>& keep_row) {
    const at::Tensor& h = *ctx.output;
    Indices cand_rows;
    for (auto c : drop.candidates) cand_rows.push_back(span[c]);
    const auto x =
        h.index_select(0, at::tensor(cand_rows, at::kLong).to(h.device())).to(at::kFloat);
    const auto n = static_cast<std::int64_t>(cand_rows.size());
    // The reference's distance: L2 over the hidden size, divided by sqrt(hidden).
    const auto dist = toFloats((at::cdist(x, x) / std::sqrt(static_cast<double>(x.size(1))))
                                   .reshape({-1}));
    const RecycleClusters clusters = recycleClusters(dist, n, drop.clusters);
    for (std::size_t c = 0; c < clusters.centers.size(); ++c) {
      const auto center = cand_rows[clusters.centers[c]];
      keep_row[center] = true;
      const auto& members = clusters.members[c];
      const auto mean =
          x.index_select(0, at::tensor(members, at::kLong).to(x.device())).mean(0).to(h.scalar_type());
      ctx.replace.push_back({center, mean});
      // Which patches it stands for: its members' own, recycled ones' included.
      std::set<int> stands_for;
      for (auto m : members) {
        const int pos = positionOf(rows[cand_rows[m]], ctx);
        if (auto it = members_.find(pos); it != members_.end())
          stands_for.insert(it->second.begin(), it->second.end());
        else
          stands_for.insert(pos);
        if (cand_rows[m] != center) forget(pos, ctx);
      }
      const int pos = positionOf(rows[center], ctx);
      forget(pos, ctx);
      members_[pos] = std::vector<int>(stands_for.begin(), stands_for.end());
      if (ctx.merged) ctx.merged->push_back({pos, members_[pos]});
    }
  }

  // Drops the recycled token at `position` from the telemetry, if there is one.
  void forget(int position, PolicyContext& ctx) {
    if (!members_.erase(position) || !ctx.merged) return;
    auto& m = *ctx.merged;
    m.erase(std::remove_if(m.begin(), m.end(),
                           [&](const MergedToken& t) { return t.position == position; }),
            m.end());
  }

  std::map<std::string, std::string> knobs_;
  double ratio_;
  std::int64_t keep_;
  double share_;
  std::int64_t per_cluster_;
  std::vector<int> layers_;                            // drop after these layers
  std::set<int> raters_;                               // token indices
  std::map<int, std::vector<std::int64_t>> targets_;   // image -> kept after each drop
  std::map<int, std::vector<int>> members_;            // recycled token's position -> patches
};

}  // namespace

std::unique_ptr<Policy> makeSparseVlmPolicy(const KnobSet& knobs) {
  return std::make_unique<SparseVlmPolicy>(knobs);
}

}  // namespace hae
