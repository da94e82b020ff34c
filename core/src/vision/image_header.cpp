#include "vision/image_header.h"

#include <cstdlib>
#include <cstring>

namespace hae::vision {
namespace {

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}
std::uint32_t be16(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 8) | p[1];
}
std::uint32_t le16(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8);
}
std::int32_t le32s(const std::uint8_t* p) {
  return static_cast<std::int32_t>(le16(p) | (le16(p + 2) << 16));
}

std::optional<HeaderSize> sniffPng(const std::uint8_t* d, std::size_t n) {
  static const std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n < 8 || std::memcmp(d, kSignature, 8) != 0) return std::nullopt;
  if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0) return std::nullopt;
  return HeaderSize{be32(d + 16), be32(d + 20), "PNG"};
}

// Walks the marker segments up to the first start-of-frame.
std::optional<HeaderSize> sniffJpeg(const std::uint8_t* d, std::size_t n) {
  if (n < 3 || d[0] != 0xFF || d[1] != 0xD8) return std::nullopt;
  std::size_t pos = 2;
  while (pos < n) {
    if (d[pos] != 0xFF) return std::nullopt;
    while (pos < n && d[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) return std::nullopt;
    const std::uint8_t marker = d[pos++];
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;  // no frame header before the scan
    if (pos + 2 > n) return std::nullopt;
    const std::uint32_t length = be16(d + pos);
    if (length < 2) return std::nullopt;
    const bool startOfFrame =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (startOfFrame) {
      if (pos + 7 > n) return std::nullopt;
      return HeaderSize{be16(d + pos + 5), be16(d + pos + 3), "JPEG"};
    }
    pos += length;
  }
  return std::nullopt;
}

std::optional<HeaderSize> sniffBmp(const std::uint8_t* d, std::size_t n) {
  if (n < 26 || d[0] != 'B' || d[1] != 'M') return std::nullopt;
  const std::int32_t infoSize = le32s(d + 14);
  if (infoSize == 12) return HeaderSize{le16(d + 18), le16(d + 20), "BMP"};  // OS/2 core header
  const std::int64_t w = le32s(d + 18);
  const std::int64_t h = le32s(d + 22);  // negative means top-down
  return HeaderSize{std::llabs(w), std::llabs(h), "BMP"};
}

// P1..P6: magic, then width and height as decimal text, with '#' comments allowed between tokens.
std::optional<HeaderSize> sniffPnm(const std::uint8_t* d, std::size_t n) {
  if (n < 3 || d[0] != 'P' || d[1] < '1' || d[1] > '6') return std::nullopt;
  std::size_t pos = 2;
  std::int64_t values[2] = {0, 0};
  for (std::int64_t& value : values) {
    while (pos < n) {
      if (d[pos] == '#') {
        while (pos < n && d[pos] != '\n' && d[pos] != '\r') ++pos;
      } else if (d[pos] == ' ' || d[pos] == '\t' || d[pos] == '\n' || d[pos] == '\r' ||
                 d[pos] == '\v' || d[pos] == '\f') {
        ++pos;
      } else {
        break;
      }
    }
    if (pos >= n || d[pos] < '0' || d[pos] > '9') return std::nullopt;
    while (pos < n && d[pos] >= '0' && d[pos] <= '9') {
      value = value * 10 + (d[pos++] - '0');
      if (value > (std::int64_t{1} << 40)) break;  // absurd already; keep it from overflowing
    }
  }
  return HeaderSize{values[0], values[1], "PNM"};
}

}  // namespace

std::optional<HeaderSize> sniffImageSize(const std::uint8_t* data, std::size_t size) {
  if (auto s = sniffPng(data, size)) return s;
  if (auto s = sniffJpeg(data, size)) return s;
  if (auto s = sniffBmp(data, size)) return s;
  return sniffPnm(data, size);
}

}  // namespace hae::vision
