// The Chrome trace-event report (JSON object format), which Perfetto, chrome://tracing and Tracy's
// import-chrome open. The telemetry holds durations, not clock readings, so the timeline is rebuilt
// from them: steps back to back, each step = forward (its layers one after another) then the
// policy's work. Times are kept in integer nanoseconds while laying out, so a child never pokes
// out of its parent through rounding; Perfetto drops or mis-nests spans that overlap on one track.
#include <fmt/core.h>
#include <cmath>
#include <nlohmann/json.hpp>

#include "hae/report.h"

namespace hae {

namespace {

using nlohmann::json;

constexpr int kPid = 1;
constexpr int kTid = 1;

std::int64_t toNs(double ms) {
  return std::isfinite(ms) && ms > 0 ? static_cast<std::int64_t>(std::llround(ms * 1e6)) : 0;
}

// Microseconds with three decimals: exact for whole nanoseconds.
double toUs(std::int64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

json span(const std::string& name, const char* cat, std::int64_t ts, std::int64_t dur,
          json args = nullptr) {
  json e = {{"name", name}, {"cat", cat},     {"ph", "X"},       {"pid", kPid},
            {"tid", kTid},  {"ts", toUs(ts)}, {"dur", toUs(dur)}};
  if (!args.is_null()) e["args"] = std::move(args);
  return e;
}

json counter(const std::string& name, std::int64_t ts, json args) {
  return {{"name", name}, {"ph", "C"}, {"pid", kPid}, {"ts", toUs(ts)}, {"args", std::move(args)}};
}

json metadata(const char* name, int tid, json args) {
  json e = {{"name", name}, {"ph", "M"}, {"pid", kPid}, {"args", std::move(args)}};
  if (tid >= 0) e["tid"] = tid;
  return e;
}

std::string layerName(std::size_t l) {
  return fmt::format("layer {:02d}", l);
}

void addCounters(json& events, const StepTelemetry* t, std::size_t layers, std::int64_t ts) {
  json bytes = json::object(), bin = json::object(), live = json::object();
  for (std::size_t l = 0; l < layers; ++l) {
    const bool have = t && l < t->layers.size();
    bytes[layerName(l)] = have ? t->layers[l].bytes : 0;
    bin[layerName(l)] = have ? t->layers[l].bin : 0;
    live[layerName(l)] = have ? t->liveSlots(static_cast<int>(l)) : 0;
  }
  events.push_back(counter("cache bytes", ts, std::move(bytes)));
  events.push_back(counter("recycle bin slots", ts, std::move(bin)));
  events.push_back(counter("live slots", ts, std::move(live)));
  events.push_back(counter("cache bytes total", ts, {{"bytes", t ? t->totalBytes() : 0}}));
  // Issue 16: the shadow's divergence and missed attention (mean over layers), when it ran. The
  // shadow's own time is not on the timeline: the spans are the policy run's.
  if (t && t->shadow) {
    const ShadowStep& s = *t->shadow;
    double visual = 0, text = 0;
    for (const auto& l : s.layers)
      for (int m = 0; m < kModalityCount; ++m)
        (m == static_cast<int>(Modality::Visual) ? visual : text) += l.missed_evicted[m] + l.missed_binned[m];
    const double n = s.layers.empty() ? 1.0 : static_cast<double>(s.layers.size());
    events.push_back(counter("shadow KL", ts, {{"kl", std::isfinite(s.kl) ? s.kl : 0.0}}));
    events.push_back(counter("missed attention", ts, {{"visual", visual / n}, {"text", text / n}}));
  }
}

}  // namespace

std::string reportTrace(const RunInfo& info, const std::vector<StepTelemetry>& steps) {
  json config = {{"model", info.model_name},
                 {"model_path", info.model_path},
                 {"policy", info.policy_name},
                 {"device", info.device},
                 {"threads", info.threads},
                 {"prompt_tokens", info.tokens.size()},
                 {"visual_tokens", info.visual_tokens.size()}};
  json knobs = json::object();
  for (const auto& [k, v] : info.knobs) knobs[k] = v;
  config["knobs"] = knobs;

  std::size_t layers = static_cast<std::size_t>(std::max(info.num_layers, 0));
  for (const auto& t : steps) layers = std::max(layers, t.layers.size());

  json events = json::array();
  events.push_back(
      metadata("process_name", -1,
               {{"name", fmt::format("hae run: {} / {}", info.model_name, info.policy_name)}}));
  events.push_back(metadata("thread_name", kTid, {{"name", "run"}}));
  events.push_back(metadata("thread_sort_index", kTid, {{"sort_index", 0}}));
  addCounters(events, nullptr, layers, 0);  // the cache is empty before the prefill

  std::int64_t t0 = 0;
  json step_spans = json::array();
  for (const auto& t : steps) {
    const std::int64_t model = toNs(t.model_ms);
    const std::int64_t policy = toNs(t.policy_ms);
    const std::string name =
        t.step == 0 ? std::string("prefill") : fmt::format("decode {}", t.step);
    step_spans.push_back(span(name, t.step == 0 ? "prefill" : "decode", t0, model + policy,
                              {{"step", t.step},
                               {"token_id", t.token_id},
                               {"token", t.token_text},
                               {"context_length", t.context_length},
                               {"cache_bytes", t.totalBytes()}}));
    step_spans.push_back(span("forward", "model", t0, model));
    // Layer times are measured inside the forward; should their sum exceed it (timer noise),
    // they are scaled down so they still fit inside their parent.
    std::vector<std::int64_t> layer_ns;
    std::int64_t sum = 0;
    for (const auto& l : t.layers) sum += layer_ns.emplace_back(toNs(l.ms));
    if (sum > model && sum > 0) {
      for (auto& ns : layer_ns)
        ns = static_cast<std::int64_t>(static_cast<long double>(ns) * model / sum);
    }
    std::int64_t lt = t0;
    for (std::size_t l = 0; l < layer_ns.size(); ++l) {
      step_spans.push_back(span(layerName(l), "layer", lt, layer_ns[l],
                                {{"layer", l},
                                 {"measured_ms", t.layers[l].ms},
                                 {"cache_bytes", t.layers[l].bytes},
                                 {"bin_slots", t.layers[l].bin}}));
      lt += layer_ns[l];
    }
    int counts[4] = {};
    for (const auto& e : t.events) ++counts[static_cast<int>(e.kind)];
    step_spans.push_back(span("policy", "policy", t0 + model, policy,
                              {{"evict", counts[0]},
                               {"demote", counts[1]},
                               {"restore", counts[2]},
                               {"purge", counts[3]}}));
    if (!t.events.empty()) {
      std::string what;
      for (int k = 0; k < 4; ++k) {
        if (!counts[k]) continue;
        if (!what.empty()) what += ", ";
        what += fmt::format("{} {}", eventKindName(static_cast<EventKind>(k)), counts[k]);
      }
      step_spans.push_back({{"name", what},
                            {"cat", "policy"},
                            {"ph", "i"},
                            {"s", "t"},
                            {"pid", kPid},
                            {"tid", kTid},
                            {"ts", toUs(t0 + model)}});
    }
    t0 += model + policy;
    addCounters(events, &t, layers, t0);
  }
  // One span over the whole run carries the configuration, so clicking it in Perfetto shows it.
  events.push_back(span("run", "run", 0, t0, config));
  for (auto& e : step_spans) events.push_back(std::move(e));

  // Trace viewers show otherData as a flat table of strings.
  json other = {{"generator", "hae-studio"},
                {"model", info.model_name},
                {"policy", info.policy_name},
                {"device", info.device},
                {"threads", std::to_string(info.threads)}};
  for (const auto& [k, v] : info.knobs) other["knob " + k] = v;
  json doc = {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"otherData", other}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace hae
