// CLIPImageProcessor.preprocess (transformers 4.49) for one RGB image: resize, centre crop,
// rescale, normalise, HWC -> CHW. The float stage keeps transformers' exact operation order
// (float64 rescale cast to float32, then float32 subtract and divide), which makes the output
// bit-identical to the reference rather than merely close.
#include <cstdint>
#include <string>

#include "hae/clip_preprocess.h"
#include "hae/error.h"

namespace hae {
namespace {

struct Size2 {
  int width;
  int height;
};

// transformers' get_resize_output_image_size with default_to_square=False: the short side becomes
// shortest_edge and the long side is truncated, int(edge * long / short), computed in double.
Size2 shortestEdgeSize(int width, int height, int edge) {
  const bool portrait = width <= height;
  const int shortSide = portrait ? width : height;
  const int longSide = portrait ? height : width;
  const int newLong = static_cast<int>(static_cast<double>(edge) * longSide / shortSide);
  return portrait ? Size2{edge, newLong} : Size2{newLong, edge};
}

}  // namespace

PreprocessedImage clipPreprocess(const RgbImage& image, const ClipPreprocessConfig& config) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != size_t(image.width) * size_t(image.height) * 3) {
    throw Error("clipPreprocess: empty or inconsistent input image");
  }

  RgbImage resized;
  const RgbImage* current = &image;
  if (config.do_resize) {
    Size2 target{};
    if (config.resize_width > 0 && config.resize_height > 0) {
      target = {config.resize_width, config.resize_height};
    } else if (config.shortest_edge > 0) {
      target = shortestEdgeSize(image.width, image.height, config.shortest_edge);
    } else {
      throw Error("clipPreprocess: size needs shortest_edge or height and width > 0");
    }
    if (target.width <= 0 || target.height <= 0) {
      throw Error("clipPreprocess: image " + std::to_string(image.width) + "x" +
                  std::to_string(image.height) + " is too thin to resize");
    }
    resized = resizePil(image, target.width, target.height, config.resample);
    current = &resized;
  }
  const RgbImage& src = *current;

  // transformers' center_crop: top = int((h - crop_h) / 2), truncating toward zero. Where the crop
  // is larger than the image it zero-pads around it; for an odd difference transformers then
  // returns one row or column too few (its slice ends at the padded edge). We keep its offset, so
  // the pixels it returns agree, but always return crop_h x crop_w, the extra line being padding.
  int outW = src.width, outH = src.height, left = 0, top = 0;
  if (config.do_center_crop) {
    if (config.crop_width <= 0 || config.crop_height <= 0) {
      throw Error("clipPreprocess: crop_size must be positive");
    }
    outW = config.crop_width;
    outH = config.crop_height;
    left = static_cast<int>((src.width - outW) / 2.0);
    top = static_cast<int>((src.height - outH) / 2.0);
  }

  PreprocessedImage out;
  out.width = outW;
  out.height = outH;
  out.resized_width = src.width;
  out.resized_height = src.height;
  out.crop_left = left;
  out.crop_top = top;
  out.crop_u8 = RgbImage{outW, outH, std::vector<std::uint8_t>(size_t(outW) * outH * 3, 0)};
  for (int y = 0; y < outH; ++y) {
    const int sy = y + top;
    if (sy < 0 || sy >= src.height) continue;
    for (int x = 0; x < outW; ++x) {
      const int sx = x + left;
      if (sx < 0 || sx >= src.width) continue;
      const std::uint8_t* p = &src.pixels[(size_t(sy) * src.width + sx) * 3];
      std::uint8_t* q = &out.crop_u8.pixels[(size_t(y) * outW + x) * 3];
      q[0] = p[0];
      q[1] = p[1];
      q[2] = p[2];
    }
  }

  const size_t plane = size_t(outW) * outH;
  out.pixel_values.resize(plane * 3);
  for (size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < 3; ++c) {
      const std::uint8_t v = out.crop_u8.pixels[i * 3 + c];
      float x = config.do_rescale ? static_cast<float>(double(v) * config.rescale_factor)
                                  : static_cast<float>(v);
      if (config.do_normalize) x = (x - config.mean[c]) / config.std[c];
      out.pixel_values[size_t(c) * plane + i] = x;
    }
  }

  // PIL maps output edge 0 to input edge 0 and output edge N to input edge W, so the crop maps
  // back linearly.
  const double sx = double(image.width) / src.width;
  const double sy = double(image.height) / src.height;
  out.region_x = static_cast<float>(left * sx);
  out.region_y = static_cast<float>(top * sy);
  out.region_w = static_cast<float>(outW * sx);
  out.region_h = static_cast<float>(outH * sy);
  return out;
}

}  // namespace hae
