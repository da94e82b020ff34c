// Qwen2VLImageProcessor (transformers 4.49, slow PIL path), step by step as its _preprocess does
// for one image: convert to RGB, smart_resize, PIL bicubic resize (uint8), rescale and normalise
// in float32, repeat the frame to temporal_patch_size, flatten the patches.
#include <fmt/format.h>

#include <algorithm>
#include <cfenv>
#include <cmath>

#include "hae/error.h"
#include "hae/qwen2vl_preprocess.h"

namespace hae {

namespace {

// Python's round(): halves to even. std::nearbyint does that in the default rounding mode; the
// mode is set explicitly so a caller's fesetround cannot change the grid.
double roundHalfEven(double x) {
  const int saved = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const double r = std::nearbyint(x);
  std::fesetround(saved);
  return r;
}

}  // namespace

Qwen2VLSize qwen2vlSmartResize(int height, int width, int factor, long long min_pixels,
                               long long max_pixels) {
  if (height < factor || width < factor)
    throw Error(
        fmt::format("image of {}x{} px: height and width must be at least {} px (patch "
                    "size x merge size)",
                    width, height, factor));
  if (static_cast<double>(std::max(height, width)) / std::min(height, width) > 200)
    throw Error(
        fmt::format("image of {}x{} px: the aspect ratio must be smaller than 200", width, height));
  const double h = height, w = width, f = factor;
  double hb = roundHalfEven(h / f) * f, wb = roundHalfEven(w / f) * f;
  if (hb * wb > static_cast<double>(max_pixels)) {
    const double beta = std::sqrt(h * w / static_cast<double>(max_pixels));
    hb = std::floor(h / beta / f) * f;
    wb = std::floor(w / beta / f) * f;
  } else if (hb * wb < static_cast<double>(min_pixels)) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (h * w));
    hb = std::ceil(h * beta / f) * f;
    wb = std::ceil(w * beta / f) * f;
  }
  if (hb < f || wb < f)  // max_pixels below one merged token's area
    throw Error(fmt::format("image of {}x{} px: max_pixels {} leaves less than one {} px cell",
                            width, height, max_pixels, factor));
  return {static_cast<int>(hb), static_cast<int>(wb)};
}

Qwen2VLPreprocessed qwen2vlPreprocess(const RgbImage& image, const Qwen2VLPreprocessConfig& c) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != std::size_t(image.width) * image.height * 3)
    throw Error("qwen2vlPreprocess: empty or inconsistent image");
  Qwen2VLPreprocessed out;
  out.resized = image;
  if (c.do_resize) {
    const Qwen2VLSize size =
        qwen2vlSmartResize(image.height, image.width, c.factor(), c.min_pixels, c.max_pixels);
    out.resized = resizePil(image, size.width, size.height, c.resample);
  } else if (image.height % c.factor() != 0 || image.width % c.factor() != 0) {
    throw Error(
        fmt::format("image of {}x{} px: without do_resize both sides must be multiples "
                    "of {}",
                    image.width, image.height, c.factor()));
  }
  const RgbImage& r = out.resized;
  const int p = c.patch_size, m = c.merge_size, frames = c.temporal_patch_size;
  out.grid_h = r.height / p;
  out.grid_w = r.width / p;
  out.grid_t = 1;  // one image, its frame repeated to fill temporal_patch_size
  const std::size_t row = std::size_t(3) * frames * p * p;
  out.pixel_values.resize(std::size_t(out.grid_h) * out.grid_w * row);
  // Rows: merge groups row-major, inside a group (0,0), (0,1), (1,0), (1,1); columns: channel,
  // frame, y, x. Every frame is the same image.
  std::size_t index = 0;
  for (int gy = 0; gy < out.grid_h / m; ++gy)
    for (int gx = 0; gx < out.grid_w / m; ++gx)
      for (int my = 0; my < m; ++my)
        for (int mx = 0; mx < m; ++mx, ++index) {
          const int py0 = (gy * m + my) * p, px0 = (gx * m + mx) * p;
          float* dst = &out.pixel_values[index * row];
          for (int ch = 0; ch < 3; ++ch)
            for (int f = 0; f < frames; ++f)
              for (int y = 0; y < p; ++y)
                for (int x = 0; x < p; ++x) {
                  const std::uint8_t v =
                      r.pixels[(std::size_t(py0 + y) * r.width + px0 + x) * 3 + ch];
                  float value = c.do_rescale ? static_cast<float>(double(v) * c.rescale_factor)
                                             : static_cast<float>(v);
                  if (c.do_normalize) value = (value - c.mean[ch]) / c.std[ch];
                  *dst++ = value;
                }
        }
  return out;
}

}  // namespace hae
