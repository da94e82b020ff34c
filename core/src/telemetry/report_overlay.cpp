// The overlay picture of the HTML report, drawn with OpenCV because core has no Qt: the prompt's
// images side by side, each visual token's patch tinted by its state in one layer (kept patches
// stay clear, the recycle bin amber, evicted dark red: the palette of widgets/state_colors.h).
// Global (downscaled whole-image) grids get a thumbnail beside their image so they never cover it.
#include <algorithm>
#include <cmath>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "hae/error.h"
#include "hae/image.h"
#include "hae/report.h"

namespace hae {

namespace {

struct Tint {
  cv::Scalar bgr;
  double alpha;
};

Tint tintFor(PatchState s) {
  switch (s) {
    case PatchState::InBin:
      return {cv::Scalar(0, 176, 255), 150.0 / 255};
    case PatchState::Evicted:
      return {cv::Scalar(0, 0, 110), 190.0 / 255};
    case PatchState::Kept:
      break;
  }
  return {cv::Scalar(0, 0, 0), 0};
}

cv::Mat loadBgr(const ImageInfo& im) {
  try {
    if (!im.path.empty()) {
      RgbImage rgb = loadImage(im.path);
      cv::Mat m(rgb.height, rgb.width, CV_8UC3, rgb.pixels.data());
      cv::Mat bgr;
      cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
      return bgr;
    }
  } catch (const Error&) {
    // The report still shows where the patches were; the pixels are only context.
  }
  const int w = im.width > 0 ? im.width : 320, h = im.height > 0 ? im.height : 240;
  return cv::Mat(h, w, CV_8UC3, cv::Scalar(200, 200, 200));
}

// Tints `rect` (in panel pixels) of `panel`, clipped to it.
void tint(cv::Mat& panel, double x0, double y0, double x1, double y1, const Tint& t) {
  if (t.alpha <= 0) return;
  const int ix0 = std::clamp(static_cast<int>(std::floor(x0)), 0, panel.cols);
  const int iy0 = std::clamp(static_cast<int>(std::floor(y0)), 0, panel.rows);
  const int ix1 = std::clamp(static_cast<int>(std::floor(x1)), 0, panel.cols);
  const int iy1 = std::clamp(static_cast<int>(std::floor(y1)), 0, panel.rows);
  if (ix1 <= ix0 || iy1 <= iy0) return;
  cv::Mat roi = panel(cv::Rect(ix0, iy0, ix1 - ix0, iy1 - iy0));
  cv::Mat solid(roi.size(), roi.type(), t.bgr);
  cv::addWeighted(roi, 1.0 - t.alpha, solid, t.alpha, 0.0, roi);
}

}  // namespace

std::vector<std::uint8_t> overlayPng(const RunInfo& info, const StepTelemetry& step, int layer,
                                     int max_width) {
  max_width = std::max(max_width, 64);
  const int gap = 8;
  const int n_images = std::max<int>(1, static_cast<int>(info.images.size()));
  const int per_image = std::max(48, (max_width - gap * (n_images - 1)) / n_images);

  // Where each grid lands: its panel and the scale from original pixels.
  struct Panel {
    cv::Mat pixels;
    double scale = 1;
    int x = 0, y = 0;
  };
  std::vector<Panel> panels;
  std::map<std::pair<int, int>, int> grid_panel;  // (image, crop) -> panel index
  std::map<std::pair<int, int>, const CropGrid*> grid_spec;
  int width = 0, height = 0;
  for (std::size_t i = 0; i < info.images.size(); ++i) {
    const ImageInfo& im = info.images[i];
    cv::Mat src = loadBgr(im);
    // Regions are in the recorded original size; a file that changed since keeps its layout.
    const double ow = im.width > 0 ? im.width : src.cols, oh = im.height > 0 ? im.height : src.rows;
    const bool has_global =
        std::any_of(im.grids.begin(), im.grids.end(), [](const CropGrid& g) { return g.global; });
    const int main_w = has_global ? per_image * 3 / 4 : per_image;
    const double scale = std::min(main_w / ow, main_w * 0.85 / oh);
    Panel main;
    cv::resize(src, main.pixels,
               cv::Size(std::max(1, static_cast<int>(ow * scale)),
                        std::max(1, static_cast<int>(oh * scale))),
               0, 0, cv::INTER_AREA);
    main.scale = scale;
    main.x = width;
    panels.push_back(main);
    const int main_index = static_cast<int>(panels.size()) - 1;
    int strip_y = 0, strip_w = 0;
    for (const auto& g : im.grids) {
      grid_spec[{g.image, g.crop}] = &g;
      if (!g.global) {
        grid_panel[{g.image, g.crop}] = main_index;
        continue;
      }
      Panel thumb;
      thumb.scale = scale * 0.45;
      cv::resize(src, thumb.pixels,
                 cv::Size(std::max(1, static_cast<int>(ow * thumb.scale)),
                          std::max(1, static_cast<int>(oh * thumb.scale))),
                 0, 0, cv::INTER_AREA);
      thumb.x = width + main.pixels.cols + gap;
      thumb.y = strip_y;
      strip_y += thumb.pixels.rows + gap;
      strip_w = std::max(strip_w, thumb.pixels.cols);
      panels.push_back(thumb);
      grid_panel[{g.image, g.crop}] = static_cast<int>(panels.size()) - 1;
    }
    height = std::max({height, main.pixels.rows, strip_y - gap});
    width += main.pixels.cols + (strip_w ? gap + strip_w : 0) + gap;
  }
  if (panels.empty()) {
    panels.push_back({cv::Mat(120, per_image, CV_8UC3, cv::Scalar(200, 200, 200)), 1, 0, 0});
    width = per_image + gap;
    height = 120;
  }
  width = std::max(1, width - gap);

  const std::vector<PatchState>* states =
      layer >= 0 && layer < static_cast<int>(step.patch_states.size()) ? &step.patch_states[layer]
                                                                       : nullptr;
  for (std::size_t v = 0; v < info.visual_tokens.size(); ++v) {
    const int ti = info.visual_tokens[v];
    if (ti < 0 || ti >= static_cast<int>(info.tokens.size())) continue;
    const TokenInfo& tk = info.tokens[ti];
    const auto spec = grid_spec.find({tk.image, tk.crop});
    if (spec == grid_spec.end() || spec->second->rows <= 0 || spec->second->cols <= 0) continue;
    const CropGrid& g = *spec->second;
    Panel& p = panels[grid_panel.at({tk.image, tk.crop})];
    const double cw = g.region.w / g.cols, ch = g.region.h / g.rows;
    const double x0 = (g.region.x + tk.col * cw) * p.scale,
                 y0 = (g.region.y + tk.row * ch) * p.scale;
    const double x1 = (g.region.x + (tk.col + 1) * cw) * p.scale,
                 y1 = (g.region.y + (tk.row + 1) * ch) * p.scale;
    const PatchState s = states && v < states->size() ? (*states)[v] : PatchState::Kept;
    tint(p.pixels, x0, y0, x1, y1, tintFor(s));
  }

  cv::Mat canvas(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  for (const auto& p : panels) {
    const int w = std::min(p.pixels.cols, width - p.x), h = std::min(p.pixels.rows, height - p.y);
    if (w > 0 && h > 0) p.pixels(cv::Rect(0, 0, w, h)).copyTo(canvas(cv::Rect(p.x, p.y, w, h)));
  }
  std::vector<std::uint8_t> png;
  if (!cv::imencode(".png", canvas, png)) throw Error("overlay: PNG encoding failed");
  return png;
}

}  // namespace hae
