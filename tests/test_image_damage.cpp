// Damaged and oversized image files: each is refused with one hae::Error naming the file and the
// reason, before OpenCV's decoders see it, so nothing of libpng's, libjpeg's or OpenCV's own text
// reaches stderr; and valid files of the layouts the checks walk (Adam7, palette, 16-bit) still
// decode. Part of the test_clip_preprocess binary.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "hae/error.h"
#include "hae/image.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

const fs::path kImages = fs::path(HAE_TEST_DATA) / "preprocess" / "images";

Bytes readBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class ImageDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hae_test_image_damage_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const Bytes& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return p.string();
  }

  // loadImage(path) throws hae::Error naming the file and `reason`, prints nothing on stderr,
  // and takes well under a second.
  void expectRefused(const std::string& path, const std::string& reason) {
    const auto start = std::chrono::steady_clock::now();
    ::testing::internal::CaptureStderr();
    std::string what;
    try {
      hae::loadImage(path);
    } catch (const hae::Error& e) {
      what = e.what();
    } catch (const std::exception& e) {
      what = std::string("not a hae::Error: ") + e.what();
    }
    const std::string err = ::testing::internal::GetCapturedStderr();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_FALSE(what.empty()) << path << " decoded";
    EXPECT_NE(what.find("'" + path + "'"), std::string::npos) << what;
    EXPECT_NE(what.find(reason), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_EQ(what.find("OpenCV("), std::string::npos) << what;
    EXPECT_EQ(err, "") << "decoder output on stderr for " << path;
    EXPECT_LT(seconds, 1.0) << path;
  }

  fs::path dir_;
};

void appendBe32(Bytes& v, std::uint32_t x) {
  for (int i = 3; i >= 0; --i) v.push_back(static_cast<std::uint8_t>(x >> (i * 8)));
}

void appendChunk(Bytes& png, const char* type, const Bytes& data) {
  appendBe32(png, static_cast<std::uint32_t>(data.size()));
  Bytes body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  appendBe32(png,
             static_cast<std::uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
}

// A PNG from filtered scanlines (filter type 0), optionally cut `short_by` bytes before the end
// of the raw data.
Bytes makePng(std::uint32_t w, std::uint32_t h, int depth, int colour, bool adam7, const Bytes& raw,
              const Bytes& palette = {}, std::size_t short_by = 0) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr;
  appendBe32(ihdr, w);
  appendBe32(ihdr, h);
  ihdr.insert(ihdr.end(), {static_cast<std::uint8_t>(depth), static_cast<std::uint8_t>(colour), 0,
                           0, static_cast<std::uint8_t>(adam7 ? 1 : 0)});
  appendChunk(png, "IHDR", ihdr);
  if (!palette.empty()) appendChunk(png, "PLTE", palette);
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  Bytes z(size);
  EXPECT_EQ(compress(z.data(), &size, raw.data(), static_cast<uLong>(raw.size() - short_by)), Z_OK);
  z.resize(size);
  appendChunk(png, "IDAT", z);
  appendChunk(png, "IEND", {});
  return png;
}

// 8-bit RGB pixels as Adam7 passes of unfiltered scanlines.
Bytes adam7Raw(int w, int h, const Bytes& rgb) {
  static constexpr int kPass[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                      {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  Bytes raw;
  for (const auto& p : kPass) {
    if (p[0] >= w || p[1] >= h) continue;
    for (int y = p[1]; y < h; y += p[3]) {
      raw.push_back(0);
      for (int x = p[0]; x < w; x += p[2])
        for (int c = 0; c < 3; ++c) raw.push_back(rgb[(std::size_t(y) * w + x) * 3 + c]);
    }
  }
  return raw;
}

TEST_F(ImageDamage, TruncatedJpegIsRefusedAsPilDoes) {
  const Bytes jpeg = readBytes(kImages / "rose.jpg");
  ASSERT_GT(jpeg.size(), 1000u);
  expectRefused(write("half.jpg", Bytes(jpeg.begin(), jpeg.begin() + jpeg.size() / 2)),
                "truncated");
  // Every scan present, only the end-of-image marker missing: libjpeg decodes it, PIL raises.
  expectRefused(write("no_eoi.jpg", Bytes(jpeg.begin(), jpeg.end() - 2)), "end-of-image marker");
  // Bytes after the marker are ignored, as by PIL.
  Bytes trailing = jpeg;
  trailing.insert(trailing.end(), {'j', 'u', 'n', 'k'});
  EXPECT_EQ(hae::loadImage(write("trailing.jpg", trailing)).width,
            hae::loadImage((kImages / "rose.jpg").string()).width);
}

TEST_F(ImageDamage, DamagedPngsAreRefusedWithoutLibpngOutput) {
  const Bytes png = readBytes(kImages / "wizard.png");
  expectRefused(write("half.png", Bytes(png.begin(), png.begin() + png.size() / 2)), "truncated");
  expectRefused(write("no_iend.png", Bytes(png.begin(), png.end() - 12)), "IEND");
  Bytes crc = png;
  crc[crc.size() / 2] ^= 0x55;  // inside the image data
  expectRefused(write("crc.png", crc), "bad CRC");

  // Corrupt zlib data under a valid CRC.
  const Bytes rgb(4 * 4 * 3, 200);
  Bytes raw;
  for (int y = 0; y < 4; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), rgb.begin(), rgb.begin() + 12);
  }
  Bytes good = makePng(4, 4, 8, 2, false, raw);
  ASSERT_EQ(hae::loadImage(write("good.png", good)).width, 4);
  Bytes zbad;  // a zlib header, then a block of reserved type 3
  zbad = {0x78, 0x9c, 0xff, 0xff, 0xff, 0xff};
  Bytes bad = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  bad.insert(bad.end(), good.begin() + 8, good.begin() + 8 + 25);  // IHDR chunk as is
  appendChunk(bad, "IDAT", zbad);
  appendChunk(bad, "IEND", {});
  expectRefused(write("zlib.png", bad), "corrupt");
  // Too few rows in a complete stream, and a row with filter type 9.
  expectRefused(write("short.png", makePng(4, 4, 8, 2, false, raw, {}, 13)), "before the last row");
  Bytes filter = raw;
  filter[13] = 9;
  expectRefused(write("filter.png", makePng(4, 4, 8, 2, false, filter)), "filter");
  // A palette image without PLTE.
  expectRefused(write("noplte.png", makePng(2, 1, 8, 3, false, {0, 0, 0})), "PLTE");
}

TEST_F(ImageDamage, ValidInterlacedPalette16BitPngsStillDecode) {
  const int w = 5, h = 3;
  Bytes rgb;
  for (int i = 0; i < w * h * 3; ++i) rgb.push_back(static_cast<std::uint8_t>(i * 7));
  const hae::RgbImage adam7 =
      hae::loadImage(write("adam7.png", makePng(w, h, 8, 2, true, adam7Raw(w, h, rgb))));
  EXPECT_EQ(adam7.width, w);
  EXPECT_EQ(adam7.height, h);
  EXPECT_EQ(adam7.pixels, rgb);
  Bytes raw = adam7Raw(w, h, rgb);
  expectRefused(write("adam7_short.png", makePng(w, h, 8, 2, true, raw, {}, 4)),
                "before the last row");

  const hae::RgbImage pal = hae::loadImage(
      write("palette.png", makePng(2, 1, 8, 3, false, {0, 0, 1}, {10, 20, 30, 40, 50, 60})));
  EXPECT_EQ(pal.pixels, (Bytes{10, 20, 30, 40, 50, 60}));

  cv::Mat grey16(3, 7, CV_16UC1, cv::Scalar(0x1234));
  std::vector<std::uint8_t> enc;
  ASSERT_TRUE(cv::imencode(".png", grey16, enc));
  EXPECT_EQ(hae::loadImage(write("grey16.png", enc)).width, 7);
}

TEST_F(ImageDamage, TruncatedPnmAndBmpAreRefused) {
  cv::Mat grey(40, 30, CV_8UC1, cv::Scalar(77));
  std::vector<std::uint8_t> pgm;
  ASSERT_TRUE(cv::imencode(".pgm", grey, pgm));
  EXPECT_EQ(hae::loadImage(write("ok.pgm", pgm)).height, 40);
  expectRefused(write("half.pgm", Bytes(pgm.begin(), pgm.begin() + pgm.size() / 2)), "truncated");
  const std::string ascii = "P2\n# grey\n3 2\n255\n1 2 3\n4 5\n";
  expectRefused(write("ascii.pgm", Bytes(ascii.begin(), ascii.end())), "5 of its 6 samples");

  cv::Mat colour(20, 9, CV_8UC3, cv::Scalar(1, 2, 3));
  std::vector<std::uint8_t> bmp;
  ASSERT_TRUE(cv::imencode(".bmp", colour, bmp));
  EXPECT_EQ(hae::loadImage(write("ok.bmp", bmp)).width, 9);
  expectRefused(write("half.bmp", Bytes(bmp.begin(), bmp.begin() + bmp.size() / 2)), "truncated");
}

// A TIFF header claiming 100000 x 100000: refused from the header, before any decoder allocates.
TEST_F(ImageDamage, HugeTiffHeaderIsRefusedBeforeDecoding) {
  auto le16 = [](Bytes& v, std::uint32_t x) {
    v.push_back(x & 0xff);
    v.push_back((x >> 8) & 0xff);
  };
  auto le32 = [&](Bytes& v, std::uint32_t x) {
    le16(v, x & 0xffff);
    le16(v, x >> 16);
  };
  const std::uint32_t side = 100000;
  Bytes tiff = {'I', 'I', 42, 0};
  le32(tiff, 8);
  const std::uint32_t entries[][3] = {{256, 4, side}, {257, 4, side}, {258, 3, 8},
                                      {259, 3, 1},    {262, 3, 1},    {273, 4, 200},
                                      {277, 3, 1},    {278, 4, side}, {279, 4, 0xffffffffu}};
  le16(tiff, 9);
  for (const auto& e : entries) {
    le16(tiff, e[0]);
    le16(tiff, e[1]);
    le32(tiff, 1);
    if (e[1] == 3) {
      le16(tiff, e[2]);
      le16(tiff, 0);
    } else {
      le32(tiff, e[2]);
    }
  }
  le32(tiff, 0);
  tiff.resize(256, 0);
  expectRefused(write("huge.tif", tiff), "100000x100000");
  expectRefused((dir_ / "huge.tif").string(), "too large");
}

}  // namespace
