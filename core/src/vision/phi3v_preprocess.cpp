// Phi3VImageProcessor.preprocess up to the normalised HD image (image_processing_phi3_v.py:
// HD_transform, padding_336, ToTensor + Normalize), with the reference's exact arithmetic so the
// uint8 HD image and the float values match it bit for bit (fixtures README, section 4.1).
#include <cmath>
#include <cstdint>
#include <string>

#include "hae/error.h"
#include "hae/phi3v_preprocess.h"
#include "io/json_fields.h"

namespace hae {

namespace {

// PIL's Image.TRANSPOSE: pixel (x, y) moves to (y, x).
RgbImage transposeImage(const RgbImage& in) {
  RgbImage out{in.height, in.width, std::vector<std::uint8_t>(in.pixels.size())};
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int c = 0; c < 3; ++c)
        out.pixels[(std::size_t(x) * out.width + y) * 3 + c] =
            in.pixels[(std::size_t(y) * in.width + x) * 3 + c];
  return out;
}

}  // namespace

Phi3vPreprocessConfig loadPhi3vPreprocessConfig(const std::string& path) {
  const auto json = io::readJsonFile(path);
  io::JsonFields f(json, path);
  Phi3vPreprocessConfig c;
  f.read("num_crops", c.num_crops);
  if (c.num_crops < 1 || c.num_crops > 256) f.fail("num_crops", "must lie in [1, 256]");
  for (auto [key, target] : {std::pair{"image_mean", &c.mean}, {"image_std", &c.std}}) {
    std::vector<double> values;
    if (!f.has(key)) continue;
    f.read(key, values);
    if (values.size() != 3) f.fail(key, "must hold 3 numbers");
    for (int i = 0; i < 3; ++i)
      (*target)[i] = static_cast<float>(values[i]);  // torch.as_tensor: float32
  }
  for (float s : c.std)
    if (s == 0.0f) f.fail("image_std", "must not contain zero");
  return c;
}

Phi3vLayout phi3vLayout(int width, int height, int num_crops) {
  if (width <= 0 || height <= 0) throw Error("Phi-3.5-V preprocessing: empty image");
  if (num_crops < 1) throw Error("Phi-3.5-V preprocessing: num_crops must be at least 1");
  Phi3vLayout l;
  l.transposed = width < height;
  const int w = l.transposed ? height : width, h = l.transposed ? width : height;
  // HD_transform: the largest scale s with s * ceil(s / ratio) <= num_crops, in double like numpy.
  const double ratio = static_cast<double>(w) / h;
  int scale = 1;
  while (scale * std::ceil(scale / ratio) <= num_crops) ++scale;
  --scale;
  const int new_w = scale * kPhi3vCropSize;
  const int new_h = static_cast<int>(new_w / ratio);
  if (new_h <= 0)
    throw Error("Phi-3.5-V preprocessing: a " + std::to_string(width) + "x" +
                std::to_string(height) + " image is too thin to resize");
  // padding_336: pad the short side to a multiple of 336, top = int((target - h) / 2).
  const int padded =
      static_cast<int>(std::ceil(new_h / static_cast<double>(kPhi3vCropSize))) * kPhi3vCropSize;
  const int pad_before = (padded - new_h) / 2;
  if (l.transposed) {
    l.rows = scale;
    l.cols = padded / kPhi3vCropSize;
    l.resized_w = new_h;
    l.resized_h = new_w;
    l.offset_x = pad_before;
  } else {
    l.rows = padded / kPhi3vCropSize;
    l.cols = scale;
    l.resized_w = new_w;
    l.resized_h = new_h;
    l.offset_y = pad_before;
  }
  return l;
}

int phi3vImageTokens(int rows, int cols, int merged) {
  return (rows * cols + 1) * merged * merged + 1 + (rows + 1) * merged;
}

Phi3vHdImage phi3vHdTransform(const RgbImage& image, const Phi3vPreprocessConfig& config) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != std::size_t(image.width) * std::size_t(image.height) * 3)
    throw Error("Phi-3.5-V preprocessing: empty or inconsistent input image");
  Phi3vHdImage out;
  out.layout = phi3vLayout(image.width, image.height, config.num_crops);
  const Phi3vLayout& l = out.layout;

  // Resize lying down as the reference does (torchvision's resize of a PIL image is PIL bilinear,
  // which rounds to uint8 between its horizontal and vertical pass, so orientation matters), turn
  // back, then pad: padding and transposing commute.
  const RgbImage upright = l.transposed ? transposeImage(image) : image;
  RgbImage resized = resizePil(upright, l.transposed ? l.resized_h : l.resized_w,
                               l.transposed ? l.resized_w : l.resized_h, PilFilter::bilinear);
  if (l.transposed) resized = transposeImage(resized);

  out.hd_u8 = RgbImage{l.hdWidth(), l.hdHeight(),
                       std::vector<std::uint8_t>(std::size_t(l.hdWidth()) * l.hdHeight() * 3, 255)};
  for (int y = 0; y < resized.height; ++y) {
    const std::uint8_t* src = &resized.pixels[std::size_t(y) * resized.width * 3];
    std::uint8_t* dst =
        &out.hd_u8.pixels[(std::size_t(y + l.offset_y) * l.hdWidth() + l.offset_x) * 3];
    std::copy(src, src + std::size_t(resized.width) * 3, dst);
  }

  // ToTensor divides in float32 (not a multiplication by 1/255), Normalize subtracts then divides.
  const std::size_t plane = std::size_t(l.hdWidth()) * l.hdHeight();
  out.normalized.resize(plane * 3);
  for (std::size_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) {
      const float x = static_cast<float>(out.hd_u8.pixels[i * 3 + c]) / 255.0f;
      out.normalized[c * plane + i] = (x - config.mean[c]) / config.std[c];
    }
  out.num_img_tokens = phi3vImageTokens(l.rows, l.cols);
  return out;
}

PatchRect phi3vOriginalRect(const Phi3vLayout& l, int width, int height, double x, double y,
                            double w, double h) {
  // PIL maps resized edges to original edges linearly (0 -> 0, resized size -> original size).
  const double sx = static_cast<double>(width) / l.resized_w,
               sy = static_cast<double>(height) / l.resized_h;
  return {static_cast<float>((x - l.offset_x) * sx), static_cast<float>((y - l.offset_y) * sy),
          static_cast<float>(w * sx), static_cast<float>(h * sy)};
}

}  // namespace hae
