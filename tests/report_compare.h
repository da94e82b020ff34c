#pragma once
// Field-by-field comparison of run telemetry, for the report reader's round-trip tests and its
// fuzz target. Exact equality throughout: the JSON writer prints every double so it reads back to
// the same value, so a report read back must equal what was written. NaN equals NaN here (the
// writer stores a non-finite number as null, which reads back as NaN).
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hae/report.h"
#include "hae/telemetry.h"

namespace hae::test {

namespace detail {

inline bool same(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}
inline bool same(float a, float b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}
template <typename T>
bool same(const T& a, const T& b) {
  return a == b;
}
template <typename T>
bool same(const std::optional<T>& a, const std::optional<T>& b) {
  return a.has_value() == b.has_value() && (!a || same(*a, *b));
}

class Differ {
 public:
  template <typename T>
  void operator()(const std::string& path, const T& a, const T& b) {
    if (first.empty() && !same(a, b)) first = path;
  }
  template <typename T, typename Each>
  void list(const std::string& path, const std::vector<T>& a, const std::vector<T>& b, Each each) {
    if (a.size() != b.size()) {
      if (first.empty()) first = path + ".size";
      return;
    }
    for (std::size_t i = 0; i < a.size() && first.empty(); ++i)
      each(path + "[" + std::to_string(i) + "]", a[i], b[i]);
  }
  std::string first;
};

}  // namespace detail

// "" when equal, else the path of the first field that differs ("steps[2].layers[1].ms").
inline std::string firstDifference(const RunInfo& a, const RunInfo& b) {
  detail::Differ d;
  d("model_name", a.model_name, b.model_name);
  d("model_path", a.model_path, b.model_path);
  d("policy_name", a.policy_name, b.policy_name);
  d("knobs", a.knobs, b.knobs);
  d("prompt", a.prompt, b.prompt);
  d("num_layers", a.num_layers, b.num_layers);
  d("kv_bytes_per_token", a.kv_bytes_per_token, b.kv_bytes_per_token);
  d("device", a.device, b.device);
  d("threads", a.threads, b.threads);
  d.list("tokens", a.tokens, b.tokens,
         [&](const std::string& p, const TokenInfo& x, const TokenInfo& y) {
           d(p + ".position", x.position, y.position);
           d(p + ".id", x.id, y.id);
           d(p + ".modality", x.modality, y.modality);
           d(p + ".text", x.text, y.text);
           d(p + ".image", x.image, y.image);
           d(p + ".crop", x.crop, y.crop);
           d(p + ".row", x.row, y.row);
           d(p + ".col", x.col, y.col);
         });
  d("visual_tokens", a.visual_tokens, b.visual_tokens);
  d.list("images", a.images, b.images,
         [&](const std::string& p, const ImageInfo& x, const ImageInfo& y) {
           d(p + ".path", x.path, y.path);
           d(p + ".width", x.width, y.width);
           d(p + ".height", x.height, y.height);
           d.list(p + ".grids", x.grids, y.grids,
                  [&](const std::string& q, const CropGrid& g, const CropGrid& h) {
                    d(q + ".image", g.image, h.image);
                    d(q + ".crop", g.crop, h.crop);
                    d(q + ".rows", g.rows, h.rows);
                    d(q + ".cols", g.cols, h.cols);
                    d(q + ".region.x", g.region.x, h.region.x);
                    d(q + ".region.y", g.region.y, h.region.y);
                    d(q + ".region.w", g.region.w, h.region.w);
                    d(q + ".region.h", g.region.h, h.region.h);
                    d(q + ".global", g.global, h.global);
                  });
         });
  return d.first;
}

inline std::string firstDifference(const std::vector<StepTelemetry>& a,
                                   const std::vector<StepTelemetry>& b) {
  detail::Differ d;
  d.list("steps", a, b, [&](const std::string& p, const StepTelemetry& x, const StepTelemetry& y) {
    d(p + ".step", x.step, y.step);
    d(p + ".token_id", x.token_id, y.token_id);
    d(p + ".token_text", x.token_text, y.token_text);
    d(p + ".context_length", x.context_length, y.context_length);
    d(p + ".model_ms", x.model_ms, y.model_ms);
    d(p + ".policy_ms", x.policy_ms, y.policy_ms);
    d.list(p + ".layers", x.layers, y.layers,
           [&](const std::string& q, const LayerStats& s, const LayerStats& t) {
             for (int m = 0; m < kModalityCount; ++m)
               d(q + ".live." + modalityName(static_cast<Modality>(m)), s.live[m], t.live[m]);
             d(q + ".bin", s.bin, t.bin);
             d(q + ".bytes", s.bytes, t.bytes);
             d(q + ".ms", s.ms, t.ms);
           });
    d.list(p + ".events", x.events, y.events,
           [&](const std::string& q, const PolicyEvent& e, const PolicyEvent& f) {
             d(q + ".kind", e.kind, f.kind);
             d(q + ".step", e.step, f.step);
             d(q + ".layer", e.layer, f.layer);
             d(q + ".head", e.head, f.head);
             d(q + ".position", e.position, f.position);
             d(q + ".modality", e.modality, f.modality);
             d(q + ".score", e.score, f.score);
           });
    d(p + ".patch_states", x.patch_states, y.patch_states);
    d.list(p + ".probes", x.probes, y.probes,
           [&](const std::string& q, const LayerProbe& s, const LayerProbe& t) {
             for (int m = 0; m < kModalityCount; ++m) {
               const std::string name = modalityName(static_cast<Modality>(m));
               d(q + ".attn_variance." + name, s.attn_variance[m], t.attn_variance[m]);
               d(q + ".sparsity." + name, s.sparsity[m], t.sparsity[m]);
             }
             d(q + ".overlap_with_first", s.overlap_with_first, t.overlap_with_first);
           });
    d.list(p + ".merged", x.merged, y.merged,
           [&](const std::string& q, const MergedToken& s, const MergedToken& t) {
             d(q + ".position", s.position, t.position);
             d.list(q + ".members", s.members, t.members,
                    [&](const std::string& r, int u, int w) { d(r, u, w); });
           });
  });
  return d.first;
}

inline std::string firstDifference(const ReportSummary& a, const ReportSummary& b) {
  detail::Differ d;
  d("prompt_tokens", a.prompt_tokens, b.prompt_tokens);
  d("visual_tokens", a.visual_tokens, b.visual_tokens);
  d("generated_tokens", a.generated_tokens, b.generated_tokens);
  d("prefill_ms", a.prefill_ms, b.prefill_ms);
  d("prefill_model_ms", a.prefill_model_ms, b.prefill_model_ms);
  d("prefill_policy_ms", a.prefill_policy_ms, b.prefill_policy_ms);
  d("decode_ms", a.decode_ms, b.decode_ms);
  d("decode_model_ms", a.decode_model_ms, b.decode_model_ms);
  d("decode_policy_ms", a.decode_policy_ms, b.decode_policy_ms);
  d("decode_ms_per_token", a.decode_ms_per_token, b.decode_ms_per_token);
  d("policy_share", a.policy_share, b.policy_share);
  d("peak_cache_bytes", a.peak_cache_bytes, b.peak_cache_bytes);
  d("mean_cache_bytes", a.mean_cache_bytes, b.mean_cache_bytes);
  d("final_cache_bytes", a.final_cache_bytes, b.final_cache_bytes);
  d("full_cache_bytes", a.full_cache_bytes, b.full_cache_bytes);
  d("held_cache_bytes", a.held_cache_bytes, b.held_cache_bytes);
  d("reduction_vs_full", a.reduction_vs_full, b.reduction_vs_full);
  return d.first;
}

}  // namespace hae::test
