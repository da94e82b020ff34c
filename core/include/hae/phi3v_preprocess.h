#pragma once
// Phi-3.5-vision's image processor (Phi3VImageProcessor, hub code), torch-free part: the HD
// transform (transpose portrait images, PIL bilinear resize to a grid of 336 px crops, white
// padding) and the normalised float image. The global view (torch bicubic on the normalised image)
// and the crop slots are cut by the model's torch side (models/phi3v.h), because only the same
// LibTorch kernel reproduces the reference bit for bit.
#include <array>
#include <string>
#include <vector>

#include "hae/image.h"
#include "hae/telemetry.h"

namespace hae {

inline constexpr int kPhi3vCropSize = 336;  // hard-coded by the processor and the model

struct Phi3vPreprocessConfig {
  int num_crops =
      4;  // the most sub-crops HD_transform may use (Phi-3.5-V: 4 multi-frame, 16 single)
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};  // OpenAI CLIP
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
};

// preprocessor_config.json: num_crops, image_mean, image_std (absent keys keep the defaults above).
// Throws hae::Error naming the file and key.
Phi3vPreprocessConfig loadPhi3vPreprocessConfig(const std::string& path);

// Where HD_transform puts an image of width x height: the crop grid and the resize, in the
// original orientation.
struct Phi3vLayout {
  bool transposed = false;           // portrait images are resized lying down, then turned back
  int rows = 0, cols = 0;            // crop grid; the HD image is (cols*336) x (rows*336)
  int resized_w = 0, resized_h = 0;  // the image inside the HD image (the rest is white padding)
  int offset_x = 0, offset_y = 0;    // its top-left corner in the HD image
  int hdWidth() const { return cols * kPhi3vCropSize; }
  int hdHeight() const { return rows * kPhi3vCropSize; }
};
// Throws hae::Error when the image is empty or too thin to resize, or num_crops < 1.
Phi3vLayout phi3vLayout(int width, int height, int num_crops);

// The processor's token count for a crop grid: each sub-crop and the global view give
// merged x merged tokens, every row of the sub-grid and of the global view ends with a newline
// token, plus one separator between the two: (rows*cols + 1) * m^2 + 1 + (rows + 1) * m.
int phi3vImageTokens(int rows, int cols, int merged = 12);

struct Phi3vHdImage {
  Phi3vLayout layout;
  RgbImage hd_u8;                 // the uint8 HD image (resized, padded), HWC
  std::vector<float> normalized;  // CHW float32: (float(u8) / 255 - mean) / std, as torchvision
  int num_img_tokens = 0;
};
Phi3vHdImage phi3vHdTransform(const RgbImage& image, const Phi3vPreprocessConfig& config);

// The part of the original image (width x height) that an HD-image rectangle shows; may reach
// outside the image where the rectangle covers white padding.
PatchRect phi3vOriginalRect(const Phi3vLayout& layout, int width, int height, double x, double y,
                            double w, double h);

}  // namespace hae
