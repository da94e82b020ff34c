// libFuzzer target for the image header checks (vision/image_header.cpp) that loadImage runs on
// every file before a decoder allocates anything: sniffImageSize, then, for a size within
// loadImage's limit, findImageDamage (PNG chunks, CRCs and inflated rows; JPEG, PNM and BMP
// extents). Any bytes must give nullopt or a size that is not negative, stays far below int64
// overflow and comes with the format the magic bytes name; a damage report must say something.
// A crash, a sanitizer report (an over-read shows as a heap-buffer-overflow on the exact-size
// copy), a hang or a broken invariant is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "hae/image.h"
#include "vision/image_header.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A heap copy of exactly `size` bytes, so AddressSanitizer flags any read past the end.
  std::vector<std::uint8_t> buffer(data, data + size);
  const auto header = hae::vision::sniffImageSize(buffer.data(), buffer.size());
  if (header) {
    const std::int64_t w = header->width, h = header->height;
    require(w >= 0 && h >= 0);
    // Each side is at most 2^44 (PNM stops reading digits past 2^40), so checks never wrap.
    require(w < (std::int64_t{1} << 45) && h < (std::int64_t{1} << 45));
    const std::string& f = header->format;
    const std::uint8_t* b = buffer.data();
    if (f == "PNG") {
      require(size >= 24 && b[0] == 0x89 && std::memcmp(b + 1, "PNG", 3) == 0);
    } else if (f == "JPEG") {
      require(size >= 3 && b[0] == 0xFF && b[1] == 0xD8 && w <= 0xFFFF && h <= 0xFFFF);
    } else if (f == "BMP") {
      require(size >= 26 && b[0] == 'B' && b[1] == 'M');
      require(w <= (std::int64_t{1} << 31) && h <= (std::int64_t{1} << 31));
    } else if (f == "TIFF") {
      require(size >= 8 && (std::memcmp(b, "II*\0", 4) == 0 || std::memcmp(b, "MM\0*", 4) == 0));
      require(w <= 0xFFFFFFFFll && h <= 0xFFFFFFFFll);
    } else if (f == "WebP") {
      require(size >= 30 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WEBP", 4) == 0);
      require(w <= (1 << 24) && h <= (1 << 24));
    } else if (f == "PNM") {
      require(size >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6');
    } else {
      require(false);
    }
    // loadImage's checkDimensions, in its order (the product is formed only for sides already
    // within the limit, so it cannot overflow); a refused image never reaches the damage checks.
    if (w <= 0 || h <= 0 || w > hae::kMaxImagePixels || h > hae::kMaxImagePixels ||
        w * h > hae::kMaxImagePixels)
      return 0;
  }
  if (const auto damage = hae::vision::findImageDamage(buffer.data(), buffer.size()))
    require(!damage->empty());
  return 0;
}
