#pragma once
// Hugging Face Idefics3ImageProcessor (SmolVLM) reproduced exactly, and the processor's text for
// an image: resize the longest edge, round both edges up to whole tiles, cut row-major tiles plus
// a downscaled global image (PIL LANCZOS on uint8 throughout), then rescale and normalise in
// float32 in transformers' operation order.
#include <array>
#include <string>
#include <vector>

#include "hae/image.h"
#include "hae/telemetry.h"

namespace hae {

// Defaults are Idefics3ImageProcessor's constructor defaults, used for keys a file omits.
struct Idefics3PreprocessConfig {
  bool do_resize = true;
  int longest_edge = 4 * 364;  // size {"longest_edge"}: the first resize target (SmolVLM: 2048)
  int tile_size = 364;  // max_image_size {"longest_edge"}: the vision tower's input (SmolVLM: 512)
  bool do_image_splitting = true;
  PilFilter resample = PilFilter::lanczos;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;  // double: transformers rescales in float64, then casts
  bool do_normalize = true;
  std::array<float, 3> mean = {0.5f, 0.5f, 0.5f};
  std::array<float, 3> std = {0.5f, 0.5f, 0.5f};
};

// transformers' get_resize_output_image_size refuses a longest edge above this.
inline constexpr int kIdefics3MaxLongestEdge = 4096;

// Reads preprocessor_config.json; throws hae::Error naming the file and key.
Idefics3PreprocessConfig loadIdefics3PreprocessConfig(const std::string& path);

struct Idefics3Tile {
  RgbImage pixels;         // tile_size x tile_size, before rescaling
  int row = -1, col = -1;  // grid position (0-based); -1 for the global image
  bool global = false;     // the whole image downscaled to one tile (after the grid tiles)
  PatchRect region;        // the tile's footprint on the original image, in original pixels
};

struct Idefics3Preprocessed {
  int rows = 0, cols = 0;  // tile grid; 0 x 0 when the image fits one tile (no global image then)
  int resized_width = 0, resized_height = 0;  // after the longest-edge resize
  int grid_width = 0, grid_height = 0;        // after rounding up to whole tiles (may stretch)
  int tile_size = 0;
  std::vector<Idefics3Tile> tiles;  // row-major grid tiles, then the global image
  std::vector<float> pixel_values;  // [tiles, 3, tile_size, tile_size]
};

// Throws hae::Error on an empty image, a longest edge above kIdefics3MaxLongestEdge, or
// do_image_splitting off (variable-size single images need the vision tower's patch mask, which
// this runtime does not implement).
Idefics3Preprocessed idefics3Preprocess(const RgbImage& image,
                                        const Idefics3PreprocessConfig& config);

// The processor's expansion of one "<image>": for a rows x cols split,
//   per row: per tile "<fake_token_around_image><row_r_col_c>" + n x "<image>", then "\n";
//   then "\n<fake_token_around_image><global-img>" + n x "<image>" + "<fake_token_around_image>".
// rows = cols = 0 (one tile) gives only the global part without the leading "\n".
std::string idefics3ImageText(int rows, int cols, int tokens_per_tile);

}  // namespace hae
