#pragma once
// Hugging Face Qwen2VLImageProcessor (transformers 4.49, the PIL path) reproduced exactly, for
// Qwen2-VL and Qwen2.5-VL: smart_resize to multiples of patch x merge (28 px) within
// [min_pixels, max_pixels], a PIL bicubic resize of the uint8 image, rescale and normalise in
// float32, the frame repeated to temporal_patch_size, and the patches flattened as the reference
// does (merge groups row-major, the group's 2x2 cells inside, columns channel / frame / y / x).
#include <array>
#include <string>
#include <vector>

#include "hae/image.h"

namespace hae {

// Defaults are the class defaults of 4.49 (min_pixels 56*56, max_pixels 28*28*1280).
struct Qwen2VLPreprocessConfig {
  long long min_pixels = 56 * 56;
  long long max_pixels = 28 * 28 * 1280;
  int patch_size = 14;
  int temporal_patch_size = 2;
  int merge_size = 2;
  bool do_resize = true;
  bool do_rescale = true;
  bool do_normalize = true;
  double rescale_factor = 1.0 / 255.0;  // double: transformers rescales in float64, then casts
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
  PilFilter resample = PilFilter::bicubic;
  int factor() const { return patch_size * merge_size; }
};

// preprocessor_config.json: min_pixels / max_pixels, or size {shortest_edge, longest_edge} (the
// former win, as in the class), patch_size, temporal_patch_size, merge_size, resample, rescale and
// normalisation keys. Throws hae::Error naming the file and key.
Qwen2VLPreprocessConfig loadQwen2VLPreprocessConfig(const std::string& path);

struct Qwen2VLSize {
  int height = 0, width = 0;
};

// smart_resize: both sides rounded to multiples of `factor` with Python's round (halves to even,
// quirk Q17), then scaled down (floor) into max_pixels or up (ceil) into min_pixels, in double
// precision as the reference. Throws hae::Error when a side is below `factor` or the aspect ratio
// exceeds 200, as the reference raises.
Qwen2VLSize qwen2vlSmartResize(int height, int width, int factor, long long min_pixels,
                               long long max_pixels);

struct Qwen2VLPreprocessed {
  RgbImage resized;                        // the uint8 image after the PIL resize (resized_u8)
  int grid_t = 1, grid_h = 0, grid_w = 0;  // image_grid_thw, in patches
  std::vector<float> pixel_values;  // [grid_t * grid_h * grid_w, 3 * temporal * patch * patch]
  int rowWidth() const {
    return static_cast<int>(pixel_values.size() / (grid_t * grid_h * grid_w));
  }
};

// Throws hae::Error on an empty image or an image smart_resize refuses.
Qwen2VLPreprocessed qwen2vlPreprocess(const RgbImage& image, const Qwen2VLPreprocessConfig& config);

}  // namespace hae
