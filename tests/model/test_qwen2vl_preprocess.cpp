// Qwen2VLImageProcessor against transformers 4.49 (preprocess.json of the fixtures, copied to
// data/qwen2vl): smart_resize on the 16 tabulated cases (round half to even included) and the four
// images at the real preprocessor_config.json (max_pixels 12845056) and at max_pixels 200704: the
// uint8 PIL bicubic stage identical by sha256, the grids identical, and the fp32 pixel_values
// identical by sha256 (the float formula followed bit for bit), with the same sums.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "../sha256.h"
#include "hae/error.h"
#include "hae/qwen2vl_preprocess.h"

namespace hae::test {
namespace {

using nlohmann::json;

std::string data(const std::string& rel) {
  return std::string(HAE_TEST_DATA) + "/" + rel;
}

const json& reference() {
  static const json j = json::parse(std::ifstream(data("qwen2vl/preprocess.json")));
  return j;
}

TEST(Qwen2VLPreprocess, SmartResizeMatchesTheReferenceCases) {
  const auto& cases = reference().at("qwen2vl_smart_resize_cases");
  ASSERT_GE(cases.size(), 16u);
  for (const auto& c : cases) {
    const auto size = qwen2vlSmartResize(c.at("height"), c.at("width"), 28, c.at("min_pixels"),
                                         c.at("max_pixels"));
    EXPECT_EQ(size.height, c.at("resized_hw")[0].get<int>()) << c.dump();
    EXPECT_EQ(size.width, c.at("resized_hw")[1].get<int>()) << c.dump();
  }
  // Python's round: 406 = 14.5 * 28 goes down to 392, 434 = 15.5 * 28 up to 448.
  EXPECT_EQ(qwen2vlSmartResize(406, 406, 28, 3136, 12845056).height, 392);
  EXPECT_EQ(qwen2vlSmartResize(434, 434, 28, 3136, 12845056).height, 448);
  EXPECT_THROW(qwen2vlSmartResize(27, 400, 28, 3136, 12845056), Error);
  EXPECT_THROW(qwen2vlSmartResize(28, 28 * 201, 28, 3136, 1 << 30), Error);
}

class Qwen2VLImages : public ::testing::TestWithParam<std::string> {};

TEST_P(Qwen2VLImages, ResizeGridAndPixelValuesMatchReference) {
  const std::string setting = GetParam();
  const std::vector<std::pair<std::string, std::string>> images = {{"wizard", "wizard.png"},
                                                                   {"rose", "rose.png"},
                                                                   {"rose_jpg", "rose.jpg"},
                                                                   {"logo", "logo.png"}};
  for (const auto& [key, file] : images) {
    const json& want = reference().at(setting).at(key);
    Qwen2VLPreprocessConfig config;  // the real file's values, as the generator used them
    config.min_pixels = want.at("processor_kwargs").at("min_pixels");
    config.max_pixels = want.at("processor_kwargs").at("max_pixels");
    const auto out = qwen2vlPreprocess(loadImage(data("preprocess/images/" + file)), config);
    EXPECT_EQ(out.resized.height, want.at("resized_hw")[0].get<int>()) << key;
    EXPECT_EQ(out.resized.width, want.at("resized_hw")[1].get<int>()) << key;
    EXPECT_EQ(sha256Hex(out.resized.pixels.data(), out.resized.pixels.size()),
              want.at("resized_u8_sha256").get<std::string>())
        << setting << "/" << key << ": the PIL bicubic stage";
    EXPECT_EQ(out.grid_t, want.at("image_grid_thw")[0].get<int>()) << key;
    EXPECT_EQ(out.grid_h, want.at("image_grid_thw")[1].get<int>()) << key;
    EXPECT_EQ(out.grid_w, want.at("image_grid_thw")[2].get<int>()) << key;
    ASSERT_EQ(out.rowWidth(), want.at("pixel_values_shape")[1].get<int>());
    ASSERT_EQ(out.pixel_values.size() / out.rowWidth(),
              want.at("pixel_values_shape")[0].get<std::size_t>());
    EXPECT_EQ(sha256Hex(out.pixel_values.data(), out.pixel_values.size() * sizeof(float)),
              want.at("pixel_values_sha256_f32").get<std::string>())
        << setting << "/" << key << ": pixel_values";
    double sum = 0;
    for (float v : out.pixel_values) sum += v;
    EXPECT_NEAR(sum, want.at("pixel_values_sum").get<double>(), 1e-6 * std::abs(sum) + 1e-6) << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Settings, Qwen2VLImages,
                         ::testing::Values("qwen2vl_default", "qwen2vl_small"));

TEST(Qwen2VLPreprocess, ConfigFileAndBadValues) {
  const auto c =
      loadQwen2VLPreprocessConfig(data("configs/Qwen2.5-VL-7B-Instruct/preprocessor_config.json"));
  EXPECT_EQ(c.min_pixels, 3136);
  EXPECT_EQ(c.max_pixels, 12845056);
  EXPECT_EQ(c.factor(), 28);
  EXPECT_EQ(c.resample, PilFilter::bicubic);
  const auto dir = std::filesystem::temp_directory_path() / "hae-qwen2vl-preprocess-test.json";
  std::ofstream(dir) << R"({"min_pixels": 1000, "max_pixels": 10})";
  try {
    loadQwen2VLPreprocessConfig(dir.string());
    ADD_FAILURE() << "min_pixels > max_pixels accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("min_pixels"), std::string::npos) << e.what();
  }
  std::filesystem::remove(dir);
}

}  // namespace
}  // namespace hae::test
