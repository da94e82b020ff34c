#pragma once
// Hugging Face CLIPImageProcessor (the LLaVA-1.5 image path), reproduced exactly: PIL resize of the
// short side, centre crop, rescale and normalise in float32 with transformers' operation order.
#include <array>
#include <string>
#include <vector>

#include "hae/image.h"

namespace hae {

// Defaults are llava-1.5-7b-hf's preprocessor_config.json.
struct ClipPreprocessConfig {
  int shortest_edge = 336;
  // size {"height", "width"} instead of {"shortest_edge"}: a plain resize to that size (both > 0).
  int resize_width = 0;
  int resize_height = 0;
  int crop_width = 336;
  int crop_height = 336;
  bool do_resize = true;
  bool do_center_crop = true;
  bool do_rescale = true;
  bool do_normalize = true;
  // double, not float: transformers multiplies in float64 before casting to float32, and the float
  // nearest to 1/255 would change some outputs in the last bit.
  double rescale_factor = 1.0 / 255.0;
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
  PilFilter resample = PilFilter::bicubic;
};

// Reads preprocessor_config.json. Absent keys take CLIPImageProcessor's class defaults (shortest
// edge 224, crop 224, OpenAI CLIP mean/std, bicubic), as transformers does. Throws hae::Error
// naming the file and key on unreadable JSON or a wrong value.
ClipPreprocessConfig loadClipPreprocessConfig(const std::string& path);

struct PreprocessedImage {
  std::vector<float> pixel_values;  // CHW, 3 x height x width
  int height = 0;
  int width = 0;
  RgbImage crop_u8;       // the uint8 image after resize and crop, before rescaling
  int resized_width = 0;  // size after the resize step (the input size when do_resize is off)
  int resized_height = 0;
  int crop_left = 0;  // crop offset in the resized image; negative where the crop pads
  int crop_top = 0;
  // The model input's footprint on the original image, in original pixel coordinates, so a GUI can
  // draw each 14x14 patch on the user's picture. It may reach outside the image when the crop is
  // larger than the resized image (zero padding).
  float region_x = 0, region_y = 0, region_w = 0, region_h = 0;
};

// Throws hae::Error on an empty image or an unusable config.
PreprocessedImage clipPreprocess(const RgbImage& image, const ClipPreprocessConfig& config);

}  // namespace hae
