#include "report_svg.h"

#include <fmt/core.h>
#include <algorithm>
#include <cmath>

#include "tokenizer/unicode.h"

namespace hae::report_detail {

namespace {

// Tick spacing of 1, 2 or 5 x 10^k giving about `target` intervals over [0, max].
double niceStep(double max, int target) {
  if (!(max > 0) || !std::isfinite(max)) return 1;
  const double raw = max / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

std::string num(double v) {
  if (v == 0) return "0";
  if (std::abs(v) >= 1e5 || std::abs(v) < 1e-3) return fmt::format("{:.3g}", v);
  return fmt::format("{:.6g}", v);
}

struct Axis {
  double max = 1, step = 1;
  void fit(double data_max) {
    step = niceStep(data_max, 5);
    max = std::max(step, std::ceil(data_max / step - 1e-9) * step);
  }
};

double finite(double v) {
  return std::isfinite(v) ? v : 0;
}

}  // namespace

std::string htmlEscape(std::string_view raw) {
  // The report declares charset=utf-8, and prompts, answers and token pieces may hold any bytes
  // (a prompt from a file, a token cut inside a character): invalid sequences become U+FFFD.
  const std::string lossy = tok::isValidUtf8(raw) ? std::string() : tok::utf8Lossy(raw);
  const std::string_view text = lossy.empty() ? raw : std::string_view(lossy);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string base64(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    const std::uint32_t v = bytes[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const std::uint32_t v = bytes[i] << 16 | bytes[i + 1] << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string svgChart(const ChartSpec& spec) {
  const bool has_right = std::any_of(spec.series.begin(), spec.series.end(),
                                     [](const ChartSeries& s) { return s.right_axis; });
  const double W = spec.width, H = spec.height;
  const double left = 66, right = has_right ? 66 : 18, top = spec.subtitle.empty() ? 58 : 74,
               bottom = 44;
  const double pw = W - left - right, ph = H - top - bottom;
  const std::size_t n = spec.x.size();

  // Axis ranges: bars start at zero; stacked bars need the per-category sums.
  double lmax = 0, rmax = 0;
  std::vector<double> stack(n, 0.0);
  for (const auto& s : spec.series) {
    for (std::size_t i = 0; i < n && i < s.y.size(); ++i) {
      const double v = std::max(0.0, finite(s.y[i]));
      if (s.right_axis)
        rmax = std::max(rmax, v);
      else if (s.kind == ChartSeries::Kind::Bars && spec.stack_bars)
        stack[i] += v;
      else
        lmax = std::max(lmax, v);
    }
  }
  for (double v : stack) lmax = std::max(lmax, v);
  Axis ly, ry;
  ly.fit(lmax);
  ry.fit(rmax);

  const double band = n ? pw / static_cast<double>(n) : pw;
  auto cx = [&](std::size_t i) { return left + band * (static_cast<double>(i) + 0.5); };
  auto yl = [&](double v) { return top + ph - ph * std::clamp(finite(v), 0.0, ly.max) / ly.max; };
  auto yr = [&](double v) { return top + ph - ph * std::clamp(finite(v), 0.0, ry.max) / ry.max; };

  std::string o = fmt::format(
      "<svg id=\"{}\" class=\"chart\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "role=\"img\" "
      "aria-label=\"{}\">\n<title>{}</title>\n<rect width=\"{}\" height=\"{}\" "
      "fill=\"#ffffff\"/>\n",
      htmlEscape(spec.id), W, H, W, H, htmlEscape(spec.title), htmlEscape(spec.title), W, H);
  o +=
      fmt::format("<text x=\"{}\" y=\"22\" class=\"ct\">{}</text>\n", left, htmlEscape(spec.title));
  if (!spec.subtitle.empty())
    o += fmt::format("<text x=\"{}\" y=\"40\" class=\"cs\">{}</text>\n", left,
                     htmlEscape(spec.subtitle));

  // Legend in one row under the title.
  double lx = left;
  const double legend_y = top - 18;
  for (const auto& s : spec.series) {
    if (s.kind == ChartSeries::Kind::Bars)
      o += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"12\" height=\"10\" fill=\"{}\"/>",
                       lx, legend_y - 9, s.color);
    else
      o += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
          "stroke-width=\"2.5\"{}/>",
          lx, legend_y - 4, lx + 12, legend_y - 4, s.color,
          s.dashed ? " stroke-dasharray=\"4 3\"" : "");
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"cl\">{}</text>\n", lx + 16, legend_y,
                     htmlEscape(s.name));
    lx += 30 + 6.5 * static_cast<double>(s.name.size());
  }

  // Grid, axes and tick labels.
  for (double v = 0; v <= ly.max + ly.step * 1e-6; v += ly.step) {
    const double y = yl(v);
    o += fmt::format(
        "<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" class=\"grid\"/>"
        "<text x=\"{}\" y=\"{:.1f}\" class=\"tl\" text-anchor=\"end\">{}</text>\n",
        left, y, left + pw, y, left - 6, y + 4, num(v));
  }
  if (has_right) {
    for (double v = 0; v <= ry.max + ry.step * 1e-6; v += ry.step)
      o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" class=\"tl\">{}</text>\n", left + pw + 6,
                       yr(v) + 4, num(v));
  }
  o += fmt::format(
      "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" class=\"axis\"/>"
      "<line x1=\"{0}\" y1=\"{2}\" x2=\"{3}\" y2=\"{2}\" class=\"axis\"/>\n",
      left, top, top + ph, left + pw);
  const std::size_t stride = std::max<std::size_t>(1, (n + 15) / 16);
  for (std::size_t i = 0; i < n; i += stride)
    o += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tl\" text-anchor=\"middle\">{}</text>\n", cx(i),
        top + ph + 16, num(spec.x[i]));
  o +=
      fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"al\" text-anchor=\"middle\">{}</text>\n",
                  left + pw / 2, H - 6, htmlEscape(spec.x_label));
  o += fmt::format(
      "<text transform=\"translate(16 {:.1f}) rotate(-90)\" class=\"al\" "
      "text-anchor=\"middle\">{}</text>\n",
      top + ph / 2, htmlEscape(spec.y_label));
  if (has_right)
    o += fmt::format(
        "<text transform=\"translate({:.1f} {:.1f}) rotate(90)\" class=\"al\" "
        "text-anchor=\"middle\">{}</text>\n",
        W - 12, top + ph / 2, htmlEscape(spec.y2_label));
  if (n == 0) {
    o += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"cs\" text-anchor=\"middle\">no data</text>\n",
        left + pw / 2, top + ph / 2);
    return o + "</svg>\n";
  }

  // Bars: side by side in 80% of a band, or stacked.
  std::size_t bar_series = 0;
  for (const auto& s : spec.series) bar_series += s.kind == ChartSeries::Kind::Bars;
  const double group = band * 0.8;
  const double bw =
      spec.stack_bars || bar_series == 0 ? group : group / static_cast<double>(bar_series);
  std::vector<double> base(n, 0.0);
  std::size_t bi = 0;
  for (const auto& s : spec.series) {
    if (s.kind != ChartSeries::Kind::Bars) continue;
    o +=
        fmt::format("<g class=\"bars\" fill=\"{}\"><title>{}</title>", s.color, htmlEscape(s.name));
    for (std::size_t i = 0; i < n && i < s.y.size(); ++i) {
      const double v = std::max(0.0, finite(s.y[i]));
      if (v <= 0) continue;
      const double x = cx(i) - group / 2 + (spec.stack_bars ? 0 : bw * static_cast<double>(bi));
      const double y0 = yl(base[i]), y1 = yl(base[i] + v);
      o += fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\"/>", x,
                       y1, std::max(0.5, bw), std::max(0.0, y0 - y1));
      if (spec.stack_bars) base[i] += v;
    }
    o += "</g>\n";
    ++bi;
  }
  // Lines, with dots when there are few enough points to tell apart.
  for (const auto& s : spec.series) {
    if (s.kind != ChartSeries::Kind::Line) continue;
    std::string pts;
    for (std::size_t i = 0; i < n && i < s.y.size(); ++i)
      pts += fmt::format("{:.2f},{:.2f} ", cx(i), s.right_axis ? yr(s.y[i]) : yl(s.y[i]));
    o += fmt::format(
        "<g class=\"line\"><title>{}</title><polyline points=\"{}\" fill=\"none\" "
        "stroke=\"{}\" stroke-width=\"2\"{}/>",
        htmlEscape(s.name), pts, s.color, s.dashed ? " stroke-dasharray=\"5 4\"" : "");
    if (n <= 48) {
      for (std::size_t i = 0; i < n && i < s.y.size(); ++i)
        o += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"2.5\" fill=\"{}\"/>", cx(i),
                         s.right_axis ? yr(s.y[i]) : yl(s.y[i]), s.color);
    }
    o += "</g>\n";
  }
  return o + "</svg>\n";
}

std::string svgHeatMap(const HeatMapSpec& spec) {
  const double W = spec.width, H = spec.height;
  const double left = 66, right = 18, top = spec.subtitle.empty() ? 40 : 56, bottom = 44;
  const double pw = W - left - right, ph = H - top - bottom;
  const std::size_t cols = spec.x.size();
  const int rows = std::max(spec.rows, 0);
  std::string o = fmt::format(
      "<svg id=\"{}\" class=\"chart\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "role=\"img\" aria-label=\"{}\">\n<title>{}</title>\n<rect width=\"{}\" height=\"{}\" "
      "fill=\"#ffffff\"/>\n",
      htmlEscape(spec.id), W, H, W, H, htmlEscape(spec.title), htmlEscape(spec.title), W, H);
  o += fmt::format("<text x=\"{}\" y=\"22\" class=\"ct\">{}</text>\n", left, htmlEscape(spec.title));
  if (!spec.subtitle.empty())
    o += fmt::format("<text x=\"{}\" y=\"40\" class=\"cs\">{}</text>\n", left,
                     htmlEscape(spec.subtitle));
  if (cols == 0 || rows == 0 || spec.values.size() < cols * static_cast<std::size_t>(rows)) {
    o += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"cs\" text-anchor=\"middle\">no data</text>\n",
        left + pw / 2, top + ph / 2);
    return o + "</svg>\n";
  }
  // The colour ramp from white: parse #rrggbb once.
  unsigned rgb = 0x8c1414;
  if (spec.color.size() == 7 && spec.color[0] == '#') rgb = std::stoul(spec.color.substr(1), nullptr, 16);
  const double cr = (rgb >> 16) & 255, cg = (rgb >> 8) & 255, cb = rgb & 255;
  const double cw = pw / static_cast<double>(cols), rh = ph / rows;
  const double max = spec.max > 0 && std::isfinite(spec.max) ? spec.max : 1;
  for (int r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const double v = finite(spec.values[static_cast<std::size_t>(r) * cols + c]);
      const double f = std::clamp(v / max, 0.0, 1.0);
      auto mix = [&](double to) { return static_cast<int>(std::lround(255 + (to - 255) * f)); };
      // Layer 0 at the bottom, as the y axis reads.
      o += fmt::format(
          "<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" "
          "fill=\"rgb({},{},{})\"><title>layer {}, step {}: {}</title></rect>\n",
          left + cw * static_cast<double>(c), top + ph - rh * (r + 1), cw + 0.3, rh + 0.3, mix(cr),
          mix(cg), mix(cb), r, num(spec.x[c]), num(v));
    }
  o += fmt::format(
      "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" class=\"axis\"/>"
      "<line x1=\"{0}\" y1=\"{2}\" x2=\"{3}\" y2=\"{2}\" class=\"axis\"/>\n",
      left, top, top + ph, left + pw);
  const std::size_t stride = std::max<std::size_t>(1, (cols + 15) / 16);
  for (std::size_t c = 0; c < cols; c += stride)
    o += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tl\" text-anchor=\"middle\">{}</text>\n",
        left + cw * (static_cast<double>(c) + 0.5), top + ph + 16, num(spec.x[c]));
  const int rstride = std::max(1, (rows + 7) / 8);
  for (int r = 0; r < rows; r += rstride)
    o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" class=\"tl\" text-anchor=\"end\">{}</text>\n",
                     left - 6, top + ph - rh * (r + 0.5) + 4, r);
  o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"al\" text-anchor=\"middle\">{}</text>\n",
                   left + pw / 2, H - 6, htmlEscape(spec.x_label));
  o += fmt::format(
      "<text transform=\"translate(16 {:.1f}) rotate(-90)\" class=\"al\" "
      "text-anchor=\"middle\">{}</text>\n",
      top + ph / 2, htmlEscape(spec.y_label));
  return o + "</svg>\n";
}

}  // namespace hae::report_detail
