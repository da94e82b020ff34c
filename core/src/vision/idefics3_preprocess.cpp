// Idefics3ImageProcessor.preprocess (transformers 4.49) for one RGB image. The size arithmetic
// follows the Python expressions one for one (float64 aspect ratios, int() truncation, the
// round-up-to-even of the first resize), because an off-by-one size changes every resampled pixel.
#include <algorithm>
#include <string>

#include "hae/error.h"
#include "hae/idefics3_preprocess.h"

namespace hae {
namespace {

struct Size2 {
  int width, height;
};

int ceilDiv(int a, int b) {
  return (a + b - 1) / b;
}

// _resize_output_size_rescale_to_max_len: the longest edge becomes max_len, the other edge keeps
// the aspect ratio, truncated and then rounded up to even.
Size2 longestEdgeSize(int width, int height, int max_len) {
  const double aspect = static_cast<double>(width) / height;
  if (width >= height) {
    width = max_len;
    height = static_cast<int>(width / aspect);
    if (height % 2 != 0) ++height;
  } else {
    height = max_len;
    width = static_cast<int>(height * aspect);
    if (width % 2 != 0) ++width;
  }
  return {std::max(width, 1), std::max(height, 1)};
}

// resize_for_vision_encoder: the longer edge rounds up to whole tiles, the other edge is derived
// from the aspect ratio of that rounded edge and rounds up too (which can stretch the image).
Size2 tileMultipleSize(int width, int height, int tile) {
  const double aspect = static_cast<double>(width) / height;
  if (width >= height) {
    width = ceilDiv(width, tile) * tile;
    height = static_cast<int>(width / aspect);
    height = ceilDiv(height, tile) * tile;
  } else {
    height = ceilDiv(height, tile) * tile;
    width = static_cast<int>(height * aspect);
    width = ceilDiv(width, tile) * tile;
  }
  return {width, height};
}

RgbImage cropImage(const RgbImage& src, int x0, int y0, int w, int h) {
  RgbImage out{w, h, std::vector<std::uint8_t>(std::size_t(w) * h * 3)};
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* from = &src.pixels[(std::size_t(y0 + y) * src.width + x0) * 3];
    std::copy(from, from + std::size_t(w) * 3, &out.pixels[std::size_t(y) * w * 3]);
  }
  return out;
}

// float32(double(u8) * rescale_factor), then (x - mean) / std in float32, HWC -> CHW.
void appendNormalized(const RgbImage& tile, const Idefics3PreprocessConfig& c,
                      std::vector<float>& out) {
  const std::size_t plane = std::size_t(tile.width) * tile.height;
  const std::size_t base = out.size();
  out.resize(base + plane * 3);
  for (std::size_t i = 0; i < plane; ++i) {
    for (int ch = 0; ch < 3; ++ch) {
      const std::uint8_t v = tile.pixels[i * 3 + ch];
      float x =
          c.do_rescale ? static_cast<float>(double(v) * c.rescale_factor) : static_cast<float>(v);
      if (c.do_normalize) x = (x - c.mean[ch]) / c.std[ch];
      out[base + std::size_t(ch) * plane + i] = x;
    }
  }
}

}  // namespace

Idefics3Preprocessed idefics3Preprocess(const RgbImage& image,
                                        const Idefics3PreprocessConfig& config) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != std::size_t(image.width) * std::size_t(image.height) * 3)
    throw Error("idefics3Preprocess: empty or inconsistent input image");
  if (!config.do_image_splitting)
    throw Error(
        "preprocessor_config.json: do_image_splitting false is not supported (the tiles must "
        "all be max_image_size square)");
  if (config.tile_size <= 0)
    throw Error("preprocessor_config.json: max_image_size.longest_edge must be positive");
  if (config.do_resize &&
      (config.longest_edge <= 0 || config.longest_edge > kIdefics3MaxLongestEdge))
    throw Error("image longest edge " + std::to_string(config.longest_edge) + " must lie in [1, " +
                std::to_string(kIdefics3MaxLongestEdge) + "] (transformers' limit)");

  Idefics3Preprocessed out;
  out.tile_size = config.tile_size;
  const int tile = config.tile_size;

  // Resizes are whole-image, so every stage maps the original's edges onto its own edges.
  RgbImage resized = image;
  if (config.do_resize) {
    const Size2 s = longestEdgeSize(image.width, image.height, config.longest_edge);
    resized = resizePil(image, s.width, s.height, config.resample);
  }
  out.resized_width = resized.width;
  out.resized_height = resized.height;
  const Size2 g = tileMultipleSize(resized.width, resized.height, tile);
  if (g.width <= 0 || g.height <= 0)
    throw Error("image " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                " is too thin to tile");
  const RgbImage grid = resizePil(resized, g.width, g.height, config.resample);
  out.grid_width = grid.width;
  out.grid_height = grid.height;

  const float sx = static_cast<float>(image.width) / grid.width;
  const float sy = static_cast<float>(image.height) / grid.height;
  if (grid.width > tile || grid.height > tile) {
    // split_image: the grid is a whole number of tiles, so every crop is exactly tile x tile.
    out.rows = ceilDiv(grid.height, tile);
    out.cols = ceilDiv(grid.width, tile);
    for (int r = 0; r < out.rows; ++r) {
      for (int c = 0; c < out.cols; ++c) {
        Idefics3Tile t;
        t.pixels = cropImage(grid, c * tile, r * tile, tile, tile);
        t.row = r;
        t.col = c;
        t.region = {c * tile * sx, r * tile * sy, tile * sx, tile * sy};
        out.tiles.push_back(std::move(t));
      }
    }
    Idefics3Tile global;
    global.pixels = resizePil(grid, tile, tile, config.resample);
    global.global = true;
    global.region = {0, 0, static_cast<float>(image.width), static_cast<float>(image.height)};
    out.tiles.push_back(std::move(global));
  } else {
    // One tile: the (stretched) image itself, which the processor still marks <global-img>. It
    // covers the whole picture, so a view draws it on the image, not as a thumbnail.
    Idefics3Tile only;
    only.pixels = grid;
    only.region = {0, 0, static_cast<float>(image.width), static_cast<float>(image.height)};
    out.tiles.push_back(std::move(only));
  }
  for (const auto& t : out.tiles) appendNormalized(t.pixels, config, out.pixel_values);
  return out;
}

}  // namespace hae
