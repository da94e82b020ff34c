// Idefics3ImageProcessor (SmolVLM) parity with the Python reference (fixtures README sections 4
// and 4.1): every uint8 tile by SHA-256, every fp32 tile by SHA-256 and by value on the stored
// subsamples, the tile grid and token counts, for the default tiling and the one-tile setting.
// Then the processor's prompt layout against the tiny-idefics3 reference ids and hand-computed
// geometries, and the SmolVLM configs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hae/error.h"
#include "hae/idefics3_config.h"
#include "hae/idefics3_preprocess.h"
#include "hae/image.h"
#include "hae/safetensors.h"
#include "sha256.h"

namespace {

namespace fs = std::filesystem;
using hae::test::sha256Hex;
using nlohmann::json;

const fs::path kData = fs::path(HAE_TEST_DATA);
const fs::path kPre = kData / "preprocess";
const fs::path kSmolVlm = kData / "configs/SmolVLM-256M-Instruct";

// Normalised values are computed with the reference's float32 formula, so they should match
// exactly; the stated tolerance is what a different evaluation order would be allowed.
constexpr double kValueTolerance = 1e-6;

const json& fixtureJson() {
  static const json j = [] {
    std::ifstream in(kPre / "preprocess.json");
    return json::parse(in);
  }();
  return j;
}

hae::Idefics3PreprocessConfig smolVlmConfig(int longest_edge) {
  auto c = hae::loadIdefics3PreprocessConfig((kSmolVlm / "preprocessor_config.json").string());
  if (longest_edge > 0) c.longest_edge = longest_edge;
  return c;
}

std::vector<float> floatsOf(const hae::TensorView& v) {
  EXPECT_EQ(v.dtype, hae::DType::F32) << v.name;
  std::vector<float> out(static_cast<std::size_t>(v.numel()));
  std::memcpy(out.data(), v.data, out.size() * sizeof(float));
  return out;
}

const char* const kInputs[] = {"wizard", "rose", "rose_jpg", "logo"};

struct Setting {
  const char* folder;
  int longest_edge;  // 0: preprocessor_config.json's 2048
};

class Idefics3Preprocess : public ::testing::TestWithParam<Setting> {};

TEST_P(Idefics3Preprocess, TilesMatchReferenceExactly) {
  const Setting s = GetParam();
  const auto config = smolVlmConfig(s.longest_edge);
  for (const char* name : kInputs) {
    SCOPED_TRACE(std::string(s.folder) + "/" + name);
    const json& input = fixtureJson().at("inputs").at(name);
    const json& expect = fixtureJson().at(s.folder).at(name);
    const hae::RgbImage image =
        hae::loadImage((kPre / "images" / input.at("file").get<std::string>()).string());
    const hae::Idefics3Preprocessed out = hae::idefics3Preprocess(image, config);

    EXPECT_EQ(out.rows, expect.at("rows").get<int>());
    EXPECT_EQ(out.cols, expect.at("cols").get<int>());
    EXPECT_EQ(out.resized_height, expect.at("resize1_hw")[0].get<int>());
    EXPECT_EQ(out.resized_width, expect.at("resize1_hw")[1].get<int>());
    const auto& slots = expect.at("slots");
    ASSERT_EQ(out.tiles.size(), slots.size());
    ASSERT_EQ(static_cast<int>(out.tiles.size()), expect.at("n_tiles").get<int>());
    // SmolVLM: 64 tokens per tile, as the processor's image_seq_len.
    EXPECT_EQ(static_cast<int>(out.tiles.size()) * 64, expect.at("image_tokens").get<int>());
    std::string text = hae::idefics3ImageText(out.rows, out.cols, 64);
    std::size_t image_tokens = 0;
    for (auto p = text.find("<image>"); p != std::string::npos; p = text.find("<image>", p + 1))
      ++image_tokens;
    EXPECT_EQ(static_cast<int>(image_tokens), expect.at("image_tokens").get<int>());

    const std::size_t plane = 512 * 512, per_tile = 3 * plane;
    ASSERT_EQ(out.pixel_values.size(), per_tile * out.tiles.size());
    for (std::size_t t = 0; t < out.tiles.size(); ++t) {
      SCOPED_TRACE("tile " + std::to_string(t));
      const auto& u8 = out.tiles[t].pixels;
      EXPECT_EQ(sha256Hex(u8.pixels.data(), u8.pixels.size()),
                slots[t].at("sha256_u8_hwc").get<std::string>());
      const float* f = out.pixel_values.data() + t * per_tile;
      // Bit-exact on every x86-64 CPU: the float stage is one scalar IEEE operation after another in a
      // fixed order (no BLAS, no vector reduction; CMakeLists.txt turns FMA contraction off).
      EXPECT_EQ(sha256Hex(f, per_tile * sizeof(float)),
                slots[t].at("sha256_f32").get<std::string>());
      double sum = 0, sum_sq = 0, lo = 1e30, hi = -1e30;
      for (std::size_t i = 0; i < per_tile; ++i) {
        sum += f[i];
        sum_sq += double(f[i]) * f[i];
        lo = std::min(lo, double(f[i]));
        hi = std::max(hi, double(f[i]));
      }
      EXPECT_NEAR(sum, slots[t].at("sum").get<double>(), 1e-6 * per_tile);
      EXPECT_NEAR(sum_sq, slots[t].at("sum_sq").get<double>(), 1e-6 * per_tile);
      EXPECT_EQ(lo, slots[t].at("min").get<double>());
      EXPECT_EQ(hi, slots[t].at("max").get<double>());
      EXPECT_EQ(out.tiles[t].global, out.rows > 0 && t + 1 == out.tiles.size());
    }

    // The stored subsamples, where this checkout keeps the file.
    const fs::path file = kPre / s.folder / (std::string(name) + ".safetensors");
    if (!fs::exists(file)) continue;
    const auto archive = hae::SafetensorsArchive::openFile(file.string());
    const auto sub =
        floatsOf(archive.get("pixel_values_sub"));  // [tiles, 3, 32, 32] = [..., 8::16, 8::16]
    const auto tile0 = floatsOf(archive.get("tile0_window"));    // tile 0, rows/cols 0..31
    const auto global = floatsOf(archive.get("global_window"));  // last tile, rows/cols 240..271
    double worst = 0;
    for (std::size_t t = 0; t < out.tiles.size(); ++t)
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
          for (int x = 0; x < 32; ++x) {
            const float mine =
                out.pixel_values[t * per_tile + c * plane + (8 + 16 * y) * 512 + 8 + 16 * x];
            worst = std::max(worst, std::abs(double(mine) - sub[((t * 3 + c) * 32 + y) * 32 + x]));
          }
    const std::size_t last = (out.tiles.size() - 1) * per_tile;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          const std::size_t w = (c * 32 + y) * 32 + x;
          worst = std::max(worst,
                           std::abs(double(out.pixel_values[c * plane + y * 512 + x]) - tile0[w]));
          worst = std::max(
              worst,
              std::abs(double(out.pixel_values[last + c * plane + (240 + y) * 512 + 240 + x]) -
                       global[w]));
        }
    EXPECT_LE(worst, kValueTolerance);
    RecordProperty(std::string(name) + "_pixel_values_max_abs_diff", std::to_string(worst));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Idefics3Preprocess,
                         ::testing::Values(Setting{"idefics3_default", 0},
                                           Setting{"idefics3_512", 512}),
                         [](const auto& info) { return std::string(info.param.folder); });

TEST(Idefics3Preprocess, TileRegionsCoverTheOriginalImage) {
  // wizard 480x640 at the defaults: 2048x1536 grid of 4 rows x 3 columns, each tile 160x160
  // original pixels (512 * 480 / 1536), global over everything.
  const hae::RgbImage image = hae::loadImage((kPre / "images/wizard.png").string());
  const auto out = hae::idefics3Preprocess(image, smolVlmConfig(0));
  ASSERT_EQ(out.tiles.size(), 13u);
  for (const auto& t : out.tiles) {
    if (t.global) {
      EXPECT_FLOAT_EQ(t.region.w, 480);
      EXPECT_FLOAT_EQ(t.region.h, 640);
      continue;
    }
    EXPECT_FLOAT_EQ(t.region.x, t.col * 160.0f);
    EXPECT_FLOAT_EQ(t.region.y, t.row * 160.0f);
    EXPECT_FLOAT_EQ(t.region.w, 160.0f);
    EXPECT_FLOAT_EQ(t.region.h, 160.0f);
  }
}

// A layout the fixtures do not cover, computed by hand from the processor's formulas: a 1000x300
// panorama with longest edge 1536 and 512 tiles. Resize: 1536 x int(1536 / (1000/300)) = 460.8 ->
// 460 (even). Vision-encoder rounding: width 1536 (3 tiles), height int(1536 / (1536/460)) = 460 ->
// 512. So 1 row x 3 columns + global = 4 tiles = 256 tokens at 64 per tile.
TEST(Idefics3Layout, PanoramaHandComputed) {
  hae::RgbImage image{1000, 300, std::vector<std::uint8_t>(1000 * 300 * 3)};
  for (std::size_t i = 0; i < image.pixels.size(); ++i)
    image.pixels[i] = static_cast<std::uint8_t>(i * 7 % 251);
  auto config = smolVlmConfig(1536);
  const auto out = hae::idefics3Preprocess(image, config);
  EXPECT_EQ(out.resized_width, 1536);
  EXPECT_EQ(out.resized_height, 460);
  EXPECT_EQ(out.grid_width, 1536);
  EXPECT_EQ(out.grid_height, 512);
  EXPECT_EQ(out.rows, 1);
  EXPECT_EQ(out.cols, 3);
  ASSERT_EQ(out.tiles.size(), 4u);
  EXPECT_FLOAT_EQ(out.tiles[2].region.x, 2 * 512 * 1000.0f / 1536);
  EXPECT_FLOAT_EQ(out.tiles[2].region.h, 300.0f);

  const std::string img2 = "<image><image>";
  const std::string expected =
      "<fake_token_around_image><row_1_col_1>" + img2 + "<fake_token_around_image><row_1_col_2>" +
      img2 + "<fake_token_around_image><row_1_col_3>" + img2 + "\n" +
      "\n<fake_token_around_image><global-img>" + img2 + "<fake_token_around_image>";
  EXPECT_EQ(hae::idefics3ImageText(1, 3, 2), expected);
  EXPECT_EQ(hae::idefics3ImageText(0, 0, 1),
            "<fake_token_around_image><global-img><image><fake_token_around_image>");
}

// The layout text mapped through tiny-idefics3's token table (meta.json) must give exactly the
// reference input_ids of its image block: transformers' processor built those ids.
TEST(Idefics3Layout, MatchesReferenceIdsOfTinyFixture) {
  std::ifstream meta_in(kData / "models/tiny-idefics3/meta.json");
  const json meta = json::parse(meta_in);
  std::map<std::string, int> table;
  for (const auto& [k, v] : meta.at("token_table").items())
    table[k.substr(0, k.find(' '))] = v.get<int>();
  table["\n"] = table.at("\\n");

  const std::string text = hae::idefics3ImageText(2, 2, 16);
  std::vector<std::int64_t> ids;
  for (std::size_t p = 0; p < text.size();) {
    const std::size_t len = text[p] == '<' ? text.find('>', p) + 1 - p : 1;
    ids.push_back(table.at(text.substr(p, len)));
    p += len;
  }
  const auto archive = hae::SafetensorsArchive::openFile(
      (kData / "models/tiny-idefics3/expected.safetensors").string());
  const auto& view = archive.get("input_ids");
  std::vector<std::int64_t> ref(static_cast<std::size_t>(view.numel()));
  std::memcpy(ref.data(), view.data, ref.size() * sizeof(std::int64_t));
  // Segments: 3 tokens "<|im_start|>User:" before, the block up to the closing fake token at 96.
  ASSERT_EQ(ids.size(), 94u);
  EXPECT_EQ(ids, std::vector<std::int64_t>(ref.begin() + 3, ref.begin() + 97));
}

TEST(Idefics3Config, SmolVlm256mRealConfig) {
  const auto c = hae::loadIdefics3Config(kSmolVlm.string());
  EXPECT_EQ(c.image_token_id, 49190);
  EXPECT_EQ(c.scale_factor, 4);
  EXPECT_EQ(c.vision.hidden_size, 768);
  EXPECT_EQ(c.vision.num_hidden_layers, 12);
  EXPECT_EQ(c.vision.num_attention_heads, 12);
  EXPECT_EQ(c.vision.image_size, 512);
  EXPECT_EQ(c.vision.patch_size, 16);
  EXPECT_EQ(c.vision.hidden_act, "gelu_pytorch_tanh");
  EXPECT_DOUBLE_EQ(c.vision.layer_norm_eps, 1e-6);
  EXPECT_EQ(c.text.hidden_size, 576);
  EXPECT_EQ(c.text.num_hidden_layers, 30);
  EXPECT_EQ(c.text.num_attention_heads, 9);
  EXPECT_EQ(c.text.num_key_value_heads, 3);
  EXPECT_EQ(c.text.head_dim, 64);
  EXPECT_EQ(c.text.intermediate_size, 1536);
  EXPECT_EQ(c.text.vocab_size, 49280);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 100000.0);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);
  EXPECT_FALSE(c.tiedEmbeddings());
  EXPECT_EQ(c.tokensPerTile(), 64);  // processor_config.json's image_seq_len

  const auto p =
      hae::loadIdefics3PreprocessConfig((kSmolVlm / "preprocessor_config.json").string());
  EXPECT_EQ(p.longest_edge, 2048);
  EXPECT_EQ(p.tile_size, 512);
  EXPECT_EQ(p.resample, hae::PilFilter::lanczos);
  EXPECT_FLOAT_EQ(p.mean[0], 0.5f);
  EXPECT_FLOAT_EQ(p.std[2], 0.5f);
}

TEST(Idefics3Config, TinyFixtureTakesSiglipDefaults) {
  const auto c = hae::loadIdefics3Config((kData / "models/tiny-idefics3").string());
  EXPECT_EQ(c.vision.hidden_act, "gelu_pytorch_tanh");  // absent from its vision_config
  EXPECT_DOUBLE_EQ(c.vision.layer_norm_eps, 1e-6);
  EXPECT_EQ(c.tokensPerTile(), 16);
  EXPECT_EQ(c.text.num_key_value_heads, 2);
}

// Other scale factors change the token count per tile: (image/patch/scale)^2.
TEST(Idefics3Config, ScaleFactorSetsTokensPerTile) {
  const std::string base = R"({"model_type": "idefics3", "image_token_id": 5,
    "vision_config": {"image_size": 64, "patch_size": 4, "hidden_size": 8, "num_attention_heads": 2},
    "text_config": {"vocab_size": 32, "hidden_size": 16, "num_attention_heads": 2}, "scale_factor": )";
  EXPECT_EQ(hae::parseIdefics3Config(base + "2}", "config.json").tokensPerTile(), 64);
  EXPECT_EQ(hae::parseIdefics3Config(base + "4}", "config.json").tokensPerTile(), 16);
  EXPECT_EQ(hae::parseIdefics3Config(base + "8}", "config.json").tokensPerTile(), 4);
  try {
    hae::parseIdefics3Config(base + "3}", "config.json");
    ADD_FAILURE() << "scale_factor 3 does not divide 16 patches per side";
  } catch (const hae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("scale_factor"), std::string::npos) << e.what();
  }
}

TEST(Idefics3Preprocess, RefusesWhatTheProcessorRefuses) {
  hae::RgbImage image{8, 8, std::vector<std::uint8_t>(8 * 8 * 3, 100)};
  auto config = smolVlmConfig(5000);
  EXPECT_THROW(hae::idefics3Preprocess(image, config), hae::Error);
  config = smolVlmConfig(0);
  config.do_image_splitting = false;
  EXPECT_THROW(hae::idefics3Preprocess(image, config), hae::Error);
}

}  // namespace
