// The bench's trade-off plots (quality against mean KV bytes, prefill time and decode time, one
// point per cell, the Pareto front drawn, stages coloured) and summary.html, which holds them
// inline with the table, so the page opens anywhere without other files.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "../policies/catalog.h"
#include "../telemetry/report_svg.h"
#include "hae/bench.h"

namespace hae::bench {

namespace {

using report_detail::htmlEscape;

double axisValue(const CellSummary& c, PlotAxis axis) {
  switch (axis) {
    case PlotAxis::MeanKvBytes:
      return c.mean_bytes;
    case PlotAxis::PrefillMs:
      return c.prefill_ms;
    case PlotAxis::DecodeMsPerToken:
      return c.decode_ms_per_token;
  }
  return 0;
}

const char* axisTitle(PlotAxis axis) {
  switch (axis) {
    case PlotAxis::MeanKvBytes:
      return "mean KV held (KiB)";
    case PlotAxis::PrefillMs:
      return "prefill (ms)";
    case PlotAxis::DecodeMsPerToken:
      return "decode (ms / token)";
  }
  return "";
}

double axisScale(PlotAxis axis) {
  return axis == PlotAxis::MeanKvBytes ? 1.0 / 1024.0 : 1.0;
}

std::string stageOf(const std::string& policy) {
  try {
    return policyInfo(policy).stage;
  } catch (const std::exception&) {
    return "?";
  }
}

// One colour per stage label, the same in every plot and the legend.
const char* stageColour(const std::string& stage) {
  if (stage == "V") return "#1f77b4";
  if (stage == "P") return "#ff7f0e";
  if (stage == "K") return "#2ca02c";
  if (stage == "P+K") return "#d62728";
  return "#555555";  // full ("-") and anything unknown
}

// Ticks at 1, 2 or 5 x 10^k covering [lo, hi].
std::vector<double> ticks(double lo, double hi) {
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push_back(t);
  return out;
}

}  // namespace

double cellQuality(const CellSummary& c) {
  return c.short_cases > 0 ? c.short_accuracy : c.long_f1_ref;
}

std::vector<std::size_t> paretoFront(const std::vector<CellSummary>& cells, PlotAxis axis) {
  std::vector<std::size_t> front;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const double xi = axisValue(cells[i], axis), qi = cellQuality(cells[i]);
    bool dominated = false;
    for (std::size_t j = 0; j < cells.size() && !dominated; ++j) {
      if (j == i) continue;
      const double xj = axisValue(cells[j], axis), qj = cellQuality(cells[j]);
      dominated = xj <= xi && qj >= qi && (xj < xi || qj > qi);
    }
    if (!dominated) front.push_back(i);
  }
  std::sort(front.begin(), front.end(), [&](std::size_t a, std::size_t b) {
    return axisValue(cells[a], axis) < axisValue(cells[b], axis);
  });
  return front;
}

std::string tradeoffSvg(const std::vector<CellSummary>& cells, PlotAxis axis) {
  constexpr double W = 640, H = 420, left = 64, right = 150, top = 28, bottom = 52;
  const double pw = W - left - right, ph = H - top - bottom;
  const double scale = axisScale(axis);
  double xlo = std::numeric_limits<double>::max(), xhi = 0, qlo = 1, qhi = 0;
  for (const auto& c : cells) {
    xlo = std::min(xlo, axisValue(c, axis) * scale);
    xhi = std::max(xhi, axisValue(c, axis) * scale);
    qlo = std::min(qlo, cellQuality(c));
    qhi = std::max(qhi, cellQuality(c));
  }
  if (cells.empty()) xlo = 0, xhi = 1, qlo = 0, qhi = 1;
  // Some room around the points so none sits on the frame.
  const double xpad = std::max((xhi - xlo) * 0.08, std::max(xhi, 1e-9) * 0.02);
  xlo = std::max(0.0, xlo - xpad);
  xhi += xpad;
  const double qpad = std::max((qhi - qlo) * 0.08, 0.01);
  qlo = std::max(0.0, qlo - qpad);
  qhi = std::min(1.0, qhi + qpad);
  if (qhi <= qlo) qhi = qlo + 0.01;
  auto px = [&](double x) { return left + (x * scale - xlo) / (xhi - xlo) * pw; };
  auto py = [&](double q) { return top + (1 - (q - qlo) / (qhi - qlo)) * ph; };

  std::ostringstream s;
  s << fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n",
      W, H, W, H);
  s << fmt::format("<rect width=\"{}\" height=\"{}\" fill=\"white\"/>\n", W, H);
  s << fmt::format(
      "<text x=\"{}\" y=\"16\" font-size=\"13\" font-weight=\"bold\">Quality vs {}</text>\n", left,
      htmlEscape(axisTitle(axis)));
  s << fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n", left,
      top, pw, ph);
  for (double t : ticks(xlo, xhi)) {
    const double x = left + (t - xlo) / (xhi - xlo) * pw;
    s << fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#eee\"/><text "
        "x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4:g}</text>\n",
        x, top, top + ph, top + ph + 14, t);
  }
  for (double t : ticks(qlo, qhi)) {
    const double y = top + (1 - (t - qlo) / (qhi - qlo)) * ph;
    s << fmt::format(
        "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#eee\"/><text "
        "x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:g}</text>\n",
        left, y, left + pw, left - 4, y + 4, std::round(t * 1000) / 10);
  }
  s << fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2,
                   H - 14, htmlEscape(axisTitle(axis)));
  s << fmt::format(
      "<text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">quality % (short "
      "exact match, else long F1)</text>\n",
      top + ph / 2);

  // The front as a staircase: from each front point right to the next one's x, then up to it,
  // and on to the right edge, so everything below and to the right of it is the dominated region.
  const auto front = paretoFront(cells, axis);
  std::string points;
  for (std::size_t k = 0; k < front.size(); ++k) {
    const double x = px(axisValue(cells[front[k]], axis)), y = py(cellQuality(cells[front[k]]));
    if (k > 0) points += fmt::format("{:.1f},{:.1f} ", x, py(cellQuality(cells[front[k - 1]])));
    points += fmt::format("{:.1f},{:.1f} ", x, y);
  }
  if (!front.empty())
    points += fmt::format("{:.1f},{:.1f}", left + pw, py(cellQuality(cells[front.back()])));
  s << "<polyline class=\"pareto\" fill=\"none\" stroke=\"#333\" stroke-dasharray=\"4 3\" "
       "points=\""
    << points << "\"/>\n";
  // The full cache last, so the reference stays visible where a cell sits on top of it.
  std::vector<std::size_t> order(cells.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_partition(order.begin(), order.end(),
                        [&](std::size_t i) { return cells[i].policy != "full"; });
  for (std::size_t i : order) {
    const auto& c = cells[i];
    const std::string stage = stageOf(c.policy);
    const bool on_front = std::find(front.begin(), front.end(), i) != front.end();
    s << fmt::format(
        "<circle class=\"cell\" data-cell=\"{}\" data-stage=\"{}\" data-front=\"{}\" cx=\"{:.1f}\" "
        "cy=\"{:.1f}\" r=\"{}\" fill=\"{}\" fill-opacity=\"0.8\" stroke=\"{}\"><title>{} ({}): "
        "quality {:.1f}%, {} {:.3g}</title></circle>\n",
        htmlEscape(c.cell), htmlEscape(stage), on_front ? 1 : 0, px(axisValue(c, axis)),
        py(cellQuality(c)), on_front ? 5 : 4, stageColour(stage), on_front ? "#000" : "none",
        htmlEscape(c.cell), htmlEscape(stage), 100 * cellQuality(c), htmlEscape(axisTitle(axis)),
        axisValue(c, axis) * scale);
    // Front points carry their names; the rest have theirs in the tooltip only, so labels stay
    // readable with many cells.
    if (on_front)
      s << fmt::format(
          "<text class=\"label\" x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"9\">{}</text>\n",
          px(axisValue(c, axis)) + 6, py(cellQuality(c)) - 5, htmlEscape(c.cell));
  }
  // Legend: the stages present, then the front.
  double ly = top + 6;
  std::vector<std::string> stages;
  for (const auto& c : cells)
    if (auto st = stageOf(c.policy); std::find(stages.begin(), stages.end(), st) == stages.end())
      stages.push_back(st);
  std::sort(stages.begin(), stages.end());
  for (const auto& st : stages) {
    s << fmt::format(
        "<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">stage "
        "{}</text>\n",
        left + pw + 16, ly, stageColour(st), left + pw + 26, ly + 4,
        htmlEscape(st == "-" ? "- (full)" : st));
    ly += 16;
  }
  s << fmt::format(
      "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\" stroke-dasharray=\"4 3\"/>"
      "<text x=\"{}\" y=\"{}\">Pareto front</text>\n",
      left + pw + 10, ly, left + pw + 22, ly, left + pw + 26, ly + 4);
  s << "</svg>\n";
  return s.str();
}

std::string summaryHtml(const std::vector<CellSummary>& cells) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hae bench "
       "summary</title>\n<style>body{font-family:sans-serif;margin:24px}table{border-collapse:"
       "collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px "
       "6px;text-align:right}td:first-child,th:first-child{text-align:left}"
       ".plots{display:flex;flex-wrap:wrap;gap:12px}</style></head><body>\n";
  h << "<h1>hae bench summary</h1>\n";
  h << "<p>One point per cell; quality is the short answers' exact match (the long answers' token "
       "F1 where a cell has no short case). The dashed line is the Pareto front (no other cell is "
       "as good with less). Colours: the policy's stage (V vision side, P decoder at prefill, K KV "
       "cache).</p>\n<div class=\"plots\">\n";
  for (PlotAxis a : {PlotAxis::MeanKvBytes, PlotAxis::PrefillMs, PlotAxis::DecodeMsPerToken})
    h << "<div>" << tradeoffSvg(cells, a) << "</div>\n";
  h << "</div>\n<h2>Cells</h2>\n<table>\n<tr><th>cell</th><th>stage</th><th>cases</th><th>short "
       "acc %</th><th>long F1 ref</th><th>agree full %</th><th>KV held (mean, KiB)</th><th>KV "
       "reduction %</th><th>prefill ms</th><th>decode ms/tok</th><th>policy share %</th></tr>\n";
  for (const auto& c : cells)
    h << fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td><td>{:.1f}</"
        "td><td>{:.1f}</td><td>{:.2f}</td><td>{}</td><td>{:.1f}</td></tr>\n",
        htmlEscape(c.cell), htmlEscape(stageOf(c.policy)), c.cases,
        c.short_cases ? fmt::format("{:.1f}", 100 * c.short_accuracy) : "-",
        c.long_cases ? fmt::format("{:.3f}", c.long_f1_ref) : "-", 100 * c.agreement_full,
        c.mean_bytes / 1024, 100 * c.kv_reduction, c.prefill_ms,
        c.decode_ms_per_token > 0 ? fmt::format("{:.3f}", c.decode_ms_per_token) : "-",
        100 * c.policy_share);
  h << "</table>\n</body></html>\n";
  return h.str();
}

}  // namespace hae::bench
