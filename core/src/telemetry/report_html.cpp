// The self-contained HTML report: one file with inline CSS, inline SVG charts and the overlay as
// base64 PNG, so it opens anywhere with no network access (no CDN, no scripts).
#include <fmt/core.h>
#include <algorithm>
#include <array>
#include <cmath>

#include "hae/report.h"
#include "report_svg.h"

namespace hae {

namespace {

using report_detail::ChartSeries;
using report_detail::ChartSpec;
using report_detail::HeatMapSpec;
using report_detail::svgHeatMap;
using report_detail::htmlEscape;

constexpr const char* kVisual = "#3478d2";
constexpr const char* kOther = "#965abe";
constexpr const char* kBin = "#e69600";
constexpr const char* kEvicted = "#8c1414";
constexpr const char* kKept = "#2ea043";
constexpr const char* kEventColors[4] = {kEvicted, kBin, kKept, "#666666"};

constexpr const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
  background:#f5f6f8;color:#1d2330}
main{max-width:1080px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:26px}h2{font-size:18px;margin:28px 0 10px}
.sub{color:#5a6270;margin:0 0 8px}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:4px 18px 16px;margin-top:16px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde1e7;border-radius:6px;padding:8px 12px;min-width:130px}
.card b{display:block;font-size:20px}.card span{color:#5a6270;font-size:12px}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{color:#5a6270;font-weight:600}
.steps td{font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:0 16px 12px 0;vertical-align:top}
figure img{max-width:100%;border:1px solid #dde1e7}
figcaption{font-size:13px;color:#5a6270}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.sw{display:inline-block;width:12px;height:12px;border:1px solid #999;vertical-align:-2px;margin-right:4px}
pre{white-space:pre-wrap;background:#f5f6f8;padding:10px;border-radius:6px;font-size:14px}
svg.chart{max-width:100%;height:auto;display:block;margin:8px 0}
svg .ct{font-size:14px;font-weight:600;fill:#1d2330}svg .cs{font-size:12px;fill:#5a6270}
svg .cl,svg .tl{font-size:11px;fill:#3c4350}svg .al{font-size:12px;fill:#3c4350}
svg .grid{stroke:#e6e8ec}svg .axis{stroke:#6b7280}
)";

std::string ms(double v) {
  return fmt::format("{:.2f} ms", v);
}

std::string bytesText(double b) {
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt::format("{:.2f} MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{:.0f} B", b);
}

std::string card(const std::string& value, const std::string& label) {
  return fmt::format("<div class=\"card\"><b>{}</b><span>{}</span></div>", htmlEscape(value),
                     htmlEscape(label));
}

std::string row(const std::string& key, const std::string& value) {
  return fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", htmlEscape(key), htmlEscape(value));
}

int layerCount(const RunInfo& info, const std::vector<StepTelemetry>& steps) {
  std::size_t n = static_cast<std::size_t>(std::max(info.num_layers, 0));
  for (const auto& t : steps) n = std::max({n, t.layers.size(), t.patch_states.size()});
  return static_cast<int>(n);
}

std::string cacheLayersChart(const StepTelemetry& last, int layers) {
  ChartSpec c;
  c.id = "plot-cache-layers";
  c.title = "Cache size per layer at the final step";
  c.subtitle = fmt::format("step {}: live slots by modality and recycle-bin slots", last.step);
  c.x_label = "layer";
  c.y_label = "slots";
  c.stack_bars = true;
  ChartSeries visual{"live visual", kVisual}, other{"live text and other", kOther},
      bin{"recycle bin", kBin};
  for (int l = 0; l < layers; ++l) {
    c.x.push_back(l);
    const LayerStats s = l < static_cast<int>(last.layers.size()) ? last.layers[l] : LayerStats{};
    const int vis = s.live[static_cast<int>(Modality::Visual)];
    int total = 0;
    for (int v : s.live) total += v;
    visual.y.push_back(vis);
    other.y.push_back(total - vis);
    bin.y.push_back(s.bin);
  }
  c.series = {visual, other, bin};
  return svgChart(c);
}

std::string cacheStepsChart(const RunInfo& info, const std::vector<StepTelemetry>& steps,
                            int layers) {
  ChartSpec c;
  c.id = "plot-cache-steps";
  c.title = "Cache size per step";
  double max_bytes = 0;
  for (const auto& t : steps) max_bytes = std::max(max_bytes, static_cast<double>(t.totalBytes()));
  const bool mib = max_bytes >= 1024.0 * 1024;
  const double unit = mib ? 1024.0 * 1024 : 1024.0;
  c.x_label = "step (0 = prefill)";
  c.y_label = mib ? "MiB" : "KiB";
  ChartSeries allocated{"allocated storage", kVisual, {}, ChartSeries::Kind::Line};
  ChartSeries held{"slots held (live + bin)", kKept, {}, ChartSeries::Kind::Line};
  ChartSeries full{"full cache", "#6b7280", {}, ChartSeries::Kind::Line};
  full.dashed = true;
  // Bytes per slot in one layer; the storage may hold headroom beyond the slots in use.
  const double slot_bytes =
      layers > 0 ? static_cast<double>(info.kv_bytes_per_token) / layers : 0.0;
  for (const auto& t : steps) {
    c.x.push_back(t.step);
    allocated.y.push_back(static_cast<double>(t.totalBytes()) / unit);
    double slots = 0;
    for (std::size_t l = 0; l < t.layers.size(); ++l)
      slots += t.liveSlots(static_cast<int>(l)) + t.layers[l].bin;
    held.y.push_back(slots * slot_bytes / unit);
    const int context =
        t.context_length > 0 ? t.context_length : static_cast<int>(info.tokens.size()) + t.step;
    full.y.push_back(static_cast<double>(context) * static_cast<double>(info.kv_bytes_per_token) /
                     unit);
  }
  c.series = {allocated};
  if (info.kv_bytes_per_token > 0) {
    c.series.push_back(held);
    c.series.push_back(full);
    c.subtitle = "full cache: context tokens x KV bytes per token";
  }
  return svgChart(c);
}

std::string latencyChart(const std::vector<StepTelemetry>& steps, const ReportSummary& s) {
  ChartSpec c;
  c.id = "plot-latency";
  c.title = "Latency per decode step";
  c.subtitle = fmt::format("prefill (not plotted): {:.2f} ms model + {:.2f} ms policy",
                           s.prefill_model_ms, s.prefill_policy_ms);
  c.x_label = "decode step";
  c.y_label = "ms";
  ChartSeries model{"model", kVisual, {}, ChartSeries::Kind::Line};
  ChartSeries policy{"policy", kBin, {}, ChartSeries::Kind::Line};
  for (const auto& t : steps) {
    if (t.step == 0) continue;
    c.x.push_back(t.step);
    model.y.push_back(t.model_ms);
    policy.y.push_back(t.policy_ms);
  }
  c.series = {model, policy};
  return svgChart(c);
}

std::string binChart(const std::vector<StepTelemetry>& steps) {
  ChartSpec c;
  c.id = "plot-bin-activity";
  c.title = "Recycle-bin activity per step";
  c.x_label = "step (0 = prefill)";
  c.y_label = "events";
  c.y2_label = "bin slots (mean per layer)";
  // A prefill burst would flatten every decode step's bars: leave it out and give its counts.
  auto counts = [](const StepTelemetry& t) {
    std::array<int, 4> n{};
    for (const auto& e : t.events) ++n[static_cast<int>(e.kind)];
    return n;
  };
  int decode_max = 0, prefill_total = 0;
  bool has_decode = false;
  for (const auto& t : steps) {
    const auto n = counts(t);
    const int m = *std::max_element(n.begin(), n.end());
    if (t.step == 0)
      prefill_total = n[0] + n[1] + n[2] + n[3];
    else {
      decode_max = std::max(decode_max, m);
      has_decode = true;
    }
  }
  const bool skip_prefill = has_decode && prefill_total > 3 * std::max(decode_max, 1);
  std::vector<ChartSeries> bars;
  for (int k = 0; k < 4; ++k)
    bars.push_back({eventKindName(static_cast<EventKind>(k)), kEventColors[k]});
  ChartSeries occupancy{"bin occupancy", kVisual, {}, ChartSeries::Kind::Line, true};
  for (const auto& t : steps) {
    const auto n = counts(t);
    if (t.step == 0 && skip_prefill) {
      c.subtitle = fmt::format(
          "prefill (off the scale, not plotted): evict {}, demote {}, restore {}, purge {}", n[0],
          n[1], n[2], n[3]);
      continue;
    }
    c.x.push_back(t.step);
    for (int k = 0; k < 4; ++k) bars[k].y.push_back(n[k]);
    double bin = 0;
    for (const auto& l : t.layers) bin += l.bin;
    occupancy.y.push_back(t.layers.empty() ? 0 : bin / static_cast<double>(t.layers.size()));
  }
  c.series = bars;
  c.series.push_back(occupancy);
  return svgChart(c);
}

// Issue 16: the full-cache shadow's regret plot (KL and top-1 agreement per step) and the missed
// attention per layer and step, with the run's shadow summary.
std::string shadowSection(const std::vector<StepTelemetry>& steps, int layers) {
  const auto sum = summarizeShadow(steps);
  if (!sum) return "";
  std::string h = "<section id=\"shadow\">\n<h2>What eviction cost: the full-cache shadow</h2>\n";
  h += "<div class=\"cards\">\n";
  h += card(fmt::format("{:.4g}", sum->mean_kl), "mean KL(full || policy)");
  h += card(fmt::format("{:.4g} (step {})", sum->worst_kl, sum->worst_kl_step), "worst KL");
  h += card(fmt::format("{:.1f} %", 100 * sum->top1_agreement), "top-1 agreement");
  h += card(fmt::format("{:.4f}", sum->mean_missed_visual), "missed attention, visual");
  h += card(fmt::format("{:.4f}", sum->mean_missed_text), "missed attention, text");
  if (sum->first_divergence >= 0)
    h += card(std::to_string(sum->first_divergence), "first divergence (free-running)");
  h += card(fmt::format("{} / {}", sum->regretted_purges, sum->timely_restores),
            "regretted purges / timely restores");
  h += card(ms(sum->shadow_ms), "shadow time (not in the run's)");
  h += "</div>\n";
  ChartSpec c;
  c.id = "plot-regret";
  c.title = "Regret: divergence from the full cache per step";
  c.x_label = "step (0 = prefill)";
  c.y_label = "KL(full || policy), nats";
  c.y2_label = "top-1 agreement";
  ChartSeries kl{"KL", kEvicted, {}, ChartSeries::Kind::Line};
  ChartSeries agree{"top-1 agrees (1) / differs (0)", kKept, {}, ChartSeries::Kind::Line, true, true};
  HeatMapSpec m;
  m.id = "plot-missed-attention";
  m.title = "Missed attention per layer and step (full model's head-mean attention the policy's cache could not show)";
  m.x_label = "step (0 = prefill)";
  m.y_label = "layer";
  m.rows = layers;
  std::vector<std::vector<double>> cols;
  double max = 0;
  for (const auto& t : steps) {
    if (!t.shadow) continue;
    c.x.push_back(t.step);
    kl.y.push_back(t.shadow->kl);
    agree.y.push_back(t.shadow->top1_agree ? 1 : 0);
    m.x.push_back(t.step);
    std::vector<double> col(layers, 0.0);
    for (int l = 0; l < layers && l < static_cast<int>(t.shadow->layers.size()); ++l)
      max = std::max(max, col[l] = t.shadow->layers[l].missed());
    cols.push_back(std::move(col));
  }
  m.values.assign(static_cast<std::size_t>(layers) * cols.size(), 0.0);
  for (std::size_t s = 0; s < cols.size(); ++s)
    for (int l = 0; l < layers; ++l) m.values[static_cast<std::size_t>(l) * cols.size() + s] = cols[s][l];
  m.max = max > 0 ? max : 1;
  m.subtitle = fmt::format("white = 0, dark red = {:.4g} (the run's worst layer and step)", m.max);
  c.series = {kl, agree};
  h += svgChart(c);
  h += svgHeatMap(m);
  int regrets = 0;
  for (const auto& t : steps) regrets += static_cast<int>(t.regrets.size());
  if (regrets > 0) {
    h += "<table class=\"steps\">\n<tr><th>kind</th><th>position</th><th>layer</th><th>decided at "
         "step</th><th>wanted at step</th><th>attention</th></tr>\n";
    for (const auto& t : steps)
      for (const auto& r : t.regrets)
        h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4g}</td></tr>\n",
                         regretKindName(r.kind), r.position, r.layer < 0 ? std::string("all") : std::to_string(r.layer),
                         r.event_step, r.wanted_step, r.attention);
    h += "</table>\n";
  }
  return h + "</section>\n";
}

std::vector<int> chooseLayers(const HtmlReportOptions& options, int layers) {
  std::vector<int> out;
  if (!options.overlay_layers.empty()) {
    for (int l : options.overlay_layers)
      if (l >= 0 && l < layers) out.push_back(l);
  } else if (layers > 0) {
    out = {0, (layers - 1) / 2, layers - 1};
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::string reportHtml(const RunInfo& info, const std::vector<StepTelemetry>& steps,
                       const std::string& answer, const HtmlReportOptions& options) {
  const ReportSummary s = summarizeRun(info, steps);
  const int layers = layerCount(info, steps);
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += fmt::format("<title>HAE Studio run report: {} / {}</title>\n", htmlEscape(info.model_name),
                   htmlEscape(info.policy_name));
  h += fmt::format("<style>{}</style>\n</head>\n<body>\n<main>\n", kStyle);
  h += "<h1>HAE Studio run report</h1>\n";
  h +=
      fmt::format("<p class=\"sub\">{} &middot; policy {} &middot; {} &middot; schema {} v{}</p>\n",
                  htmlEscape(info.model_name), htmlEscape(info.policy_name),
                  htmlEscape(info.device), kRunReportSchema, kRunReportSchemaVersion);

  // Summary.
  h += "<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"cards\">\n";
  h += card(ms(s.prefill_ms), "prefill (model + policy)");
  h += card(s.generated_tokens ? ms(s.decode_ms_per_token) : "-", "decode per token");
  h += card(fmt::format("{:.1f} %", 100 * s.policy_share), "policy share of compute");
  h += card(bytesText(static_cast<double>(s.peak_cache_bytes)), "peak cache");
  h += card(bytesText(static_cast<double>(s.mean_cache_bytes)), "mean cache");
  h += card(bytesText(static_cast<double>(s.final_cache_bytes)), "final cache");
  if (s.full_cache_bytes)
    h += card(bytesText(static_cast<double>(*s.full_cache_bytes)), "full cache (final)");
  if (s.held_cache_bytes)
    h += card(bytesText(static_cast<double>(*s.held_cache_bytes)), "slots held (final)");
  if (s.reduction_vs_full)
    h += card(fmt::format("{:.1f} %", 100 * *s.reduction_vs_full), "KV reduction vs full");
  h += card(fmt::format("{} ({} visual)", s.prompt_tokens, s.visual_tokens), "prompt tokens");
  h += card(std::to_string(s.generated_tokens), "generated tokens");
  h += "</div>\n</section>\n";

  // Settings.
  h += "<section id=\"settings\">\n<h2>Settings</h2>\n<table>\n";
  h += row("model", info.model_name);
  if (!info.model_path.empty()) h += row("model folder", info.model_path);
  h += row("layers", std::to_string(layers));
  if (info.kv_bytes_per_token > 0)
    h += row("KV bytes per token", bytesText(static_cast<double>(info.kv_bytes_per_token)));
  h += row("device", info.device);
  h += row("threads", std::to_string(info.threads));
  h += row("policy", info.policy_name);
  for (const auto& [k, v] : info.knobs) h += row("  " + k, v);
  h += row("prompt", info.prompt);
  for (std::size_t i = 0; i < info.images.size(); ++i) {
    const auto& im = info.images[i];
    std::string grids;
    for (const auto& g : im.grids)
      grids += fmt::format("{}{}x{}{}", grids.empty() ? "" : ", ", g.rows, g.cols,
                           g.global ? " (global)" : "");
    h += row(fmt::format("image {}", i),
             fmt::format("{} ({}x{} px; grids {})", im.path, im.width, im.height, grids));
  }
  h += "</table>\n</section>\n";

  // Overlay at chosen layers, final step.
  h += "<section id=\"overlay\">\n<h2>Visual patches at the final step</h2>\n";
  if (steps.empty() || info.visual_tokens.empty()) {
    h += "<p>No visual tokens in this run.</p>\n";
  } else {
    const StepTelemetry& last = steps.back();
    h += fmt::format(
        "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#fff\"></i>kept</span>"
        "<span><i class=\"sw\" style=\"background:{}\"></i>recycle bin</span>"
        "<span><i class=\"sw\" style=\"background:{}\"></i>evicted</span> (step {})</p>\n",
        kBin, kEvicted, last.step);
    for (int l : chooseLayers(options, layers)) {
      int kept = 0, bin = 0, gone = 0;
      if (l < static_cast<int>(last.patch_states.size()))
        for (PatchState p : last.patch_states[l])
          (p == PatchState::Kept ? kept : p == PatchState::InBin ? bin : gone)++;
      const auto png = overlayPng(info, last, l, options.overlay_max_width);
      h += fmt::format(
          "<figure id=\"overlay-layer-{}\"><img alt=\"patches of layer {}\" "
          "src=\"data:image/png;base64,{}\">"
          "<figcaption>layer {}: {} kept, {} in the bin, {} evicted</figcaption></figure>\n",
          l, l, report_detail::base64(png), l, kept, bin, gone);
    }
  }
  h += "</section>\n";

  // Plots.
  h += "<section id=\"plots\">\n<h2>Cache, latency and recycle bin</h2>\n";
  if (!steps.empty()) h += cacheLayersChart(steps.back(), layers);
  h += cacheStepsChart(info, steps, layers);
  h += latencyChart(steps, s);
  h += binChart(steps);
  h += "</section>\n";
  h += shadowSection(steps, layers);

  // The answer and its steps.
  h += "<section id=\"answer\">\n<h2>Generated text</h2>\n";
  h += fmt::format("<pre>{}</pre>\n", htmlEscape(answer));
  h += "<table class=\"steps\">\n<tr><th>step</th><th>token</th><th>model</th><th>policy</th>"
       "<th>cache</th><th>events</th></tr>\n";
  for (const auto& t : steps)
    h += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{:.2f} ms</td><td>{:.3f} "
        "ms</td><td>{}</td><td>{}</td></tr>\n",
        t.step, t.step == 0 ? std::string("(prefill)") : htmlEscape(t.token_text), t.model_ms,
        t.policy_ms, bytesText(static_cast<double>(t.totalBytes())), t.events.size());
  h += "</table>\n</section>\n";
  h += "</main>\n</body>\n</html>\n";
  return h;
}

}  // namespace hae
