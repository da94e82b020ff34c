// Hierarchical Adaptive Eviction (docs: hae-method.md). Stage 1, DAP: at layer l0 the text query
// rows score the visual tokens (cumulative and peak attention) and the kept set is broadcast to
// every layer, by dropping hidden rows (drop_hidden) or gathering every cache at the end of
// prefill (cache_only), optionally re-scored per layer group. Stage 2, DDES: a RecycleBin over
// tokens decides restore / demote / purge each decode step; its decisions apply to every layer
// in one pass, bin slots are flagged (and masked unless ddes.bin_attended), and purged slots are
// compacted with one gather per layer once compaction.free_fraction of a layer is free.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "../models/vlm_model.h"
#include "hae/error.h"
#include "policy.h"
#include "policy_factories.h"
#include "policy_util.h"
#include "recycle_bin.h"

namespace hae {
namespace {

DapMode dapMode(const std::string& s) {
  return s == "keep" ? DapMode::Keep : s == "cap" ? DapMode::Cap : DapMode::Threshold;
}
Reweight reweightMode(const std::string& s) {
  return s == "zscore" ? Reweight::ZScore : s == "none" ? Reweight::None : Reweight::ModalityMean;
}

class HaePolicy final : public Policy {
 public:
  explicit HaePolicy(const KnobSet& k)
      : knobs_(k.asText()),
        dap_(k.getBool("dap.enabled")),
        l0_(k.getInt("dap.layer")),
        query_set_(k.getChoice("dap.query_set")),
        variance_stat_(k.getChoice("dap.indiv_stat") == "variance"),
        per_image_(k.getBool("dap.per_image")),
        separators_are_candidates_(!k.getBool("dap.protect_separators")),
        drop_hidden_(k.getChoice("broadcast.mode") == "drop_hidden"),
        groups_(k.getInt("broadcast.groups")),
        renumber_(k.getChoice("pos.mode") == "renumber"),
        ddes_(k.getBool("ddes.enabled")),
        bin_attended_(k.getBool("ddes.bin_attended")),
        score_layer_(k.getInt("ddes.score_layer")),
        interval_(k.getInt("ddes.interval")),
        free_fraction_(k.getFloat("compaction.free_fraction")),
        probes_(k.getBool("probes")),
        probe_threshold_(k.getFloat("probes.threshold")) {
    const double r = k.getFloat("dap.r");
    dap_params_.mode = dapMode(k.getChoice("dap.mode"));
    dap_params_.tau_g = k.getFloat("dap.tau_g") < 0 ? r : k.getFloat("dap.tau_g");
    dap_params_.tau_i = k.getFloat("dap.tau_i") < 0 ? r : k.getFloat("dap.tau_i");
    dap_params_.keep = k.getInt("dap.keep");
    dap_params_.cap = k.getInt("dap.cap");
    dap_params_.scale_by_count = k.getBool("dap.scale_by_count");
    ddes_params_.budget = k.getFloat("ddes.budget");
    ddes_params_.bin = k.getInt("ddes.bin");
    ddes_params_.sink = k.getInt("ddes.sink");
    ddes_params_.recent = k.getInt("ddes.recent");
    ddes_params_.gamma = k.getFloat("ddes.gamma");
    ddes_params_.reweight = reweightMode(k.getChoice("ddes.reweight"));
    ddes_params_.theta_vis = k.getFloat("ddes.theta_vis");
    ddes_params_.theta_restore = k.getFloat("ddes.theta_restore");
    ddes_params_.purge_to = k.getFloat("ddes.purge_to");
    if (renumber_ && groups_ != 1)
      throw Error(fmt::format(
          "policy 'hae': knob 'pos.mode' = renumber needs 'broadcast.groups' = 1 (got {}): with "
          "several groups the layers hold different token sets, so no one numbering fits",
          groups_));
  }
  bool renumbersPositions() const override { return renumber_; }

  std::string name() const override { return "hae"; }
  std::map<std::string, std::string> settings() const override { return knobs_; }
  const RecycleBin* recycleBin() const { return bin_ ? &*bin_ : nullptr; }

  bool wantsPrefillTap(int layer) const override {
    // With several groups the group starts depend on the layer count, known only in the hooks,
    // so every layer from l0 on is tapped and the hook decides.
    const bool dap = dap_ && (layer == l0_ || (groups_ > 1 && layer > l0_));
    const bool score = ddes_ && (layer == score_layer_ || score_layer_ < 0);
    return dap || score || probes_;
  }
  std::vector<std::int64_t> prefillQueryRows(const std::vector<SlotMeta>& rows) const override {
    return queryRows(rows, query_set_);
  }
  void configureTap(int layer, bool prefill, AttentionTap& tap) const override {
    if (prefill)
      tap.keep_probs = probes_ || (variance_stat_ && dap_ && layer >= l0_);
    else {
      tap.peek_masked = !bin_attended_;
      tap.col_sum_only = true;  // DDES scores with the head-mean attention alone
    }
  }
  bool wantsDecodeTap(int layer) const override {
    return ddes_ && (layer == score_layer_ || score_layer_ < 0);
  }

  std::optional<std::vector<std::int64_t>> afterPrefillLayer(int layer,
                                                             const std::vector<SlotMeta>& rows,
                                                             AttentionTap* tap,
                                                             PolicyContext& ctx) override {
    start(ctx);
    const LayerCache& lc = ctx.cache.layer(layer);
    const bool have_queries = !queryRows(rows, query_set_).empty();
    const auto A = toFloats(tap->col_sum);
    if (ddes_ && (layer == score_layer_ || score_layer_ < 0)) {
      for (int i = 0; i < lc.size() && i < static_cast<int>(A.size()); ++i)
        init_score_[lc.slots()[i].token] += A[i];
      ++scored_layers_;
    }
    std::optional<Indices> evict;
    if (have_queries && (isGroupStart(layer) || probes_)) evict = dapDecision(layer, A, tap, ctx);
    if (probes_) probe(layer, rows, A, tap, evict, ctx);
    if (!dap_ || !have_queries || !isGroupStart(layer) || !evict || evict->empty())
      return std::nullopt;

    const int group = groupOf(layer);
    if (!drop_hidden_) {
      group_evict_[group] = tokensOf(lc, *evict);
      return std::nullopt;
    }
    std::vector<bool> gone(lc.size(), false);
    for (auto e : *evict) gone[e] = true;
    Indices keep;
    for (std::int64_t i = 0; i < lc.size(); ++i)
      if (!gone[i]) keep.push_back(i);
    // The first decision also reaches the layers before l0 (they saw the same rows); a later
    // group's decision applies from its first layer on, the layers before keep their set.
    const int from = group == 0 ? 0 : layer;
    for (int l = from; l <= layer; ++l)
      keepSlots(ctx, l, keep, A, l == from ? (group == 0 ? -1 : layer) : -2);
    return std::vector<std::int64_t>(keep.begin(), keep.end());
  }

  void endPrefill(std::vector<AttentionTap>&, PolicyContext& ctx) override {
    start(ctx);
    started_ = false;  // the next prefill starts afresh
    if (!drop_hidden_ && !group_evict_.empty()) applyGroupsToCaches(ctx);
    if (!ddes_) return;
    // The bin tracks every token some layer still holds; scores start from the prefill
    // attention of the scoring layer(s).
    std::vector<bool> held(ctx.tokens.size(), false);
    for (int l = 0; l < ctx.cache.numLayers(); ++l)
      for (const auto& s : ctx.cache.layer(l).slots()) held[s.token] = true;
    bin_.emplace(ddes_params_);
    const float div = scored_layers_ > 0 ? static_cast<float>(scored_layers_) : 1.0f;
    for (std::size_t t = 0; t < held.size(); ++t)
      if (held[t]) bin_->add(static_cast<int>(t), ctx.tokens[t].modality, init_score_[t] / div);
    applyDecision(bin_->rebalance(static_cast<int>(ctx.tokens.size())), ctx);
  }

  void afterDecodeStep(std::vector<AttentionTap>& taps, PolicyContext& ctx) override {
    if (!bin_) return;
    const int token = static_cast<int>(ctx.tokens.size()) - 1;
    bin_->add(token, ctx.tokens[token].modality, 0.0f);
    // One host copy per scoring layer; with score_layer -1 the layers' rows are averaged.
    std::vector<float> att(ctx.tokens.size(), 0.0f);
    int used = 0;
    for (int l = 0; l < ctx.cache.numLayers(); ++l) {
      if (!wantsDecodeTap(l)) continue;
      const AttentionTap& tap = taps[l];
      const auto a = toFloats(tap.col_sum_peek.defined() ? tap.col_sum_peek : tap.col_sum);
      const auto& slots = ctx.cache.layer(l).slots();
      for (std::size_t i = 0; i < a.size() && i < slots.size(); ++i) att[slots[i].token] += a[i];
      ++used;
    }
    std::vector<int> ids;
    std::vector<float> vals;
    for (std::size_t t = 0; t < att.size(); ++t)
      if (att[t] != 0.0f && bin_->contains(static_cast<int>(t)))
        ids.push_back(static_cast<int>(t)),
            vals.push_back(att[t] / static_cast<float>(std::max(used, 1)));
    bin_->accumulate(ids, vals);
    if (ctx.step % interval_ == 0)
      applyDecision(bin_->rebalance(static_cast<int>(ctx.tokens.size())), ctx);
  }

 private:
  // Resets the per-run state at the first hook of a prefill (the engine reuses a policy).
  void start(PolicyContext& ctx) {
    if (started_) return;
    started_ = true;
    bin_.reset();
    const int layers = ctx.spec.num_layers;
    if (dap_) checkLayer(ctx, "hae", "dap.layer", l0_);
    if (ddes_ && score_layer_ >= 0) checkLayer(ctx, "hae", "ddes.score_layer", score_layer_);
    const int span = layers - l0_;
    const int g = std::clamp(groups_, 1, std::max(1, span));
    const int size = (span + g - 1) / g;
    group_starts_.clear();
    for (int s = l0_; s < layers; s += size) group_starts_.push_back(s);
    group_evict_.assign(group_starts_.size(), {});
    init_score_.assign(ctx.tokens.size(), 0.0f);
    scored_layers_ = 0;
    first_kept_.reset();
    if (probes_) ctx.probes.assign(layers, {});
  }
  bool isGroupStart(int layer) const {
    return dap_ &&
           std::find(group_starts_.begin(), group_starts_.end(), layer) != group_starts_.end();
  }
  int groupOf(int layer) const {
    int g = 0;
    for (std::size_t i = 0; i < group_starts_.size(); ++i)
      if (layer >= group_starts_[i]) g = static_cast<int>(i);
    return g;
  }
  static std::vector<int> tokensOf(const LayerCache& lc, const Indices& slots) {
    std::vector<int> t;
    for (auto s : slots) t.push_back(lc.slots()[s].token);
    return t;
  }

  // The slots DAP would evict in this layer (indices into its cache).
  Indices dapDecision(int layer, const std::vector<float>& A, AttentionTap* tap,
                      PolicyContext& ctx) {
    const LayerCache& lc = ctx.cache.layer(layer);
    std::vector<float> M;
    if (variance_stat_ && tap->probs.defined())
      M = toFloats(at::var(tap->probs.mean(0), {0}, /*unbiased=*/false, /*keepdim=*/false));
    else
      M = toFloats(tap->col_max);
    return dapEvict(A, M,
                    visualSpans(lc.slots(), ctx.tokens, per_image_, separators_are_candidates_),
                    dap_params_);
  }

  void applyGroupsToCaches(PolicyContext& ctx) {
    for (int l = 0; l < ctx.cache.numLayers(); ++l) {
      const int g = l < l0_ ? 0 : groupOf(l);
      std::vector<bool> gone(ctx.tokens.size(), false);
      for (int t : group_evict_[g]) gone[t] = true;
      const LayerCache& lc = ctx.cache.layer(l);
      Indices keep;
      for (std::int64_t i = 0; i < lc.size(); ++i)
        if (!gone[lc.slots()[i].token]) keep.push_back(i);
      const bool one_event = group_starts_.size() == 1;
      keepSlots(ctx, l, keep, {}, one_event ? (l == 0 ? -1 : -2) : l);
    }
  }

  void applyDecision(const RecycleBin::Decision& d, PolicyContext& ctx) {
    if (d.empty()) return;
    auto event = [&](EventKind kind, const RecycleBin::Change& c) {
      const TokenInfo& t = ctx.tokens[c.token];
      recordEvent(ctx, kind, -1, SlotMeta{t.position, t.modality, c.token}, c.score);
    };
    for (const auto& c : d.restored) event(EventKind::Restore, c);
    for (const auto& c : d.demoted) event(EventKind::Demote, c);
    for (const auto& c : d.purged) event(EventKind::Purge, c);
    for (int l = 0; l < ctx.cache.numLayers(); ++l) {
      LayerCache& lc = ctx.cache.layer(l);
      int dead = 0;
      for (int i = 0; i < lc.size(); ++i) {
        const SlotMeta& s = lc.slots()[i];
        switch (bin_->state(s.token)) {
          case TokenState::Active:
            if (s.binned) lc.setBinned(i, false), lc.setAttended(i, true);
            break;
          case TokenState::Bin:
            if (!s.binned) lc.setBinned(i, true), lc.setAttended(i, bin_attended_);
            break;
          case TokenState::Gone:
            // Purged: masked now, freed with the next compaction of this layer.
            lc.setBinned(i, false);
            lc.setAttended(i, false);
            ++dead;
            break;
        }
      }
      if (dead > 0 && dead >= free_fraction_ * lc.size()) {
        Indices keep;
        for (int i = 0; i < lc.size(); ++i)
          if (bin_->state(lc.slots()[i].token) != TokenState::Gone) keep.push_back(i);
        lc.keep(keep);
      }
    }
  }

  // Observation probes of one prefill layer: per-modality variance of the cumulative attention,
  // share of (visible) head probabilities below the threshold, and how much of layer l0's kept
  // visual set this layer would keep by the same rule.
  void probe(int layer, const std::vector<SlotMeta>& rows, const std::vector<float>& A,
             AttentionTap* tap, const std::optional<Indices>& evict, PolicyContext& ctx) {
    LayerProbe& p = ctx.probes.at(layer);
    const LayerCache& lc = ctx.cache.layer(layer);
    double sum[kModalityCount] = {}, sq[kModalityCount] = {};
    int count[kModalityCount] = {};
    for (int i = 0; i < lc.size() && i < static_cast<int>(A.size()); ++i) {
      const int m = static_cast<int>(lc.slots()[i].modality);
      sum[m] += A[i], sq[m] += static_cast<double>(A[i]) * A[i], ++count[m];
    }
    for (int m = 0; m < kModalityCount; ++m)
      p.attn_variance[m] =
          count[m] ? sq[m] / count[m] - (sum[m] / count[m]) * (sum[m] / count[m]) : 0;
    if (tap->probs.defined()) {
      const auto q = queryRows(rows, query_set_);
      std::vector<std::int64_t> qpos, kpos, kmod;
      for (auto r : q) qpos.push_back(rows[r].position);
      for (const auto& s : lc.slots())
        kpos.push_back(s.position), kmod.push_back(static_cast<int>(s.modality));
      auto visible = at::tensor(kpos).view({1, -1}) <= at::tensor(qpos).view({-1, 1});  // [|Q|, S]
      auto below = (tap->probs.cpu() < probe_threshold_) & visible.unsqueeze(0);  // [H, |Q|, S]
      auto below_cols = below.sum(at::IntArrayRef{0, 1}).to(at::kDouble);
      auto visible_cols = visible.sum(0).to(at::kDouble) * static_cast<double>(tap->probs.size(0));
      auto mod = at::tensor(kmod);
      for (int m = 0; m < kModalityCount; ++m) {
        auto sel = mod == m;
        const double total = visible_cols.masked_select(sel).sum().template item<double>();
        p.sparsity[m] =
            total > 0 ? below_cols.masked_select(sel).sum().template item<double>() / total : 0;
      }
    }
    if (evict) {
      std::vector<int> kept;
      std::vector<bool> gone(lc.size(), false);
      for (auto e : *evict) gone[e] = true;
      for (int i = 0; i < lc.size(); ++i)
        if (lc.slots()[i].modality == Modality::Visual && !gone[i])
          kept.push_back(lc.slots()[i].token);
      if (!first_kept_) first_kept_ = kept;
      std::vector<bool> in(ctx.tokens.size(), false);
      for (int t : kept) in[t] = true;
      int both = 0;
      for (int t : *first_kept_) both += in[t] ? 1 : 0;
      p.overlap_with_first =
          first_kept_->empty() ? 1.0 : static_cast<double>(both) / first_kept_->size();
    }
  }

  std::map<std::string, std::string> knobs_;
  bool dap_;
  int l0_;
  std::string query_set_;
  bool variance_stat_, per_image_, separators_are_candidates_, drop_hidden_;
  int groups_;
  bool renumber_;
  bool ddes_, bin_attended_;
  int score_layer_, interval_;
  double free_fraction_;
  bool probes_;
  double probe_threshold_;
  DapParams dap_params_;
  DdesParams ddes_params_;

  bool started_ = false;
  std::vector<int> group_starts_;
  std::vector<std::vector<int>> group_evict_;  // cache_only: evicted tokens per group
  std::vector<float> init_score_;              // per prompt token, summed over scoring layers
  int scored_layers_ = 0;
  std::optional<std::vector<int>> first_kept_;  // probes: l0's kept visual tokens
  std::optional<RecycleBin> bin_;
};

}  // namespace

std::unique_ptr<Policy> makeHaePolicy(const KnobSet& knobs) {
  return std::make_unique<HaePolicy>(knobs);
}

}  // namespace hae
