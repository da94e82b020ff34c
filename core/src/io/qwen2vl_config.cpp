// config.json -> Qwen2VLConfig for "qwen2_vl" and "qwen2_5_vl" with transformers 4.49's defaults
// (Qwen2VLConfig, Qwen2VLVisionConfig, Qwen2_5_VLConfig, Qwen2_5_VLVisionConfig). save_pretrained
// writes only the vision keys that differ from the class defaults, so a tiny checkpoint's
// vision_config has no patch_size or hidden_act and the defaults below decide them.
#include <cstdint>
#include <filesystem>
#include <limits>

#include "hae/error.h"
#include "hae/qwen2vl_config.h"
#include "io/json_fields.h"
#include "io/text_config_fields.h"

namespace hae {

using io::JsonFields;

TextConfig qwen2vlTextDefaults() {
  TextConfig c;
  c.model_type = "qwen2_vl";
  c.vocab_size = 152064;
  c.hidden_size = 8192;
  c.intermediate_size = 29568;
  c.num_hidden_layers = 80;
  c.num_attention_heads = 64;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  c.hidden_act = "silu";
  c.max_position_embeddings = 32768;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 1000000.0;
  c.attention_bias = true;  // Qwen2Attention: q/k/v with bias, o_proj without
  c.tie_word_embeddings = false;
  c.bos_token_id = std::nullopt;
  c.eos_token_ids = {151645};
  c.sliding_window = 4096;
  return c;
}

namespace {

void requirePositive(const JsonFields& f, const char* key, double value) {
  if (!(value > 0)) f.fail(key, "must be positive, got " + std::to_string(value));
}

Qwen2VLVisionConfig parseVision(const JsonFields& f, bool qwen25) {
  Qwen2VLVisionConfig v;
  v.qwen25 = qwen25;
  f.read("depth", v.depth);
  f.read("num_heads", v.num_heads);
  f.read("in_channels", v.in_channels);  // in_chans / spatial_patch_size are ignored, as there
  f.read("patch_size", v.patch_size);
  f.read("spatial_merge_size", v.spatial_merge_size);
  f.read("temporal_patch_size", v.temporal_patch_size);
  if (qwen25) {
    v.hidden_act = "silu";
    v.intermediate_size = 3420;
    f.read("hidden_size", v.width);
    v.out_hidden_size = 3584;
    f.read("out_hidden_size", v.out_hidden_size);
    f.read("intermediate_size", v.intermediate_size);
    f.read("window_size", v.window_size);
    f.readIntOrList("fullatt_block_indexes", v.fullatt_block_indexes);
    f.read("tokens_per_second", v.tokens_per_second);
  } else {
    f.read("embed_dim", v.width);
    f.read("hidden_size", v.out_hidden_size);
    double mlp_ratio = 4;
    f.read("mlp_ratio", mlp_ratio);
    requirePositive(f, "mlp_ratio", mlp_ratio);
    const double mlp = v.width * mlp_ratio;
    if (mlp > std::numeric_limits<int>::max()) f.fail("mlp_ratio", "gives too wide an MLP");
    v.intermediate_size = static_cast<int>(mlp);  // int(embed_dim * mlp_ratio)
  }
  f.read("hidden_act", v.hidden_act);
  for (auto [key, value] : {std::pair<const char*, int>{"depth", v.depth},
                            {qwen25 ? "hidden_size" : "embed_dim", v.width},
                            {qwen25 ? "out_hidden_size" : "hidden_size", v.out_hidden_size},
                            {"num_heads", v.num_heads},
                            {qwen25 ? "intermediate_size" : "mlp_ratio", v.intermediate_size},
                            {"in_channels", v.in_channels},
                            {"patch_size", v.patch_size},
                            {"spatial_merge_size", v.spatial_merge_size},
                            {"temporal_patch_size", v.temporal_patch_size}})
    requirePositive(f, key, value);
  if (v.width % v.num_heads != 0 || v.headDim() % 4 != 0)
    f.fail("num_heads", "the width " + std::to_string(v.width) + " / " +
                            std::to_string(v.num_heads) +
                            " heads must be a head size divisible by 4 (2-D rotary halves)");
  if (std::int64_t{v.width} * v.mergeUnit() > std::numeric_limits<int>::max() ||
      std::int64_t{v.in_channels} * v.temporal_patch_size * v.patch_size * v.patch_size >
          std::numeric_limits<int>::max())
    f.fail("spatial_merge_size", "gives too large a merged or patch row");
  if (qwen25) {
    requirePositive(f, "window_size", v.window_size);
    if (v.windowTokens() < 1)
      f.fail("window_size", std::to_string(v.window_size) + " is smaller than one merged token (" +
                                std::to_string(v.spatial_merge_size * v.patch_size) + " px)");
    for (int b : v.fullatt_block_indexes)
      if (b < 0 || b >= v.depth)
        f.fail("fullatt_block_indexes",
               std::to_string(b) + " is not a block index (depth " + std::to_string(v.depth) + ")");
  }
  return v;
}

Qwen2VLConfig fromJson(const nlohmann::json& json, const std::string& file) {
  JsonFields f(json, file);
  Qwen2VLConfig c;
  f.read("model_type", c.model_type);
  if (c.model_type != "qwen2_vl" && c.model_type != "qwen2_5_vl")
    f.fail("model_type", "expected 'qwen2_vl' or 'qwen2_5_vl', got '" + c.model_type + "'");
  const bool qwen25 = c.model_type == "qwen2_5_vl";
  // The shared text parser takes its defaults from model_type (qwen2vlTextDefaults).
  const auto text_child = f.child("text_config");
  const JsonFields& text = text_child ? *text_child : f;
  c.text = io::parseTextConfigFields(text);
  c.text.attention_bias = true;  // Qwen2's q/k/v biases are not a config option
  c.text.model_type = c.model_type;
  text.read("use_sliding_window", c.use_sliding_window);
  // Q12: the real files say {"type": "mrope", "mrope_section": [...]}, transformers rewrites the
  // type to "default"; mrope_section is what makes it M-RoPE.
  const auto rope = text.child("rope_scaling");
  if (!rope || !rope->has("mrope_section"))
    text.fail("rope_scaling", "needs mrope_section (the M-RoPE split of the rotary channels)");
  std::vector<int> section;
  rope->readIntOrList("mrope_section", section);
  if (section.size() != 3)
    rope->fail("mrope_section",
               "expected 3 values (t, h, w), got " + std::to_string(section.size()));
  int sum = 0;
  for (int s : section) {
    if (s < 0) rope->fail("mrope_section", "values must not be negative");
    sum += s;
  }
  if (sum != c.text.head_dim / 2)
    rope->fail("mrope_section", "sums to " + std::to_string(sum) + ", head_dim / 2 is " +
                                    std::to_string(c.text.head_dim / 2));
  c.mrope_section = {section[0], section[1], section[2]};
  const std::string type = c.text.rope_scaling->rope_type;
  if (type != "default" && type != "mrope")
    rope->fail(rope->has("type") ? "type" : "rope_type",
               "'" + type + "' is not supported with M-RoPE (supported: mrope, default)");
  c.text.rope_scaling.reset();  // plain inverse frequencies, split by mrope_section

  for (const char* key :
       {"image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"}) {
    int& target = std::string(key) == "image_token_id"          ? c.image_token_id
                  : std::string(key) == "video_token_id"        ? c.video_token_id
                  : std::string(key) == "vision_start_token_id" ? c.vision_start_token_id
                                                                : c.vision_end_token_id;
    f.read(key, target);
    if (target < 0 || target >= c.text.vocab_size)
      f.fail(key, std::to_string(target) + " is outside the vocabulary of " +
                      std::to_string(c.text.vocab_size));
  }
  if (auto vision = f.child("vision_config"))
    c.vision = parseVision(*vision, qwen25);
  else {
    static const nlohmann::json empty = nlohmann::json::object();
    c.vision = parseVision(JsonFields(empty, file, "vision_config."), qwen25);
  }
  if (c.vision.out_hidden_size != c.text.hidden_size)
    f.fail(qwen25 ? "vision_config.out_hidden_size" : "vision_config.hidden_size",
           std::to_string(c.vision.out_hidden_size) + " is not the decoder's hidden_size " +
               std::to_string(c.text.hidden_size));
  return c;
}

}  // namespace

Qwen2VLConfig parseQwen2VLConfig(const std::string& json, const std::string& file) {
  return fromJson(io::parseJsonText(json, file), file);
}

Qwen2VLConfig loadQwen2VLConfig(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  return fromJson(io::readJsonFile(path), path);
}

}  // namespace hae
