// Image decoding through OpenCV, shaped to give the pixels PIL's Image.open(...).convert("RGB")
// gives, and to fail with a message naming the file instead of crashing or exhausting memory.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>

#include "hae/error.h"
#include "hae/image.h"
#include "vision/image_header.h"

namespace hae {
namespace {

// Compressed files are far smaller than their raster; this only stops a stray huge file from
// being read into memory whole.
constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{1} << 30;

std::string quoted(const std::string& path) {
  return "'" + path + "'";
}

// For formats whose header we do not parse, OpenCV's own size check is the guard. It reads
// OPENCV_IO_MAX_IMAGE_PIXELS once, on first use, so set it before the first decode; a value the
// user exported wins. OpenCV's log (libtiff's and libwebp's complaints go through it) is silenced:
// a failure reaches the user as one hae::Error naming the file.
void limitOpenCvDecoders() {
  static std::once_flag once;
  std::call_once(once, [] {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
#ifdef _WIN32
    if (!std::getenv("OPENCV_IO_MAX_IMAGE_PIXELS")) {
      _putenv_s("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(kMaxImagePixels).c_str());
    }
#else
    setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(kMaxImagePixels).c_str(), 0);
#endif
  });
}

std::vector<std::uint8_t> readFile(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw Error("image file " + quoted(path) + " does not exist");
  if (fs::is_directory(status)) throw Error("image path " + quoted(path) + " is a directory");
  if (!fs::is_regular_file(status))  // a FIFO would block the read until someone writes to it
    throw Error("image path " + quoted(path) + " is not a regular file (a FIFO, socket or device)");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw Error("cannot read image file " + quoted(path) + ": " + ec.message());
  if (size == 0) throw Error("image file " + quoted(path) + " is empty");
  if (size > kMaxFileBytes) {
    throw Error("image file " + quoted(path) + " is too large (" + std::to_string(size) +
                " bytes; the limit is " + std::to_string(kMaxFileBytes) + ")");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open image file " + quoted(path));
  std::vector<std::uint8_t> bytes(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) {
    throw Error("cannot read image file " + quoted(path) + " (short read)");
  }
  return bytes;
}

void checkDimensions(const std::string& path, std::int64_t width, std::int64_t height,
                     const std::string& format) {
  if (width <= 0 || height <= 0) {
    throw Error(format + " image " + quoted(path) + " has an invalid size " +
                std::to_string(width) + "x" + std::to_string(height));
  }
  if (width > kMaxImagePixels || height > kMaxImagePixels || width * height > kMaxImagePixels) {
    throw Error(format + " image " + quoted(path) + " is too large (" + std::to_string(width) +
                "x" + std::to_string(height) + " pixels; the limit is " +
                std::to_string(kMaxImagePixels) + " pixels)");
  }
}

}  // namespace

RgbImage loadImage(const std::string& path) {
  const std::vector<std::uint8_t> bytes = readFile(path);
  if (auto header = vision::sniffImageSize(bytes.data(), bytes.size())) {
    checkDimensions(path, header->width, header->height, header->format);
  }
  // Before the decoder sees it: libpng and OpenCV's readers print their own complaints on
  // stderr, and libjpeg decodes a truncated file silently where PIL raises.
  if (auto damage = vision::findImageDamage(bytes.data(), bytes.size())) {
    throw Error("cannot decode image file " + quoted(path) + ": " + *damage);
  }
  limitOpenCvDecoders();

  cv::Mat bgr;
  try {
    const cv::Mat encoded(1, static_cast<int>(bytes.size()), CV_8UC1,
                          const_cast<std::uint8_t*>(bytes.data()));
    // IMREAD_COLOR replicates grey and strips alpha without compositing, as convert("RGB") does;
    // 16-bit samples keep their high byte. PIL never applies EXIF orientation on open.
    bgr = cv::imdecode(encoded, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    // e.what() holds OpenCV's source file and line; e.err is the reason alone.
    if (e.func == "validateInputImageSize") {
      throw Error("image file " + quoted(path) + " is too large (more than " +
                  std::to_string(kMaxImagePixels) +
                  " pixels, or a side above the decoder's limit)");
    }
    throw Error("cannot decode image file " + quoted(path) + ": " + e.err);
  } catch (const std::bad_alloc&) {
    throw Error("out of memory decoding image file " + quoted(path));
  }
  if (bgr.empty()) {
    throw Error("cannot decode image file " + quoted(path) +
                ": not a supported image format, or the file is truncated or corrupt");
  }
  if (bgr.type() != CV_8UC3) {
    throw Error("image file " + quoted(path) + " decoded to an unexpected pixel type");
  }
  checkDimensions(path, bgr.cols, bgr.rows, "decoded");

  RgbImage rgb{bgr.cols, bgr.rows, std::vector<std::uint8_t>(size_t(bgr.cols) * bgr.rows * 3)};
  for (int y = 0; y < bgr.rows; ++y) {
    const std::uint8_t* src = bgr.ptr<std::uint8_t>(y);
    std::uint8_t* dst = &rgb.pixels[size_t(y) * bgr.cols * 3];
    for (int x = 0; x < bgr.cols; ++x) {
      dst[x * 3 + 0] = src[x * 3 + 2];
      dst[x * 3 + 1] = src[x * 3 + 1];
      dst[x * 3 + 2] = src[x * 3 + 0];
    }
  }
  return rgb;
}

}  // namespace hae
