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

// Returns the size for PNG, JPEG, BMP, TIFF, WebP and binary/ASCII PNM headers; nullopt for other
// formats or headers too damaged to read (the decoder then reports the problem).
std::optional<HeaderSize> sniffImageSize(const std::uint8_t* data, std::size_t size);

// Why `data` cannot be a whole image of its format, found without decoding it; nullopt when the
// checks pass or the format is not one checked. The decoders behind OpenCV print their own
// complaints on stderr (libpng, OpenCV's PNM and BMP readers) and libjpeg decodes a truncated
// file silently where PIL raises, so these run first and the caller gives one line naming the
// file. Checked: PNG (chunk lengths and CRCs, IHDR, the zlib stream holds every row, IEND), JPEG
// (an end-of-image marker after the scans), PNM (the raster's size) and uncompressed BMP (the
// pixel array's size). Call after the size check: the PNG check inflates the image data.
std::optional<std::string> findImageDamage(const std::uint8_t* data, std::size_t size);

}  // namespace hae::vision
