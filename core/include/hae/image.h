#pragma once
// Decoded images and PIL-exact resampling. Everything the vision preprocessors need before the
// float stage lives here, so that the uint8 stages can be compared byte for byte with the Python
// reference (Pillow 9.4 + transformers).
#include <cstdint>
#include <string>
#include <vector>

namespace hae {

// 8-bit RGB, row-major, channels interleaved (HWC); pixels.size() == width * height * 3.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;
};

// Decompression-bomb guard: loadImage refuses larger images before allocating them. 2^28 pixels is
// 16384 x 16384 (768 MiB as RGB), far above any model's input.
inline constexpr std::int64_t kMaxImagePixels = std::int64_t{1} << 28;

// Reads PNG, JPEG, BMP, WebP, TIFF, PNM, ... through OpenCV. Grey and alpha images become RGB the
// way PIL's convert("RGB") does: grey is replicated, alpha is dropped without compositing. EXIF
// orientation is ignored, as PIL's Image.open ignores it. Throws hae::Error naming the file when it
// is missing, empty, not an image, corrupt or larger than kMaxImagePixels.
RgbImage loadImage(const std::string& path);

// The values are PIL's resampling constants, which preprocessor_config.json stores as "resample".
enum class PilFilter : int {
  nearest = 0,
  lanczos = 1,
  bilinear = 2,
  bicubic = 3,
  box = 4,
  hamming = 5,
};

// Parses a PIL resampling constant (0..5); throws hae::Error otherwise.
PilFilter pilFilterFromInt(int value);

// PIL's Image.resize((width, height), filter) on an RGB image, bit for bit (Pillow 9.4, no box, no
// reducing_gap). Throws hae::Error on an empty or inconsistent input or a non-positive size.
RgbImage resizePil(const RgbImage& image, int width, int height, PilFilter filter);

}  // namespace hae
