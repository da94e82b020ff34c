// Parity of image decoding, PIL resampling and CLIPImageProcessor with the Python reference
// fixtures in tests/data/preprocess (see the fixtures README, sections 4 and 4.1), plus the ways a
// user's file can be bad.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "hae/clip_preprocess.h"
#include "hae/error.h"
#include "hae/image.h"
#include "sha256.h"

namespace {

namespace fs = std::filesystem;
using hae::test::sha256Hex;
using nlohmann::json;

const fs::path kData = fs::path(HAE_TEST_DATA);
const fs::path kPre = kData / "preprocess";

std::vector<std::uint8_t> readBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeBytes(const fs::path& p, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// ---- A minimal safetensors reader for the fixtures (the project's own lives elsewhere). ----
struct RawTensor {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;
};

std::map<std::string, RawTensor> readSafetensors(const fs::path& p) {
  const std::vector<std::uint8_t> file = readBytes(p);
  if (file.size() < 8) throw std::runtime_error("short safetensors file " + p.string());
  std::uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | file[i];
  const json header = json::parse(file.begin() + 8, file.begin() + 8 + std::ptrdiff_t(headerLen));
  const size_t base = 8 + headerLen;
  std::map<std::string, RawTensor> out;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    RawTensor t;
    t.dtype = info.at("dtype").get<std::string>();
    t.shape = info.at("shape").get<std::vector<std::int64_t>>();
    const auto offsets = info.at("data_offsets").get<std::vector<size_t>>();
    t.bytes.assign(file.begin() + std::ptrdiff_t(base + offsets[0]),
                   file.begin() + std::ptrdiff_t(base + offsets[1]));
    out.emplace(name, std::move(t));
  }
  return out;
}

const json& fixtureJson() {
  static const json j = json::parse(readBytes(kPre / "preprocess.json"));
  return j;
}

hae::ClipPreprocessConfig llavaConfig() {
  return hae::loadClipPreprocessConfig(
      (kData / "configs/llava-1.5-7b-hf/preprocessor_config.json").string());
}

const char* const kInputs[] = {"wizard", "rose", "rose_jpg", "logo"};

fs::path scratchDir() {
  fs::path dir =
      fs::temp_directory_path() / ("hae_test_clip_preprocess_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// Throws hae::Error whose message contains `needle`.
template <typename F>
void expectErrorMentioning(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected hae::Error mentioning '" << needle << "'";
  } catch (const hae::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected hae::Error, got another exception: " << e.what();
  }
}

// ---- Decoding ----

TEST(ImageDecode, PngMatchesPilPixelsExactly) {
  for (const char* name : {"wizard", "rose", "logo"}) {
    SCOPED_TRACE(name);
    const json& info = fixtureJson().at("inputs").at(name);
    const hae::RgbImage img =
        hae::loadImage((kPre / "images" / info.at("file").get<std::string>()).string());
    EXPECT_EQ(img.width, info.at("width").get<int>());
    EXPECT_EQ(img.height, info.at("height").get<int>());
    EXPECT_EQ(sha256Hex(img.pixels.data(), img.pixels.size()),
              info.at("decoded_rgb_sha256").get<std::string>());
  }
}

TEST(ImageDecode, JpegAgainstPil) {
  const json& info = fixtureJson().at("inputs").at("rose_jpg");
  const hae::RgbImage img = hae::loadImage((kPre / "images/rose.jpg").string());
  ASSERT_EQ(img.width, 640);
  ASSERT_EQ(img.height, 427);
  std::array<std::int64_t, 3> sums{};
  for (size_t i = 0; i < img.pixels.size(); ++i) sums[i % 3] += img.pixels[i];
  const auto expected = info.at("decoded_rgb_channel_sums").get<std::array<std::int64_t, 3>>();
  for (int c = 0; c < 3; ++c) EXPECT_EQ(sums[c], expected[c]) << "channel " << c;
  EXPECT_EQ(sha256Hex(img.pixels.data(), img.pixels.size()),
            info.at("decoded_rgb_sha256").get<std::string>());
}

TEST(ImageDecode, GreyAndAlphaBecomeRgbLikePilConvert) {
  const fs::path dir = scratchDir();
  cv::Mat grey(2, 3, CV_8UC1);
  for (int i = 0; i < 6; ++i) grey.data[i] = static_cast<std::uint8_t>(i * 40);
  ASSERT_TRUE(cv::imwrite((dir / "grey.png").string(), grey));
  const hae::RgbImage g = hae::loadImage((dir / "grey.png").string());
  ASSERT_EQ(g.width, 3);
  ASSERT_EQ(g.height, 2);
  for (int i = 0; i < 6; ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(g.pixels[i * 3 + c], i * 40);
  }

  // BGRA 10,20,30 with alpha 0: convert("RGB") drops alpha and keeps the colour (no compositing).
  cv::Mat bgra(1, 2, CV_8UC4, cv::Scalar(10, 20, 30, 0));
  ASSERT_TRUE(cv::imwrite((dir / "alpha.png").string(), bgra));
  const hae::RgbImage a = hae::loadImage((dir / "alpha.png").string());
  ASSERT_EQ(a.width, 2);
  EXPECT_EQ(a.pixels, (std::vector<std::uint8_t>{30, 20, 10, 30, 20, 10}));
  fs::remove_all(dir);
}

// ---- Bad input ----

TEST(ImageDecode, BadFilesThrowErrorsNamingTheFile) {
  const fs::path dir = scratchDir();
  const std::string missing = (dir / "missing.png").string();
  expectErrorMentioning([&] { hae::loadImage(missing); }, "missing.png");
  expectErrorMentioning([&] { hae::loadImage(dir.string()); }, "directory");

  writeBytes(dir / "empty.png", {});
  expectErrorMentioning([&] { hae::loadImage((dir / "empty.png").string()); }, "empty.png");

  const std::string text = "this is not an image\n";
  writeBytes(dir / "notes.png", std::vector<std::uint8_t>(text.begin(), text.end()));
  expectErrorMentioning([&] { hae::loadImage((dir / "notes.png").string()); }, "notes.png");

  std::vector<std::uint8_t> png = readBytes(kPre / "images/wizard.png");
  png.resize(png.size() / 2);
  writeBytes(dir / "truncated.png", png);
  expectErrorMentioning([&] { hae::loadImage((dir / "truncated.png").string()); }, "truncated.png");
  png.resize(30);  // signature and IHDR only
  writeBytes(dir / "header_only.png", png);
  expectErrorMentioning([&] { hae::loadImage((dir / "header_only.png").string()); },
                        "header_only.png");
  fs::remove_all(dir);
}

std::uint32_t crc32(const std::uint8_t* p, size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

void appendBe32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int i = 3; i >= 0; --i) v.push_back(static_cast<std::uint8_t>(x >> (i * 8)));
}

void appendPngChunk(std::vector<std::uint8_t>& png, const char* type,
                    const std::vector<std::uint8_t>& data) {
  appendBe32(png, static_cast<std::uint32_t>(data.size()));
  std::vector<std::uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  appendBe32(png, crc32(body.data(), body.size()));
}

// A valid-looking 30000 x 30000 RGB PNG header: decoding it would need 2.7 GB.
TEST(ImageDecode, DecompressionBombIsRefusedBeforeDecoding) {
  const fs::path dir = scratchDir();
  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> ihdr;
  appendBe32(ihdr, 30000);
  appendBe32(ihdr, 30000);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit truecolour
  appendPngChunk(png, "IHDR", ihdr);
  // zlib stream of one stored, empty block: enough for a decoder to start allocating.
  appendPngChunk(png, "IDAT", {0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01});
  appendPngChunk(png, "IEND", {});
  writeBytes(dir / "bomb.png", png);

  const auto start = std::chrono::steady_clock::now();
  expectErrorMentioning([&] { hae::loadImage((dir / "bomb.png").string()); }, "30000x30000");
  expectErrorMentioning([&] { hae::loadImage((dir / "bomb.png").string()); }, "bomb.png");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 1.0);

  // The same for a JPEG frame header claiming 60000 x 60000.
  std::vector<std::uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0,
                                    0x00, 0x11, 0x08, 0xEA, 0x60, 0xEA, 0x60, 0x03, 0x01, 0x22,
                                    0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xFF, 0xD9};
  writeBytes(dir / "bomb.jpg", jpeg);
  expectErrorMentioning([&] { hae::loadImage((dir / "bomb.jpg").string()); }, "60000x60000");
  fs::remove_all(dir);
}

// ---- Resampling ----

TEST(ResizePil, SameSizeIsACopyAndBadSizesThrow) {
  hae::RgbImage img{2, 1, {1, 2, 3, 4, 5, 6}};
  EXPECT_EQ(hae::resizePil(img, 2, 1, hae::PilFilter::bicubic).pixels, img.pixels);
  EXPECT_THROW(hae::resizePil(img, 0, 1, hae::PilFilter::bicubic), hae::Error);
  EXPECT_THROW(hae::resizePil(hae::RgbImage{}, 2, 2, hae::PilFilter::bilinear), hae::Error);
  EXPECT_THROW(hae::pilFilterFromInt(6), hae::Error);
}

TEST(ResizePil, FlatImageStaysFlatWithEveryFilter) {
  hae::RgbImage img{7, 5, std::vector<std::uint8_t>(7 * 5 * 3)};
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = std::uint8_t(100 + i % 3);
  for (int f = 0; f <= 5; ++f) {
    for (auto [w, h] : {std::pair{3, 9}, std::pair{16, 2}, std::pair{7, 11}}) {
      const hae::RgbImage out = hae::resizePil(img, w, h, hae::pilFilterFromInt(f));
      ASSERT_EQ(out.pixels.size(), size_t(w) * h * 3);
      for (size_t i = 0; i < out.pixels.size(); ++i) {
        ASSERT_EQ(out.pixels[i], 100 + i % 3) << "filter " << f << " size " << w << "x" << h;
      }
    }
  }
}

// ---- CLIPImageProcessor ----

TEST(ClipPreprocessConfig, LlavaConfigEqualsTheDefaults) {
  const hae::ClipPreprocessConfig cfg = llavaConfig();
  const hae::ClipPreprocessConfig def;
  EXPECT_EQ(cfg.shortest_edge, 336);
  EXPECT_EQ(cfg.resize_width, 0);
  EXPECT_EQ(cfg.crop_width, 336);
  EXPECT_EQ(cfg.crop_height, 336);
  EXPECT_TRUE(cfg.do_resize && cfg.do_center_crop && cfg.do_rescale && cfg.do_normalize);
  EXPECT_EQ(cfg.rescale_factor, 0.00392156862745098);
  EXPECT_EQ(cfg.rescale_factor, def.rescale_factor);
  EXPECT_EQ(cfg.mean, def.mean);
  EXPECT_EQ(cfg.std, def.std);
  EXPECT_EQ(cfg.resample, hae::PilFilter::bicubic);
}

TEST(ClipPreprocessConfig, AbsentKeysTakeTransformersDefaultsAndBadValuesThrow) {
  const fs::path dir = scratchDir();
  auto write = [&](const std::string& text) {
    writeBytes(dir / "preprocessor_config.json",
               std::vector<std::uint8_t>(text.begin(), text.end()));
    return (dir / "preprocessor_config.json").string();
  };
  hae::ClipPreprocessConfig cfg = hae::loadClipPreprocessConfig(write("{}"));
  EXPECT_EQ(cfg.shortest_edge, 224);
  EXPECT_EQ(cfg.crop_width, 224);
  EXPECT_EQ(cfg.crop_height, 224);
  EXPECT_EQ(cfg.resample, hae::PilFilter::bicubic);

  cfg = hae::loadClipPreprocessConfig(
      write(R"({"size": 256, "crop_size": 240, "resample": 2, "do_center_crop": false})"));
  EXPECT_EQ(cfg.shortest_edge, 256);
  EXPECT_EQ(cfg.crop_width, 240);
  EXPECT_EQ(cfg.resample, hae::PilFilter::bilinear);
  EXPECT_FALSE(cfg.do_center_crop);

  cfg = hae::loadClipPreprocessConfig(write(R"({"size": {"height": 100, "width": 120}})"));
  EXPECT_EQ(cfg.resize_height, 100);
  EXPECT_EQ(cfg.resize_width, 120);

  expectErrorMentioning([&] { hae::loadClipPreprocessConfig(write(R"({"resample": 9})")); },
                        "resample");
  expectErrorMentioning([&] { hae::loadClipPreprocessConfig(write(R"({"size": "big"})")); },
                        "size");
  expectErrorMentioning([&] { hae::loadClipPreprocessConfig(write("{not json")); },
                        "preprocessor_config.json");
  expectErrorMentioning([&] { hae::loadClipPreprocessConfig((dir / "absent.json").string()); },
                        "absent.json");
  fs::remove_all(dir);
}

class ClipFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(ClipFixture, MatchesTransformersBitForBit) {
  const std::string name = GetParam();
  const json& input = fixtureJson().at("inputs").at(name);
  const json& expect = fixtureJson().at("clip_llava15").at(name);
  const hae::RgbImage img =
      hae::loadImage((kPre / "images" / input.at("file").get<std::string>()).string());
  const hae::PreprocessedImage out = hae::clipPreprocess(img, llavaConfig());

  // Geometry: resize (W x H), crop offset [top, left], and the region on the original image.
  const auto resized = expect.at("resized_wh_before_crop").get<std::array<int, 2>>();
  const auto topLeft = expect.at("crop_top_left").get<std::array<int, 2>>();
  EXPECT_EQ(out.resized_width, resized[0]);
  EXPECT_EQ(out.resized_height, resized[1]);
  EXPECT_EQ(out.crop_top, topLeft[0]);
  EXPECT_EQ(out.crop_left, topLeft[1]);
  ASSERT_EQ(out.width, 336);
  ASSERT_EQ(out.height, 336);
  const double sx = double(img.width) / resized[0], sy = double(img.height) / resized[1];
  EXPECT_FLOAT_EQ(out.region_x, float(topLeft[1] * sx));
  EXPECT_FLOAT_EQ(out.region_y, float(topLeft[0] * sy));
  EXPECT_FLOAT_EQ(out.region_w, float(336 * sx));
  EXPECT_FLOAT_EQ(out.region_h, float(336 * sy));
  // The region stays inside the image and spans its short side.
  EXPECT_GE(out.region_x, 0.0f);
  EXPECT_GE(out.region_y, 0.0f);
  EXPECT_LE(out.region_x + out.region_w, img.width + 1e-3f);
  EXPECT_LE(out.region_y + out.region_h, img.height + 1e-3f);
  EXPECT_NEAR(std::min(out.region_w, out.region_h), std::min(img.width, img.height), 1e-3);

  // uint8 stage: the PIL bicubic crop.
  const auto tensors = readSafetensors(kPre / "clip_llava15" / (name + ".safetensors"));
  const RawTensor& crop = tensors.at("crop_u8");
  EXPECT_EQ(crop.dtype, "U8");
  EXPECT_EQ(crop.shape, (std::vector<std::int64_t>{336, 336, 3}));
  size_t mismatches = 0;
  for (size_t i = 0; i < crop.bytes.size() && i < out.crop_u8.pixels.size(); ++i) {
    mismatches += crop.bytes[i] != out.crop_u8.pixels[i];
  }
  EXPECT_EQ(mismatches, 0u) << "uint8 values differing from PIL";
  EXPECT_EQ(sha256Hex(out.crop_u8.pixels.data(), out.crop_u8.pixels.size()),
            expect.at("crop_u8_sha256").get<std::string>());

  // float32 stage: bit-identical bytes.
  // Bit-exact on every x86-64 CPU: the float stage is one scalar IEEE operation after another in a
  // fixed order (no BLAS, no vector reduction; CMakeLists.txt turns FMA contraction off).
  EXPECT_EQ(sha256Hex(out.pixel_values.data(), out.pixel_values.size() * sizeof(float)),
            expect.at("pixel_values").at("sha256_f32").get<std::string>());
  if (auto it = tensors.find("pixel_values"); it != tensors.end()) {
    const RawTensor& pv = it->second;
    ASSERT_EQ(pv.dtype, "F32");
    ASSERT_EQ(pv.bytes.size(), out.pixel_values.size() * sizeof(float));
    double maxDiff = 0;
    for (size_t i = 0; i < out.pixel_values.size(); ++i) {
      float ref;
      std::memcpy(&ref, &pv.bytes[i * 4], 4);
      maxDiff = std::max(maxDiff, double(std::fabs(ref - out.pixel_values[i])));
    }
    RecordProperty("pixel_values_max_abs_diff", std::to_string(maxDiff));
    EXPECT_EQ(maxDiff, 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ClipFixture, ::testing::ValuesIn(kInputs),
                         [](const auto& info) { return std::string(info.param); });

TEST(ClipPreprocess, CropLargerThanImagePadsWithZeros) {
  hae::RgbImage img{4, 2, std::vector<std::uint8_t>(4 * 2 * 3, 200)};
  hae::ClipPreprocessConfig cfg;
  cfg.do_resize = false;
  cfg.crop_width = 6;
  cfg.crop_height = 4;
  const hae::PreprocessedImage out = hae::clipPreprocess(img, cfg);
  ASSERT_EQ(out.width, 6);
  ASSERT_EQ(out.height, 4);
  EXPECT_EQ(out.crop_left, -1);
  EXPECT_EQ(out.crop_top, -1);
  EXPECT_EQ(out.crop_u8.pixels[0], 0);                  // padding corner
  EXPECT_EQ(out.crop_u8.pixels[(1 * 6 + 1) * 3], 200);  // first image pixel
  EXPECT_FLOAT_EQ(out.region_x, -1.0f);
  EXPECT_FLOAT_EQ(out.region_w, 6.0f);
  EXPECT_THROW(hae::clipPreprocess(hae::RgbImage{}, cfg), hae::Error);
}

}  // namespace
