#pragma once
// Small building blocks of the HTML report: escaping, base64, and bar/line charts as inline SVG.
// Hand-written because the report must open with no network access and core links no plotting
// library; the charts need only axes, bars, lines and a legend.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hae::report_detail {

// Escapes for HTML/SVG text and attributes; invalid UTF-8 becomes U+FFFD (the reports are UTF-8).
std::string htmlEscape(std::string_view text);
std::string base64(const std::vector<std::uint8_t>& bytes);

struct ChartSeries {
  enum class Kind { Bars, Line };
  std::string name;
  std::string color;      // CSS colour
  std::vector<double> y;  // one value per x category
  Kind kind = Kind::Bars;
  bool right_axis = false;  // lines only: plotted against the right-hand axis
  bool dashed = false;
};

struct ChartSpec {
  std::string id;     // the svg element's id
  std::string title;  // drawn on top and given as the svg's <title>
  std::string subtitle;
  std::string x_label, y_label, y2_label;
  std::vector<double> x;  // category labels (steps, layers), in order
  std::vector<ChartSeries> series;
  bool stack_bars = false;  // bars stacked per category instead of side by side
  int width = 760, height = 300;
};

std::string svgChart(const ChartSpec& spec);

// A heat map of rows x columns values (row-major), white at 0 to `color` at `max` (values above are
// drawn at full colour): the shadow's missed attention per layer (rows) and step (columns).
struct HeatMapSpec {
  std::string id, title, subtitle, x_label, y_label;
  std::vector<double> x;  // column labels (steps)
  int rows = 0;           // row r is labelled r (layers)
  std::vector<double> values;
  double max = 1;
  std::string color = "#8c1414";
  int width = 760, height = 300;
};
std::string svgHeatMap(const HeatMapSpec& spec);

}  // namespace hae::report_detail
