#include "vision/image_header.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

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
std::uint32_t le32(const std::uint8_t* p) {
  return le16(p) | (le16(p + 2) << 16);
}
std::int32_t le32s(const std::uint8_t* p) {
  return static_cast<std::int32_t>(le32(p));
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

// ImageWidth (256) and ImageLength (257) of the first IFD, either byte order (not BigTIFF).
std::optional<HeaderSize> sniffTiff(const std::uint8_t* d, std::size_t n) {
  if (n < 8) return std::nullopt;
  bool little = false;
  if (d[0] == 'I' && d[1] == 'I' && d[2] == 42 && d[3] == 0)
    little = true;
  else if (!(d[0] == 'M' && d[1] == 'M' && d[2] == 0 && d[3] == 42))
    return std::nullopt;
  auto u16 = [&](std::uint64_t o) { return little ? le16(d + o) : be16(d + o); };
  auto u32 = [&](std::uint64_t o) { return little ? le32(d + o) : be32(d + o); };
  const std::uint64_t ifd = u32(4);
  if (ifd + 2 > n) return std::nullopt;
  const std::uint32_t entries = u16(ifd);
  std::int64_t width = -1, height = -1;
  for (std::uint32_t i = 0; i < entries; ++i) {
    const std::uint64_t e = ifd + 2 + 12 * std::uint64_t{i};
    if (e + 12 > n) break;
    const std::uint32_t tag = u16(e), type = u16(e + 2), count = u32(e + 4);
    if ((tag != 256 && tag != 257) || count < 1) continue;
    std::int64_t value = 0;
    if (type == 3)
      value = u16(e + 8);  // SHORT, left-justified in the value field
    else if (type == 4)
      value = u32(e + 8);  // LONG
    else
      continue;
    (tag == 256 ? width : height) = value;
  }
  if (width < 0 || height < 0) return std::nullopt;
  return HeaderSize{width, height, "TIFF"};
}

// The canvas of a VP8X file, or the frame of a simple lossy (VP8) or lossless (VP8L) one.
std::optional<HeaderSize> sniffWebp(const std::uint8_t* d, std::size_t n) {
  if (n < 30 || std::memcmp(d, "RIFF", 4) != 0 || std::memcmp(d + 8, "WEBP", 4) != 0)
    return std::nullopt;
  const std::uint8_t* c = d + 12;
  auto le24 = [](const std::uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16); };
  if (std::memcmp(c, "VP8X", 4) == 0) return HeaderSize{1 + le24(c + 12), 1 + le24(c + 15), "WebP"};
  if (std::memcmp(c, "VP8L", 4) == 0 && c[8] == 0x2f) {
    const std::uint32_t bits = le32(c + 9);
    return HeaderSize{1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff), "WebP"};
  }
  if (std::memcmp(c, "VP8 ", 4) == 0 && c[11] == 0x9d && c[12] == 0x01 && c[13] == 0x2a)
    return HeaderSize{le16(c + 14) & 0x3fff, le16(c + 16) & 0x3fff, "WebP"};
  return std::nullopt;
}

// ---- Damage checks -------------------------------------------------------------------------

// Walks the filtered rows of a PNG's inflated image data: every row starts with a filter type
// byte (0..4), Adam7 images hold seven passes of sub-images, empty passes are skipped.
class PngRows {
 public:
  PngRows(std::uint64_t width, std::uint64_t height, std::uint64_t bits_per_pixel, bool adam7) {
    static constexpr int kAdam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                         {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
    auto add = [&](std::uint64_t w, std::uint64_t h) {
      if (w > 0 && h > 0) passes_.emplace_back(h, 1 + (w * bits_per_pixel + 7) / 8);
    };
    if (!adam7) {
      add(width, height);
      return;
    }
    for (const auto& p : kAdam7) {
      const auto x0 = static_cast<std::uint64_t>(p[0]), y0 = static_cast<std::uint64_t>(p[1]);
      const auto dx = static_cast<std::uint64_t>(p[2]), dy = static_cast<std::uint64_t>(p[3]);
      add(width > x0 ? (width - x0 + dx - 1) / dx : 0,
          height > y0 ? (height - y0 + dy - 1) / dy : 0);
    }
  }
  bool done() const { return pass_ >= passes_.size(); }
  // False at a row whose filter byte is not 0..4.
  bool consume(const std::uint8_t* p, std::size_t n) {
    while (n > 0 && !done()) {
      const auto [rows, row_bytes] = passes_[pass_];
      if (offset_ == 0 && *p > 4) return false;
      const std::uint64_t take = std::min<std::uint64_t>(n, row_bytes - offset_);
      p += take;
      n -= static_cast<std::size_t>(take);
      offset_ += take;
      if (offset_ == row_bytes) {
        offset_ = 0;
        if (++row_ == rows) row_ = 0, ++pass_;
      }
    }
    return true;
  }

 private:
  std::vector<std::pair<std::uint64_t, std::uint64_t>> passes_;  // rows, bytes per row
  std::size_t pass_ = 0;
  std::uint64_t row_ = 0, offset_ = 0;
};

bool validPngDepth(int colour, int depth) {
  switch (colour) {
    case 0:
      return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3:
      return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2:
    case 4:
    case 6:
      return depth == 8 || depth == 16;
    default:
      return false;
  }
}

// What libpng would stop at: a chunk cut short, a bad CRC (PIL checks every chunk's), an invalid
// IHDR, a palette image without PLTE, image data that is not a zlib stream or ends before the
// last row, a bad row filter, no IEND.
std::optional<std::string> pngDamage(const std::uint8_t* d, std::size_t n) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return std::nullopt;  // out of memory: let the decoder try
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, inflateEnd);
  std::optional<PngRows> rows;
  int colour = 0;
  bool plte = false, iend = false, rows_done = false;
  std::array<std::uint8_t, 1 << 16> out{};
  std::size_t pos = 8;
  while (pos < n) {
    if (n - pos < 12)
      return fmt::format("PNG data ends inside a chunk header at byte {} (the file is truncated)",
                         pos);
    const std::uint32_t length = be32(d + pos);
    const std::string type(reinterpret_cast<const char*>(d + pos + 4), 4);
    if (length > 0x7fffffffu)
      return fmt::format("PNG chunk at byte {} has an invalid length {}", pos, length);
    if (n - pos - 12 < length)
      return fmt::format(
          "PNG chunk '{}' at byte {} runs past the end of the file (the file is truncated)", type,
          pos);
    const std::uint8_t* data = d + pos + 8;
    const auto crc =
        static_cast<std::uint32_t>(crc32(crc32(0, nullptr, 0), d + pos + 4, length + 4));
    if (crc != be32(data + length))
      return fmt::format("PNG chunk '{}' at byte {} has a bad CRC (the file is corrupt)", type,
                         pos);
    if (!rows) {
      if (type != "IHDR" || length != 13)
        return std::string("PNG data does not start with an IHDR chunk");
      const std::uint32_t width = be32(data), height = be32(data + 4);
      const int depth = data[8];
      colour = data[9];
      if (width == 0 || height == 0 || width > 0x7fffffffu || height > 0x7fffffffu)
        return fmt::format("PNG IHDR has an invalid size {}x{}", width, height);
      if (!validPngDepth(colour, depth) || data[10] != 0 || data[11] != 0 || data[12] > 1)
        return fmt::format(
            "PNG IHDR is invalid (colour type {}, bit depth {}, compression {}, filter {}, "
            "interlace {})",
            colour, depth, data[10], data[11], data[12]);
      const int channels = colour == 2 ? 3 : colour == 4 ? 2 : colour == 6 ? 4 : 1;
      rows.emplace(width, height, static_cast<std::uint64_t>(channels) * depth, data[12] == 1);
    } else if (type == "PLTE") {
      plte = true;
    } else if (type == "IDAT" && !rows_done) {
      if (colour == 3 && !plte)
        return std::string("PNG palette image has no PLTE chunk before its image data");
      z.next_in = const_cast<Bytef*>(data);
      z.avail_in = length;
      while (z.avail_in > 0 && !rows_done) {
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        const int rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
          return fmt::format("PNG image data is corrupt (zlib: {})",
                             z.msg ? z.msg : "invalid stream");
        if (!rows->consume(out.data(), out.size() - z.avail_out))
          return std::string("PNG image data is corrupt (a row has an invalid filter type)");
        rows_done = rows->done();
        if (rc == Z_STREAM_END) break;
        if (rc == Z_BUF_ERROR && z.avail_out > 0) break;  // no progress possible
      }
    } else if (type == "IEND") {
      iend = true;
      break;
    }
    pos += 12 + std::size_t{length};
  }
  if (!rows) return std::string("PNG data ends before its IHDR chunk (the file is truncated)");
  if (!iend) return std::string("PNG data ends before its IEND chunk (the file is truncated)");
  // As PIL, extra image data after the last row is not an error.
  if (!rows_done)
    return std::string(
        "PNG image data ends before the last row (the file is truncated or corrupt)");
  return std::nullopt;
}

// libjpeg decodes a file cut short without an error (it fills the missing rows with grey); PIL
// raises "image file is truncated". The end-of-image marker is the sign of a whole file: walk the
// segments, skip each scan's entropy-coded data (where 0xFF is stuffed as FF 00, and restart
// markers RST0..7 stand alone) and look for EOI. Extraneous bytes between segments are skipped,
// as libjpeg does.
std::optional<std::string> jpegDamage(const std::uint8_t* d, std::size_t n) {
  static const std::string kTruncated =
      "JPEG data ends before its end-of-image marker (the file is truncated)";
  std::size_t pos = 2;
  while (true) {
    while (pos < n && d[pos] != 0xFF) ++pos;
    while (pos < n && d[pos] == 0xFF) ++pos;
    if (pos >= n) return kTruncated;
    const std::uint8_t marker = d[pos++];
    if (marker == 0xD9) return std::nullopt;
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;
    if (n - pos < 2) return kTruncated;
    const std::uint32_t length = be16(d + pos);
    if (length < 2)
      return fmt::format("JPEG segment at byte {} has an invalid length {}", pos - 2, length);
    pos += length;
    if (marker != 0xDA) continue;
    while (pos + 1 < n) {
      const std::uint8_t next = d[pos + 1];
      if (d[pos] == 0xFF && next != 0x00 && next != 0xFF && !(next >= 0xD0 && next <= 0xD7)) break;
      ++pos;
    }
    if (pos + 1 >= n) return kTruncated;
  }
}

bool pnmSpace(std::uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// P1..P6: the raster must hold width x height samples (OpenCV's reader prints "Unexpected end of
// input stream" on stderr otherwise).
std::optional<std::string> pnmDamage(const std::uint8_t* d, std::size_t n) {
  const char kind = static_cast<char>(d[1]);
  const int fields = kind == '1' || kind == '4' ? 2 : 3;
  std::uint64_t v[3] = {0, 0, 0};
  std::size_t pos = 2;
  auto skipSpaceAndComments = [&] {
    while (pos < n) {
      if (d[pos] == '#') {
        while (pos < n && d[pos] != '\n' && d[pos] != '\r') ++pos;
      } else if (pnmSpace(d[pos])) {
        ++pos;
      } else {
        break;
      }
    }
  };
  for (int i = 0; i < fields; ++i) {
    skipSpaceAndComments();
    if (pos >= n) return std::string("PNM header ends early (the file is truncated)");
    if (d[pos] < '0' || d[pos] > '9') return fmt::format("PNM header is malformed at byte {}", pos);
    while (pos < n && d[pos] >= '0' && d[pos] <= '9') {
      v[i] = v[i] * 10 + (d[pos++] - '0');
      if (v[i] > (std::uint64_t{1} << 32)) return std::nullopt;  // the size check's business
    }
  }
  const std::uint64_t width = v[0], height = v[1], maxval = fields == 3 ? v[2] : 1;
  if (maxval < 1 || maxval > 65535)
    return fmt::format("PNM maxval {} is outside [1, 65535]", maxval);
  const std::uint64_t channels = kind == '3' || kind == '6' ? 3 : 1;
  if (kind >= '4') {
    if (pos >= n) return std::string("PNM data ends after its header (the file is truncated)");
    ++pos;  // exactly one whitespace byte before the raster
    const std::uint64_t need = kind == '4' ? height * ((width + 7) / 8)
                                           : width * height * channels * (maxval < 256 ? 1 : 2);
    if (n - pos < need)
      return fmt::format(
          "PNM raster needs {} bytes after the header but the file holds {} (the file is "
          "truncated)",
          need, n - pos);
    return std::nullopt;
  }
  // ASCII: P1 samples are single digits, possibly not separated; P2/P3 samples are numbers.
  const std::uint64_t need = width * height * channels;
  std::uint64_t have = 0;
  while (have < need) {
    skipSpaceAndComments();
    if (pos >= n) break;
    if (d[pos] < '0' || d[pos] > '9')
      return fmt::format("PNM data holds a non-digit at byte {}", pos);
    if (kind == '1')
      ++pos;
    else
      while (pos < n && d[pos] >= '0' && d[pos] <= '9') ++pos;
    ++have;
  }
  if (have < need)
    return fmt::format("PNM data holds {} of its {} samples (the file is truncated)", have, need);
  return std::nullopt;
}

// Uncompressed BMP (BI_RGB, BI_BITFIELDS): the pixel array must fit in the file. RLE and embedded
// JPEG/PNG are left to the decoder.
std::optional<std::string> bmpDamage(const std::uint8_t* d, std::size_t n) {
  if (n < 18) return std::string("BMP header ends early (the file is truncated)");
  const std::uint32_t info_size = le32(d + 14);
  if (n < 14 + std::min<std::uint64_t>(info_size, 40))
    return std::string("BMP header ends early (the file is truncated)");
  std::uint64_t width = 0, height = 0, bits = 0, compression = 0;
  if (info_size == 12) {
    width = le16(d + 18);
    height = le16(d + 20);
    bits = le16(d + 24);
  } else if (info_size >= 40) {
    width = static_cast<std::uint64_t>(std::llabs(le32s(d + 18)));
    height = static_cast<std::uint64_t>(std::llabs(le32s(d + 22)));
    bits = le16(d + 28);
    compression = le32(d + 30);
  } else {
    return std::nullopt;
  }
  if ((compression != 0 && compression != 3) ||
      !(bits == 1 || bits == 4 || bits == 8 || bits == 16 || bits == 24 || bits == 32))
    return std::nullopt;
  if (width > (std::uint64_t{1} << 32) || height > (std::uint64_t{1} << 32)) return std::nullopt;
  const std::uint64_t need = le32(d + 10) + (width * bits + 31) / 32 * 4 * height;
  if (need > n)
    return fmt::format(
        "BMP pixel array needs {} bytes but the file holds {} (the file is truncated)", need, n);
  return std::nullopt;
}

}  // namespace

std::optional<HeaderSize> sniffImageSize(const std::uint8_t* data, std::size_t size) {
  if (auto s = sniffPng(data, size)) return s;
  if (auto s = sniffJpeg(data, size)) return s;
  if (auto s = sniffBmp(data, size)) return s;
  if (auto s = sniffTiff(data, size)) return s;
  if (auto s = sniffWebp(data, size)) return s;
  return sniffPnm(data, size);
}

std::optional<std::string> findImageDamage(const std::uint8_t* data, std::size_t size) {
  static const std::uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return pngDamage(data, size);
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
    return jpegDamage(data, size);
  if (size >= 2 && data[0] == 'B' && data[1] == 'M') return bmpDamage(data, size);
  if (size >= 3 && data[0] == 'P' && data[1] >= '1' && data[1] <= '6' && pnmSpace(data[2]))
    return pnmDamage(data, size);
  return std::nullopt;
}

}  // namespace hae::vision
