// Every policy's knobs in one torch-free place: the CLI lists them, the GUI builds its form from
// them, and validation happens before any tensor is touched. The budget convention of each
// policy is stated in its knob help, because the literature uses four incompatible ones.
#include "catalog.h"

#include <fmt/format.h>

#include "hae/error.h"

namespace hae {

namespace {

constexpr double kBig = 1e9;  // "unbounded" for token counts

KnobSpec intKnob(std::string name, double lo, double hi, std::string def, std::string help) {
  return {std::move(name), KnobType::Int, lo, hi, std::move(def), {}, std::move(help)};
}
KnobSpec floatKnob(std::string name, double lo, double hi, std::string def, std::string help) {
  return {std::move(name), KnobType::Float, lo, hi, std::move(def), {}, std::move(help)};
}
KnobSpec boolKnob(std::string name, std::string def, std::string help) {
  return {std::move(name), KnobType::Bool, 0, 1, std::move(def), {}, std::move(help)};
}
KnobSpec choiceKnob(std::string name, std::vector<std::string> choices, std::string help) {
  std::string def = choices.front();
  return {std::move(name),    KnobType::Choice, 0, 0, std::move(def),
          std::move(choices), std::move(help)};
}

std::vector<KnobSpec> haeKnobs() {
  return {
      boolKnob("dap.enabled", "true",
               "Stage 1, dual-attention pruning of visual tokens in prefill (false: DDES-only "
               "ablation)"),
      intKnob("dap.layer", 0, 1000, "0",
              "Layer l0 whose attention DAP scores (and whose kept set is broadcast)"),
      choiceKnob("dap.mode", {"threshold", "keep", "cap"},
                 "threshold: evict iff A_j < tau_g*sum(A) and M_j < tau_i; keep: top dap.keep "
                 "visual tokens by A; "
                 "cap: threshold rule, but at most dap.cap evictions (lowest A first)"),
      floatKnob("dap.r", 0, 1, "0.0015",
                "Threshold r; tau_g = tau_i = r unless set apart (0: evict nothing)"),
      floatKnob("dap.tau_g", -1, 1, "-1", "Global (cumulative) threshold; -1: dap.r"),
      floatKnob("dap.tau_i", -1, 1, "-1", "Individual (peak) threshold; -1: dap.r"),
      intKnob("dap.keep", 1, kBig, "192",
              "keep mode: retained visual tokens (per image with dap.per_image, else in total)"),
      intKnob("dap.cap", 0, kBig, "384",
              "cap mode: most visual tokens evicted (per image with dap.per_image)"),
      choiceKnob("dap.query_set", {"text-after-image", "all-text", "last-token"},
                 "Query rows Q whose attention scores the visual tokens"),
      choiceKnob("dap.indiv_stat", {"max", "variance"},
                 "Individual statistic M_j over Q: peak, or variance"),
      boolKnob("dap.scale_by_count", "false",
               "tau_g *= 576/m so one r fits images of any token count m"),
      boolKnob("dap.per_image", "true", "Score each image span separately"),
      boolKnob("dap.protect_separators", "true",
               "Never evict separator tokens (false: they are candidates like visual ones)"),
      choiceKnob("broadcast.mode", {"drop_hidden", "cache_only"},
                 "drop_hidden: later layers compute on the kept tokens only; cache_only: all "
                 "layers run on all "
                 "tokens, then every cache is gathered"),
      choiceKnob("pos.mode", {"original", "renumber"},
                 "original: kept tokens keep their positions and decoding continues at the prompt "
                 "length (FastV style); renumber: kept tokens get positions 0..n-1 (cached keys "
                 "re-rotated) and decoding continues at n. renumber needs broadcast.groups = 1"),
      intKnob("broadcast.groups", 1, 1000, "1",
              "Re-score at the start of each of G layer groups (from dap.layer on; G = layers: "
              "per-layer)"),
      boolKnob("ddes.enabled", "true",
               "Stage 2, decode-time eviction through the recycle bin (false: DAP-only ablation)"),
      floatKnob("ddes.budget", 0.001, kBig, "0.59",
                "Active budget B: <= 1 is a ratio of prompt + generated tokens (0.59 = the paper's "
                "-41%), > 1 is "
                "an absolute count of live tokens per layer; never below ddes.sink + ddes.recent"),
      intKnob("ddes.bin", 0, kBig, "64",
              "Recycle-bin capacity d (tokens stored but demoted; 0: no bin)"),
      intKnob("ddes.sink", 0, kBig, "4", "First tokens never evicted"),
      intKnob("ddes.recent", 0, kBig, "32", "Last tokens never evicted"),
      floatKnob("ddes.gamma", 0, 1, "1.0",
                "Score decay: s = gamma*s + a(t) (1.0 = H2O accumulation)"),
      choiceKnob("ddes.reweight", {"modality_mean", "zscore", "none"},
                 "Per-modality re-weighting of the scores"),
      floatKnob("ddes.theta_vis", -1e6, 1e6, "1.0",
                "Visual tokens below this re-weighted score are demoted first"),
      floatKnob("ddes.theta_restore", -1e6, 1e6, "1.0",
                "Bin tokens at or above this re-weighted score are restored"),
      floatKnob("ddes.purge_to", 0, 1, "0.5",
                "On overflow, purge the bin down to floor(purge_to*d)"),
      boolKnob(
          "ddes.bin_attended", "true",
          "Bin tokens still take part in attention until purged (false: masked, scores peeked)"),
      intKnob("ddes.score_layer", -1, 1000, "0",
              "Layer whose decode attention scores the tokens (-1: mean over layers)"),
      intKnob("ddes.interval", 1, kBig, "1",
              "Run demote/purge every N decode steps (scores accumulate every step)"),
      floatKnob("compaction.free_fraction", 0, 1, "0.25",
                "Purged slots are masked and compacted in one gather once this fraction of a "
                "layer's slots is free (0: at once)"),
      boolKnob("probes", "false",
               "Fill the observation probes (per-layer variance, sparsity, overlap with layer l0)"),
      floatKnob("probes.threshold", 0, 1, "0.001",
                "Probability below which an attention entry counts as sparse"),
  };
}

std::vector<KnobSpec> snapKnobs(bool pyramid) {
  std::vector<KnobSpec> k = {
      intKnob("budget", 1, kBig, "2048",
              pyramid ? "Average kept tokens per layer, window included (max_capacity_prompt); "
                        "prompts shorter are not compressed"
                      : "Kept tokens per layer, window included (max_capacity_prompt); prompts "
                        "shorter are not compressed"),
      floatKnob("keep_ratio", 0, 1, "0",
                "If > 0: budget = keep_ratio * prompt length (kept fraction), overriding budget"),
      intKnob("window", 1, kBig, "32",
              "Observation window w: the last w prompt tokens vote and are always kept"),
      intKnob("kernel", 1, 101, "7",
              "Pooling kernel along the sequence (stride 1, padding kernel/2)"),
      choiceKnob("pooling", {"max", "avg"}, "Pooling of the window votes"),
      choiceKnob("heads", {"per_head", "shared"},
                 "per_head: every KV head keeps its own top tokens (the reference; per-head "
                 "storage); shared: one set per layer from the head-mean votes"),
  };
  if (pyramid)
    k.push_back(floatKnob("beta", 1, 1000, "20",
                          "Pyramid steepness: the last layer keeps (B-w)/beta prefix tokens"));
  return k;
}

std::vector<KnobSpec> adaKnobs() {
  auto k = snapKnobs(false);
  // Ada-KV is per head by construction.
  std::erase_if(k, [](const KnobSpec& spec) { return spec.name == "heads"; });
  k[0].help =
      "Average kept tokens per KV head and layer, window included (the layer keeps H_kv times "
      "this); "
      "prompts shorter are not compressed";
  k.push_back(
      floatKnob("floor", 0, 1, "0.2",
                "Safeguard alpha: head h keeps round((1-alpha)*c_h + alpha*(budget-window))"));
  return k;
}

std::vector<KnobSpec> mustdropKnobs() {
  return {
      intKnob("layer", 0, 1000, "2", "First layer of the dual-attention filter"),
      intKnob("stages", 1, 100, "3", "Number of filter layers"),
      intKnob("stride", 1, 100, "4", "Layers between filters (layers: layer, layer+stride, ...)"),
      floatKnob("r", 0, 1, "0.0015",
                "Threshold r: visual token j is dropped iff A_j < r*sum(A) and max_i a_ij < r"),
      choiceKnob("query_set", {"text-after-image", "all-text", "last-token"},
                 "Query rows that score the visual tokens"),
  };
}

// The vision-side (V) pruners share one budget convention: a fraction of every image's visual
// tokens pruned, or a total of retained visual tokens; separators are never candidates.
std::vector<KnobSpec> visionKnobs() {
  return {
      floatKnob("ratio", 0, 1, "0.5",
                "Fraction of each image's visual tokens pruned (separators never are)"),
      intKnob("keep", 0, kBig, "0",
              "If > 0: retained visual tokens in total (shared out over the images in proportion "
              "to their tokens), overriding ratio"),
      choiceKnob("pos.mode", {"original", "renumber"},
                 "original: kept tokens keep their positions (gaps where tokens were dropped); "
                 "renumber: the decoder sees positions 0..n-1, as the references' shortened "
                 "sequences do"),
  };
}

std::vector<KnobSpec> visionZipKnobs() {
  auto k = visionKnobs();
  k.push_back(floatKnob("contextual", 0, 1, "0.16",
                        "Fraction of the kept tokens that are merged contextual tokens (the "
                        "reference's 10 of 64); the rest are dominant"));
  return k;
}

}  // namespace

const std::vector<PolicyInfo>& policyCatalog() {
  static const std::vector<PolicyInfo> catalog = {
      {"full", "No eviction: every KV entry stays (the reference).", {}, "-", "never evicts"},
      {"hae",
       "Hierarchical Adaptive Eviction: dual-attention pruning in prefill, index broadcasting, "
       "recycle-bin decoding.",
       haeKnobs(), "P+K",
       "P: DAP drops visual rows after layer l0 in prefill; K: DDES demotes/purges at every decode "
       "step"},
      {"random",
       "Random control: keeps a seeded random subset of the prompt at the end of prefill, the same "
       "in every layer.",
       {floatKnob("keep_ratio", 0.001, 1, "0.5",
                  "Kept fraction of the candidate tokens (of the prompt, or of the visual tokens "
                  "with scope=visual)"),
        choiceKnob("scope", {"all", "visual"},
                   "Candidates: every prompt token, or visual tokens only"),
        intKnob("seed", 0, 2147483647, "0", "Seed of the draw (same seed, same kept set)")},
       "K", "KV cache of every layer at the end of prefill"},
      {"streaming",
       "StreamingLLM: attention sinks plus a recent window, enforced in prefill and every decode "
       "step.",
       {intKnob("sink", 0, kBig, "4", "Sink tokens kept at the start"),
        intKnob("recent", 1, kBig, "256",
                "Recent tokens kept; kept per layer = sink + recent (absolute tokens)")},
       "K", "KV cache at the end of prefill and at every decode step"},
      {"h2o",
       "H2O: heavy hitters by accumulated attention plus a recent window, greedy each step; per "
       "KV head as in the reference.",
       {floatKnob("heavy_ratio", 0, 1, "0.1",
                  "Heavy hitters kept, as a fraction of the prompt length (fixed at prefill)"),
        floatKnob("recent_ratio", 0, 1, "0.1",
                  "Recent window, as a fraction of the prompt length; kept = heavy + recent"),
        choiceKnob("heads", {"per_head", "shared"},
                   "per_head: every KV head accumulates its own scores and keeps its own tokens "
                   "(the reference; per-head storage); shared: head-averaged scores, one set per "
                   "layer")},
       "K", "KV cache at the end of prefill and at every decode step"},
      {"tova",
       "TOVA: keeps the tokens the last query attends to most (heads averaged), per layer, in "
       "prefill and every step.",
       {intKnob("budget", 1, kBig, "512", "Kept tokens per layer (multi-state size C, absolute)")},
       "K", "KV cache during prefill and at every decode step"},
      {"snapkv",
       "SnapKV: window votes with pooling at the end of prefill, per layer; the cache then grows.",
       snapKnobs(false), "K", "KV cache at the end of prefill"},
      {"pyramidkv", "PyramidKV: SnapKV scoring with budgets decreasing linearly with depth.",
       snapKnobs(true), "K", "KV cache at the end of prefill"},
      {"adakv",
       "Ada-KV: SnapKV scoring with the layer budget shared out across KV heads; ragged per-head "
       "storage, memory really freed.",
       adaKnobs(), "K", "KV cache at the end of prefill"},
      {"fastv",
       "FastV: after layer K-1, drops the visual tokens the last prompt token attends to least; "
       "layers >= K run on the rest.",
       {intKnob("k", 1, 1000, "2", "Layer K from which visual tokens are pruned (scored at K-1)"),
        floatKnob("ratio", 0, 1, "0.5", "R: fraction of visual tokens pruned"),
        intKnob("keep", 0, kBig, "0", "If > 0: retained visual tokens, overriding ratio")},
       "P", "prefill: hidden rows dropped after layer K-1"},
      {"mustdrop",
       "MustDrop's prefill dual-attention filter, applied at several layers (hidden rows dropped).",
       mustdropKnobs(), "P", "prefill: hidden rows dropped after each filter layer"},
      {"uniform",
       "Spatially uniform control: keeps an evenly spaced lattice of each image grid's patches "
       "before the decoder runs.",
       visionKnobs(), "V", "vision side: dropped image tokens never enter the decoder"},
      {"divprune",
       "DivPrune: greedy max-min diversity over the projected visual embeddings (cosine "
       "distance), no attention used.",
       visionKnobs(), "V", "vision side: dropped image tokens never enter the decoder"},
      {"fastervlm",
       "FasterVLM: keeps the patches the vision tower's [CLS] token attends to most (needs a "
       "CLS token: LLaVA, Phi-3.5-V; not SmolVLM's SigLIP).",
       visionKnobs(), "V", "vision side: dropped image tokens never enter the decoder"},
      {"visionzip",
       "VisionZip: dominant patches by the tower's [CLS] attention, the rest merged into a few "
       "contextual tokens by similarity (SigLIP: mean attention received instead of CLS).",
       visionZipKnobs(), "V",
       "vision side: dropped image tokens never enter the decoder; merged tokens are new entries"},
      {"cdpruner",
       "CDPruner: instruction-conditioned similarity kernel and a greedy DPP (MAP) maximising the "
       "conditional diversity of the kept visual tokens.",
       visionKnobs(), "V", "vision side: dropped image tokens never enter the decoder"},
      {"dart",
       "DART: after layer K-1, pivot tokens (largest key norm, visual and query) keep the visual "
       "tokens least similar to them (duplicates dropped); layers >= K run on the rest.",
       {intKnob("k", 1, 1000, "2", "Layer K from which visual tokens are pruned (scored at K-1)"),
        floatKnob("ratio", 0, 1, "0.5", "Fraction of each image's visual tokens pruned"),
        intKnob("keep", 0, kBig, "0",
                "If > 0: retained visual tokens in total (shared over the images), overriding "
                "ratio"),
        intKnob("pivots.image", 0, 1000, "4", "Visual pivot tokens per image (largest key L1 norm)"),
        intKnob("pivots.text", 0, 1000, "4",
                "Query pivot tokens (after the image, largest key L1 norm)")},
       "P", "prefill: hidden rows dropped after layer K-1"},
      {"pyramiddrop",
       "PyramidDrop: the decoder in S equal stages; at each stage's end the last prompt token's "
       "attention keeps the top lambda of the visual tokens left.",
       {intKnob("stages", 2, 100, "4", "Stages S (drops after layers round(j*L/S) - 1, 0 < j < S)"),
        floatKnob("lambda", 0, 1, "0.5",
                  "Kept fraction of the visual tokens at each drop (stage s keeps lambda^s)")},
       "P", "prefill: hidden rows dropped at the end of each stage"},
      {"sparsevlm",
       "SparseVLM: the question tokens that matter (raters) rate the visual tokens at three "
       "layers (the reference's 2, 6, 15 of 32, scaled to the depth); the top ones go on, the "
       "best of the pruned are recycled into a few merged tokens.",
       {floatKnob("ratio", 0, 1, "0.5",
                  "Fraction of each image's visual tokens pruned by the last drop (recycled tokens "
                  "count as kept; the drops before keep geometrically more)"),
        intKnob("keep", 0, kBig, "0",
                "If > 0: visual tokens kept after the last drop in total (shared over the "
                "images), overriding ratio"),
        floatKnob("recycle.share", 0, 1, "0.3",
                  "Recycling candidates per drop: floor(share * pruned) + 1 of the pruned tokens, "
                  "the best rated (the reference's 0.3); 0: no recycling"),
        intKnob("recycle.cluster", 1, kBig, "10",
                "Recycled tokens per drop: floor(candidates / recycle.cluster) + 1 clusters of "
                "the recycled share")},
       "P",
       "prefill: hidden rows dropped after each rating layer; recycled tokens are new entries"},
  };
  return catalog;
}

const std::vector<std::pair<std::string, std::string>>& policyStages() {
  static const std::vector<std::pair<std::string, std::string>> stages = {
      {"V", "decided on the vision side before the decoder runs (the decoder never sees the "
            "dropped tokens)"},
      {"P", "inside the decoder at prefill (hidden rows dropped after a layer)"},
      {"K", "KV cache only (after prefill and/or during decode)"},
  };
  return stages;
}

const PolicyInfo& policyInfo(const std::string& name) {
  for (const auto& p : policyCatalog())
    if (p.name == name) return p;
  std::string known;
  for (const auto& p : policyCatalog()) known += (known.empty() ? "" : ", ") + p.name;
  throw Error(fmt::format("unknown policy '{}' (known: {})", name, known));
}

KnobSet validateKnobs(const std::string& name, const std::map<std::string, std::string>& knobs) {
  const PolicyInfo& info = policyInfo(name);
  KnobSet set(info.name, info.knobs, knobs);
  if (name == "hae") {
    const double budget = set.getFloat("ddes.budget");
    if (budget > 1) {
      if (set.getInt("ddes.bin") > budget)
        set.fail("ddes.bin", fmt::format("is larger than ddes.budget ({} tokens)", budget));
      if (set.getInt("ddes.sink") + set.getInt("ddes.recent") >= budget)
        set.fail("ddes.budget", "must exceed ddes.sink + ddes.recent (protected tokens)");
    }
  } else if (name == "h2o") {
    const double total = set.getFloat("heavy_ratio") + set.getFloat("recent_ratio");
    if (total <= 0) set.fail("heavy_ratio", "and recent_ratio must not both be 0");
    if (total > 1)
      set.fail("recent_ratio", "plus heavy_ratio exceeds 1 (ratios of the prompt length)");
  } else if (name == "snapkv" || name == "pyramidkv" || name == "adakv") {
    if (set.getFloat("keep_ratio") == 0 && set.getInt("window") >= set.getInt("budget"))
      set.fail("window", fmt::format("must be smaller than budget ({})", set.getInt("budget")));
  }
  return set;
}

}  // namespace hae
