// The JSON run report. Its shape is pinned by resources/schemas/run-report.schema.json; change
// both together and bump kRunReportSchemaVersion when a field changes meaning or goes away.
#include <cmath>
#include <nlohmann/json.hpp>

#include "hae/report.h"

namespace hae {

namespace {

using nlohmann::json;

// JSON has no NaN or infinity; a probe or score that is not finite becomes null.
json number(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json perModality(const int (&v)[kModalityCount]) {
  json o = json::object();
  for (int m = 0; m < kModalityCount; ++m) o[modalityName(static_cast<Modality>(m))] = v[m];
  return o;
}

json perModality(const double (&v)[kModalityCount]) {
  json o = json::object();
  for (int m = 0; m < kModalityCount; ++m) o[modalityName(static_cast<Modality>(m))] = number(v[m]);
  return o;
}

json region(const PatchRect& r) {
  return {{"x", r.x}, {"y", r.y}, {"w", r.w}, {"h", r.h}};
}

json inputs(const RunInfo& info) {
  json images = json::array();
  for (const auto& im : info.images) {
    json grids = json::array();
    for (const auto& g : im.grids)
      grids.push_back({{"image", g.image},
                       {"crop", g.crop},
                       {"rows", g.rows},
                       {"cols", g.cols},
                       {"region", region(g.region)},
                       {"global", g.global}});
    images.push_back(
        {{"path", im.path}, {"width", im.width}, {"height", im.height}, {"grids", grids}});
  }
  return {{"prompt", info.prompt}, {"images", images}};
}

json tokens(const RunInfo& info) {
  json out = json::array();
  for (const auto& t : info.tokens) {
    json o = {{"position", t.position},
              {"id", t.id},
              {"modality", modalityName(t.modality)},
              {"text", t.text}};
    if (t.modality == Modality::Visual)
      o.update({{"image", t.image}, {"crop", t.crop}, {"row", t.row}, {"col", t.col}});
    out.push_back(std::move(o));
  }
  return out;
}

json perModality(const float (&v)[kModalityCount]) {
  json o = json::object();
  for (int m = 0; m < kModalityCount; ++m) o[modalityName(static_cast<Modality>(m))] = number(v[m]);
  return o;
}

json choices(const std::vector<TokenChoice>& top) {
  json out = json::array();
  for (const auto& c : top) out.push_back({{"id", c.id}, {"prob", number(c.prob)}, {"text", c.text}});
  return out;
}

json floats(const std::vector<float>& v) {
  json out = json::array();
  for (float x : v) out.push_back(number(x));
  return out;
}

// Issue 16: the full-cache shadow's measurements of one step (see core/src/engine/shadow.h).
json shadow(const ShadowStep& s) {
  json layers = json::array();
  for (const auto& l : s.layers)
    layers.push_back({{"missed_evicted", perModality(l.missed_evicted)},
                      {"missed_binned", perModality(l.missed_binned)}});
  json visual = json::array();
  for (const auto& row : s.visual_attention) visual.push_back(floats(row));
  return {{"kl", number(s.kl)},
          {"total_variation", number(s.total_variation)},
          {"top1_agree", s.top1_agree},
          {"policy_token_rank", s.policy_token_rank},
          {"full_token_id", s.full_token_id},
          {"top_full", choices(s.top_full)},
          {"top_policy", choices(s.top_policy)},
          {"layers", layers},
          {"visual_attention", visual},
          {"ms", number(s.ms)}};
}

json step(const StepTelemetry& t, bool with_attention) {
  json layers = json::array();
  for (std::size_t l = 0; l < t.layers.size(); ++l) {
    const auto& s = t.layers[l];
    layers.push_back({{"layer", static_cast<int>(l)},
                      {"live", perModality(s.live)},
                      {"bin", s.bin},
                      {"bytes", s.bytes},
                      {"ms", number(s.ms)}});
  }
  json events = json::array();
  for (const auto& e : t.events)
    events.push_back({{"kind", eventKindName(e.kind)},
                      {"layer", e.layer},
                      {"head", e.head},
                      {"position", e.position},
                      {"modality", modalityName(e.modality)},
                      {"score", number(e.score)}});
  json patches = json::array();
  for (const auto& layer : t.patch_states) patches.push_back(patchStateString(layer));
  json o = {{"step", t.step},
            {"token_id", t.token_id},
            {"token_text", t.token_text},
            {"context_length", t.context_length},
            {"model_ms", number(t.model_ms)},
            {"policy_ms", number(t.policy_ms)},
            {"cache_bytes", t.totalBytes()},
            {"layers", layers},
            {"events", events},
            {"patch_states", patches}};
  if (!t.probes.empty()) {
    json probes = json::array();
    for (const auto& p : t.probes)
      probes.push_back({{"attn_variance", perModality(p.attn_variance)},
                        {"sparsity", perModality(p.sparsity)},
                        {"overlap_with_first", number(p.overlap_with_first)}});
    o["probes"] = probes;
  }
  if (!t.merged.empty()) {  // VisionZip's contextual tokens: which patches each stands for
    json merged = json::array();
    for (const auto& m : t.merged) merged.push_back({{"position", m.position}, {"members", m.members}});
    o["merged"] = merged;
  }
  if (t.shadow) o["shadow"] = shadow(*t.shadow);
  if (!t.regrets.empty()) {
    json regrets = json::array();
    for (const auto& r : t.regrets)
      regrets.push_back({{"kind", regretKindName(r.kind)},
                         {"position", r.position},
                         {"layer", r.layer},
                         {"event_step", r.event_step},
                         {"wanted_step", r.wanted_step},
                         {"attention", number(r.attention)}});
    o["regrets"] = regrets;
  }
  if (with_attention && !t.attention.empty()) {
    json layers = json::array();
    for (const auto& a : t.attention) layers.push_back({{"heads", a.heads}, {"weights", floats(a.weights)}});
    o["attention"] = layers;
  }
  return o;
}

template <typename T>
json optional(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

std::string reportJson(const RunInfo& info, const std::vector<StepTelemetry>& steps,
                       const std::string& answer) {
  const ReportSummary s = summarizeRun(info, steps);
  json knobs = json::object();
  for (const auto& [k, v] : info.knobs) knobs[k] = v;
  json all_steps = json::array();
  // Recorded attention (SessionOptions::record_attention) is heads x visual tokens per layer and
  // step: written only while the whole run's stays within kMaxReportAttentionValues.
  std::size_t attention_values = 0;
  for (const auto& t : steps)
    for (const auto& a : t.attention) attention_values += a.weights.size();
  const bool with_attention = attention_values <= kMaxReportAttentionValues;
  for (const auto& t : steps) all_steps.push_back(step(t, with_attention));
  json doc = {
      {"schema", kRunReportSchema},
      {"schema_version", kRunReportSchemaVersion},
      {"model",
       {{"name", info.model_name},
        {"path", info.model_path},
        {"num_layers", info.num_layers},
        {"kv_bytes_per_token", info.kv_bytes_per_token},
        {"device", info.device},
        {"threads", info.threads}}},
      {"policy", {{"name", info.policy_name}, {"knobs", knobs}}},
      {"inputs", inputs(info)},
      {"tokens", tokens(info)},
      {"visual_tokens", info.visual_tokens},
      {"steps", all_steps},
      {"answer", answer},
      {"timings",
       {{"prefill_ms", number(s.prefill_ms)},
        {"prefill_model_ms", number(s.prefill_model_ms)},
        {"prefill_policy_ms", number(s.prefill_policy_ms)},
        {"decode_ms", number(s.decode_ms)},
        {"decode_model_ms", number(s.decode_model_ms)},
        {"decode_policy_ms", number(s.decode_policy_ms)},
        {"decode_ms_per_token", number(s.decode_ms_per_token)},
        {"total_ms", number(s.prefill_ms + s.decode_ms)}}},
      {"summary",
       {{"prompt_tokens", s.prompt_tokens},
        {"visual_tokens", s.visual_tokens},
        {"generated_tokens", s.generated_tokens},
        {"prefill_ms", number(s.prefill_ms)},
        {"decode_ms_per_token", number(s.decode_ms_per_token)},
        {"policy_share", number(s.policy_share)},
        {"peak_cache_bytes", s.peak_cache_bytes},
        {"mean_cache_bytes", s.mean_cache_bytes},
        {"final_cache_bytes", s.final_cache_bytes},
        {"full_cache_bytes", optional(s.full_cache_bytes)},
        {"held_cache_bytes", optional(s.held_cache_bytes)},
        {"reduction_vs_full", optional(s.reduction_vs_full)}}},
  };
  // Token pieces can be partial UTF-8 sequences (byte-level BPE); replace rather than throw.
  return doc.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace hae
