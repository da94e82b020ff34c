#pragma once
// Image dimensions read from the file header alone, so loadImage can refuse a decompression bomb
// before any decoder allocates the full raster.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace hae::vision {

struct HeaderSize {
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::string format;  // "PNG", "JPEG", "BMP", "PNM"
};

// Returns the size for PNG, JPEG, BMP and binary/ASCII PNM headers; nullopt for other formats or
// headers too damaged to read (the decoder then reports the problem).
std::optional<HeaderSize> sniffImageSize(const std::uint8_t* data, std::size_t size);

}  // namespace hae::vision
