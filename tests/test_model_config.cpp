// config.json / generation_config.json / preprocessor_config.json parsing: the real
// llava-1.5-7b-hf config (which omits most keys, so the transformers defaults must fill them),
// the tiny-llava fixture, and the errors for wrongly typed, missing and nonsensical keys.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "hae/error.h"
#include "hae/idefics3_config.h"
#include "hae/model_config.h"
#include "hae/phi3_config.h"

namespace fs = std::filesystem;

namespace {

const std::string kLlava7b = std::string(HAE_TEST_DATA) + "/configs/llava-1.5-7b-hf";
const std::string kTinyLlava = std::string(HAE_TEST_DATA) + "/models/tiny-llava";

void expectError(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const hae::Error& e) {
    std::string msg = e.what();
    for (const auto& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "message '" << msg << "' lacks '" << n << "'";
    return;
  }
  ADD_FAILURE() << "no hae::Error thrown";
}

void expectLlavaError(const std::string& json, const std::vector<std::string>& needles) {
  auto all = needles;
  all.push_back("config.json");
  expectError([&] { hae::parseLlavaConfig(json, "config.json"); }, all);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hae_cfg_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
  }

 private:
  fs::path path_;
};

}  // namespace

TEST(ModelConfig, RealLlava7bGetsTransformersDefaults) {
  EXPECT_EQ(hae::detectModelType(kLlava7b), "llava");
  auto c = hae::loadLlavaConfig(kLlava7b);
  // From the file.
  EXPECT_EQ(c.text.vocab_size, 32064);
  EXPECT_EQ(c.text.max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.image_token_index, 32000);
  EXPECT_EQ(c.pad_token_id, 32001);
  EXPECT_EQ(c.vision_feature_layers, std::vector<int>{-2});
  // LlamaConfig defaults for the keys the file omits.
  EXPECT_EQ(c.text.model_type, "llama");
  EXPECT_EQ(c.text.hidden_size, 4096);
  EXPECT_EQ(c.text.intermediate_size, 11008);
  EXPECT_EQ(c.text.num_hidden_layers, 32);
  EXPECT_EQ(c.text.num_attention_heads, 32);
  EXPECT_EQ(c.text.num_key_value_heads, 32);
  EXPECT_EQ(c.text.head_dim, 128);
  EXPECT_EQ(c.text.hidden_act, "silu");
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 10000.0);
  EXPECT_FALSE(c.text.rope_scaling.has_value());
  EXPECT_FALSE(c.text.attention_bias);
  EXPECT_FALSE(c.text.mlp_bias);
  EXPECT_FALSE(c.text.tie_word_embeddings);
  EXPECT_EQ(c.text.bos_token_id, 1);
  EXPECT_EQ(c.text.eos_token_ids, std::vector<int>{2});
  EXPECT_FALSE(c.text.pad_token_id.has_value());
  // CLIP: the file's values plus CLIPVisionConfig defaults.
  EXPECT_EQ(c.vision.hidden_size, 1024);
  EXPECT_EQ(c.vision.intermediate_size, 4096);
  EXPECT_EQ(c.vision.num_hidden_layers, 24);
  EXPECT_EQ(c.vision.num_attention_heads, 16);
  EXPECT_EQ(c.vision.image_size, 336);
  EXPECT_EQ(c.vision.patch_size, 14);
  EXPECT_EQ(c.vision.numPatches(), 576);
  EXPECT_EQ(c.vision.num_channels, 3);
  EXPECT_EQ(c.vision.hidden_act, "quick_gelu");
  EXPECT_DOUBLE_EQ(c.vision.layer_norm_eps, 1e-5);
  // LlavaConfig defaults.
  EXPECT_EQ(c.projector_hidden_act, "gelu");
  EXPECT_EQ(c.vision_feature_select_strategy, "default");
  EXPECT_TRUE(c.multimodal_projector_bias);
  EXPECT_EQ(c.image_seq_length, 576);
}

TEST(ModelConfig, TinyLlava) {
  EXPECT_EQ(hae::detectModelType(kTinyLlava), "llava");
  auto c = hae::loadLlavaConfig(kTinyLlava);
  EXPECT_EQ(c.vision.hidden_size, 32);
  EXPECT_EQ(c.vision.num_hidden_layers, 3);
  EXPECT_EQ(c.vision.num_attention_heads, 2);
  EXPECT_EQ(c.vision.image_size, 56);
  EXPECT_EQ(c.vision.patch_size, 14);
  EXPECT_EQ(c.vision.numPatches(), 16);
  EXPECT_EQ(c.vision.intermediate_size, 64);
  EXPECT_EQ(c.text.vocab_size, 160);
  EXPECT_EQ(c.text.hidden_size, 64);
  EXPECT_EQ(c.text.num_hidden_layers, 2);
  EXPECT_EQ(c.text.num_attention_heads, 4);
  EXPECT_EQ(c.text.num_key_value_heads, 4);
  EXPECT_EQ(c.text.head_dim, 16);
  EXPECT_EQ(c.text.intermediate_size, 128);
  EXPECT_EQ(c.text.pad_token_id, 151);
  EXPECT_EQ(c.image_token_index, 150);
  EXPECT_EQ(c.image_seq_length, 16);
  EXPECT_EQ(c.pad_token_id, 151);

  auto g = hae::loadGenerationConfig(kTinyLlava);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->bos_token_id, 1);
  EXPECT_EQ(g->eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(g->pad_token_id, 151);
  EXPECT_EQ(g->max_length, 20);
}

TEST(ModelConfig, AbsentSubConfigsTakeLlavaDefaults) {
  auto c = hae::parseLlavaConfig(R"({"model_type": "llava"})", "config.json");
  // LlavaConfig's own CLIP ViT-L/14-336 when vision_config is absent ...
  EXPECT_EQ(c.vision.hidden_size, 1024);
  EXPECT_EQ(c.vision.intermediate_size, 4096);
  EXPECT_EQ(c.vision.image_size, 336);
  EXPECT_EQ(c.vision.patch_size, 14);
  EXPECT_EQ(c.vision.num_hidden_layers, 24);
  EXPECT_EQ(c.vision.num_attention_heads, 16);
  EXPECT_EQ(c.vision.projection_dim, 768);
  EXPECT_EQ(c.text.vocab_size, 32000);
  EXPECT_EQ(c.text.max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-6);
  // ... but plain CLIPVisionConfig defaults when it is present and sparse.
  auto d = hae::parseLlavaConfig(R"({"model_type": "llava", "vision_config": {}})", "config.json");
  EXPECT_EQ(d.vision.hidden_size, 768);
  EXPECT_EQ(d.vision.intermediate_size, 3072);
  EXPECT_EQ(d.vision.num_hidden_layers, 12);
  EXPECT_EQ(d.vision.num_attention_heads, 12);
  EXPECT_EQ(d.vision.image_size, 224);
  EXPECT_EQ(d.vision.patch_size, 32);
  EXPECT_EQ(d.vision.projection_dim, 512);
}

TEST(ModelConfig, DerivedAndListValuedKeys) {
  auto c = hae::parseLlavaConfig(R"({"model_type": "llava",
      "vision_feature_layer": [-2, -5, 3], "vision_feature_select_strategy": "full",
      "text_config": {"hidden_size": 256, "num_attention_heads": 8, "num_key_value_heads": null,
                      "eos_token_id": [2, 7], "head_dim": null,
                      "rope_scaling": {"type": "linear", "factor": 2.0}}})",
                                 "config.json");
  EXPECT_EQ(c.vision_feature_layers, (std::vector<int>{-2, -5, 3}));
  EXPECT_EQ(c.vision_feature_select_strategy, "full");
  EXPECT_EQ(c.text.num_key_value_heads, 8);
  EXPECT_EQ(c.text.head_dim, 32);
  EXPECT_EQ(c.text.eos_token_ids, (std::vector<int>{2, 7}));
  ASSERT_TRUE(c.text.rope_scaling.has_value());
  EXPECT_EQ(c.text.rope_scaling->rope_type, "linear");
  EXPECT_DOUBLE_EQ(c.text.rope_scaling->factor, 2.0);
}

TEST(ModelConfig, WronglyTypedKeys) {
  expectLlavaError(R"({"model_type": "llava", "text_config": {"hidden_size": "4096"}})",
                   {"text_config.hidden_size: expected an integer, got string"});
  expectLlavaError(R"({"model_type": "llava", "text_config": {"hidden_size": 4096.0}})",
                   {"text_config.hidden_size: expected an integer, got number"});
  expectLlavaError(R"({"model_type": "llava", "vision_config": {"layer_norm_eps": "tiny"}})",
                   {"vision_config.layer_norm_eps: expected a number"});
  expectLlavaError(R"({"model_type": "llava", "multimodal_projector_bias": 1})",
                   {"multimodal_projector_bias: expected a boolean, got number"});
  expectLlavaError(R"({"model_type": "llava", "vision_feature_layer": "-2"})",
                   {"vision_feature_layer: expected an integer or a list"});
  expectLlavaError(R"({"model_type": "llava", "vision_feature_layer": [-2, "x"]})",
                   {"vision_feature_layer[1]: expected an integer"});
  expectLlavaError(R"({"model_type": "llava", "text_config": [1]})",
                   {"text_config: expected an object, got array"});
  expectLlavaError(R"({"model_type": "llava", "text_config": {"rope_scaling": {"factor": 2}}})",
                   {"text_config.rope_scaling.rope_type: missing"});
  expectLlavaError(R"({"model_type": "llava", "image_token_index": 99999999999})",
                   {"image_token_index", "out of range"});
  expectLlavaError(R"({"model_type": "llava", "text_config": {"num_hidden_layers": null}})",
                   {"text_config.num_hidden_layers: expected an integer, got null"});
}

TEST(ModelConfig, NonsenseValues) {
  expectLlavaError(
      R"({"model_type": "llava", "text_config": {"hidden_size": 100, "num_attention_heads": 3}})",
      {"text_config.num_attention_heads", "does not divide hidden_size 100"});
  expectLlavaError(R"({"model_type": "llava", "text_config": {"num_key_value_heads": 5}})",
                   {"text_config.num_key_value_heads", "does not divide num_attention_heads 32"});
  expectLlavaError(R"({"model_type": "llava", "text_config": {"num_hidden_layers": 0}})",
                   {"text_config.num_hidden_layers: must be positive"});
  expectLlavaError(R"({"model_type": "llava", "vision_config": {"hidden_size": -8}})",
                   {"vision_config.hidden_size: must be positive"});
  expectLlavaError(R"({"model_type": "llava", "vision_config": {"num_attention_heads": 5}})",
                   {"vision_config.num_attention_heads", "does not divide"});
  expectLlavaError(R"({"model_type": "llava", "vision_feature_select_strategy": "cls"})",
                   {"vision_feature_select_strategy", "'cls'"});
  expectLlavaError(R"({"model_type": "llava", "vision_feature_layer": 30})",
                   {"vision_feature_layer", "30"});
  expectLlavaError(R"({"model_type": "llava", "image_token_index": -3})",
                   {"image_token_index", "negative"});
  expectLlavaError(R"({"model_type": "llava", "text_config": {"model_type": "mistral"}})",
                   {"text_config.model_type", "'mistral'"});
  expectLlavaError(
      R"({"model_type": "llava", "vision_config": {"model_type": "siglip_vision_model"}})",
      {"vision_config.model_type", "siglip_vision_model"});
  expectLlavaError(R"({"model_type": "phi3_v"})", {"model_type: expected 'llava'"});
  // An explicit head_dim may differ from hidden / heads (as in several real models).
  auto c = hae::parseLlavaConfig(
      R"({"model_type": "llava", "text_config": {"hidden_size": 100, "num_attention_heads": 4,
          "head_dim": 32}})",
      "config.json");
  EXPECT_EQ(c.text.head_dim, 32);
}

TEST(ModelConfig, FileErrors) {
  TempDir dir;
  expectError([&] { hae::detectModelType(dir.str()); }, {"config.json", "cannot open"});
  expectError([&] { hae::loadLlavaConfig(dir.str()); }, {"config.json", "cannot open"});
  dir.write("config.json", "{\"model_type\": ");
  expectError([&] { hae::detectModelType(dir.str()); }, {"config.json", "invalid JSON"});
  dir.write("config.json", R"({"model_type": "xyz"})");
  expectError([&] { hae::detectModelType(dir.str()); },
              {"config.json: model_type 'xyz' is not supported (supported: llava", "idefics3"});
  dir.write("config.json", R"({"architectures": []})");
  expectError([&] { hae::detectModelType(dir.str()); }, {"config.json: model_type: missing"});
  dir.write("config.json", R"({"model_type": 3})");
  expectError([&] { hae::detectModelType(dir.str()); },
              {"config.json: model_type: expected a string, got number"});
  expectLlavaError("[]", {"top level: expected an object"});
  // No generation_config.json is not an error: transformers derives one from config.json.
  EXPECT_FALSE(hae::loadGenerationConfig(dir.str()).has_value());
}

TEST(GenerationConfig, ParsesAndDefaults) {
  auto g = hae::loadGenerationConfig(kLlava7b);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->bos_token_id, 1);
  EXPECT_EQ(g->eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(g->pad_token_id, 32001);
  EXPECT_EQ(g->max_length, 20);
  EXPECT_FALSE(g->max_new_tokens.has_value());
  EXPECT_FALSE(g->do_sample);

  auto h = hae::parseGenerationConfig(R"({"eos_token_id": [49279, 198], "max_length": 8192})",
                                      "generation_config.json");
  EXPECT_EQ(h.eos_token_ids, (std::vector<int>{49279, 198}));
  EXPECT_EQ(h.max_length, 8192);
  EXPECT_FALSE(h.bos_token_id.has_value());

  expectError(
      [] { hae::parseGenerationConfig(R"({"eos_token_id": "2"})", "generation_config.json"); },
      {"generation_config.json: eos_token_id: expected an integer or a list"});
  expectError([] { hae::parseGenerationConfig(R"({"max_length": 0})", "generation_config.json"); },
              {"generation_config.json: max_length"});
}


// Inputs the config fuzz target's harness (tests/fuzz/fuzz_model_config.cpp) flagged with UBSan
// or its shape invariants: shape products and layer counts that overflowed int arithmetic in the
// parsers or in the model code built from the config. Each now gives a clear error, or parses.
TEST(ModelConfigFuzzRegressions, OverflowingShapesAreRefused) {
  const fs::path dir = fs::path(HAE_TEST_DATA) / "fuzz_regressions" / "fuzz_model_config";
  auto text = [&](const char* name) {
    std::ifstream in(dir / name, std::ios::binary);
    EXPECT_TRUE(in.good()) << name;
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  expectError([&] { hae::parsePhi3Config(text("phi3_head_dim_overflow.json"), "config.json"); },
              {"config.json: head_dim: 1073741824 x num_attention_heads 4 is too large"});
  expectLlavaError(text("llava_heads_x_head_dim_overflow.json"),
                   {"text_config.head_dim: 65536 x num_attention_heads 65536 is too large"});
  expectLlavaError(text("llava_num_patches_overflow.json"),
                   {"vision_config.image_size: 2000000000 / patch_size 1 gives too many patches"});
  expectError(
      [&] { hae::parsePhi3Config(text("phi3v_merged_grid_overflow.json"), "config.json"); },
      {"config.json: img_processor.vision_config.image_size: 2000000000 / patch_size 2 gives "
       "too many patches"});
  expectError(
      [&] {
        hae::parseIdefics3Config(text("idefics3_connector_width_overflow.json"), "config.json");
      },
      {"config.json: scale_factor: 1024^2 x vision_config.hidden_size 1048576 is too large"});
  // num_hidden_layers = INT_MAX: the hidden-state count (layers + 1) is formed in 64 bits.
  const auto llava = hae::parseLlavaConfig(text("llava_hidden_states_overflow.json"), "config.json");
  EXPECT_EQ(llava.vision.num_hidden_layers, 2147483647);
  const auto phi3v = hae::parsePhi3Config(text("phi3v_hidden_states_overflow.json"), "config.json");
  EXPECT_EQ(phi3v.vision.num_hidden_layers, 2147483647);
}
