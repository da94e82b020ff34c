// config.json -> LlavaConfig with transformers 4.49's defaults for absent keys (LlavaConfig,
// CLIPVisionConfig, LlamaConfig). Real configs such as llava-1.5-7b-hf omit nearly every decoder
// key, so getting these defaults right is what makes the real model load at the right size.
#include "hae/model_config.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>

#include "hae/error.h"
#include "hae/phi3_config.h"
#include "hae/qwen2vl_config.h"
#include "io/json_fields.h"
#include "io/text_config_fields.h"

namespace hae {

using io::JsonFields;

namespace {

const std::vector<std::string>& supportedModelTypes() {
  static const std::vector<std::string> types = {"llava", "idefics3", "phi3", "phi3_v",
                                                 "qwen2_vl", "qwen2_5_vl"};
  return types;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string configPath(const std::string& dir) {
  return (std::filesystem::path(dir) / "config.json").string();
}

void requirePositive(const JsonFields& f, const char* key, double value) {
  if (!(value > 0)) f.fail(key, "must be positive, got " + std::to_string(value));
}

void requirePositive(const JsonFields& f, const char* key, int value) {
  if (value <= 0) f.fail(key, "must be positive, got " + std::to_string(value));
}

// The key that names the rope type. LlamaConfig copies a legacy "type" over "rope_type", so when
// a file has both, "type" is the one that counts.
const char* ropeTypeKey(const JsonFields& f) { return f.has("type") ? "type" : "rope_type"; }

RopeScaling parseRopeScaling(const JsonFields& f) {
  RopeScaling r;
  if (!f.has("rope_type") && !f.has("type"))
    f.fail("rope_type", "missing (neither rope_type nor type is set)");
  f.read(ropeTypeKey(f), r.rope_type);
  if (r.rope_type == "su") r.rope_type = "longrope";  // the name Phi-3's first release used
  f.read("factor", r.factor);
  f.read("original_max_position_embeddings", r.original_max_position_embeddings);
  f.read("short_factor", r.short_factor);
  f.read("long_factor", r.long_factor);
  f.read("low_freq_factor", r.low_freq_factor);
  f.read("high_freq_factor", r.high_freq_factor);
  f.read("attention_factor", r.attention_factor);
  f.read("beta_fast", r.beta_fast);
  f.read("beta_slow", r.beta_slow);
  requirePositive(f, "factor", r.factor);
  if (r.rope_type == "longrope")
    for (const char* key : {"short_factor", "long_factor"})
      if (!f.has(key)) f.fail(key, "missing (rope_type 'longrope' needs it)");
  if (r.rope_type == "longrope" && r.short_factor.size() != r.long_factor.size())
    f.fail("short_factor", "has " + std::to_string(r.short_factor.size()) +
                               " values but long_factor has " +
                               std::to_string(r.long_factor.size()));
  return r;
}

// What the Llama decoder (llava, idefics3) runs: the types transformers 4.49's
// ROPE_INIT_FUNCTIONS has, with the keys its _compute_*_parameters read (LlamaRotaryEmbedding in
// core/src/text/llama.h computes them). Anything else would run with wrong positions, so it is
// refused here, naming the key.
void checkLlamaRopeScaling(const JsonFields& f, const TextConfig& c) {
  static const std::vector<std::string> types = {"default", "linear",   "dynamic",
                                                 "yarn",    "longrope", "llama3"};
  const auto rope = f.child("rope_scaling");
  const RopeScaling& r = *c.rope_scaling;
  const char* typeKey = ropeTypeKey(*rope);
  std::string written;  // as in the file: "su" was normalised to longrope, Llama has no "su"
  rope->read(typeKey, written);
  if (std::find(types.begin(), types.end(), written) == types.end())
    rope->fail(typeKey, "'" + written + "' is not supported for the Llama decoder (supported: " +
                            joined(types) + ")");
  auto require = [&](const char* key) {
    if (!rope->has(key)) rope->fail(key, "missing (rope_type '" + r.rope_type + "' needs it)");
  };
  const std::string& t = r.rope_type;
  if (t == "linear" || t == "dynamic" || t == "yarn" || t == "llama3") require("factor");
  if (t == "llama3") {
    require("original_max_position_embeddings");
    require("low_freq_factor");
    require("high_freq_factor");
    requirePositive(*rope, "original_max_position_embeddings", *r.original_max_position_embeddings);
    requirePositive(*rope, "low_freq_factor", *r.low_freq_factor);
    requirePositive(*rope, "high_freq_factor", *r.high_freq_factor);
  }
  if (t == "longrope") {
    const std::size_t half = static_cast<std::size_t>(c.head_dim / 2);
    for (const char* key : {"short_factor", "long_factor"}) {
      const auto& list = std::string(key) == "short_factor" ? r.short_factor : r.long_factor;
      if (list.size() != half)
        rope->fail(key, "has " + std::to_string(list.size()) + " values, head_dim / 2 is " +
                            std::to_string(half));
    }
    // The attention factor comes from max_position_embeddings / original_max_position_embeddings
    // of the text config when it has that key, else from rope_scaling.factor.
    if (c.original_max_position_embeddings) {
      if (*c.original_max_position_embeddings <= 1)
        f.fail("original_max_position_embeddings",
               "must be greater than 1 for longrope, got " +
                   std::to_string(*c.original_max_position_embeddings));
    } else if (!r.attention_factor) {
      if (!rope->has("factor"))
        rope->fail("factor", "missing (longrope needs it when neither attention_factor nor " +
                                 f.path("original_max_position_embeddings") + " is set)");
    }
  }
  if (t == "yarn") {
    // Later transformers releases read these (DeepSeek-V3); 4.49's yarn does not, and neither
    // does this build: say so rather than silently computing something else than they would.
    for (const char* key :
         {"mscale", "mscale_all_dim", "original_max_position_embeddings", "truncate"})
      if (rope->has(key))
        spdlog::warn("{}: {}: ignored, as transformers 4.49's yarn ignores it", f.file(),
                     rope->path(key));
  }
}

// Defaults of the config class that model_type names. New decoders add a branch here.
TextConfig textDefaults(const JsonFields& f, const std::string& modelType) {
  if (modelType == "llama") return TextConfig{};  // TextConfig's initialisers are LlamaConfig's
  if (modelType == "phi3" || modelType == "phi3_v") return phi3TextDefaults();
  if (modelType == "qwen2_vl" || modelType == "qwen2_5_vl") return qwen2vlTextDefaults();
  f.fail("model_type", "'" + modelType + "' is not supported as a text model (supported: llama)");
}

TextConfig parseTextConfig(const JsonFields& f) {
  std::string modelType = "llama";  // what LlavaConfig assumes when text_config has none
  f.read("model_type", modelType);
  TextConfig c = textDefaults(f, modelType);
  c.model_type = modelType;
  f.read("vocab_size", c.vocab_size);
  f.read("hidden_size", c.hidden_size);
  f.read("intermediate_size", c.intermediate_size);
  f.read("num_hidden_layers", c.num_hidden_layers);
  f.read("num_attention_heads", c.num_attention_heads);
  f.read("hidden_act", c.hidden_act);
  f.read("max_position_embeddings", c.max_position_embeddings);
  f.read("original_max_position_embeddings", c.original_max_position_embeddings);
  f.read("rms_norm_eps", c.rms_norm_eps);
  f.read("rope_theta", c.rope_theta);
  f.read("partial_rotary_factor", c.partial_rotary_factor);
  f.read("attention_bias", c.attention_bias);
  f.read("mlp_bias", c.mlp_bias);
  f.read("tie_word_embeddings", c.tie_word_embeddings);
  f.read("bos_token_id", c.bos_token_id);
  f.readIntOrList("eos_token_id", c.eos_token_ids);
  f.read("pad_token_id", c.pad_token_id);
  f.read("sliding_window", c.sliding_window);
  if (auto rope = f.child("rope_scaling")) c.rope_scaling = parseRopeScaling(*rope);

  requirePositive(f, "vocab_size", c.vocab_size);
  requirePositive(f, "hidden_size", c.hidden_size);
  requirePositive(f, "intermediate_size", c.intermediate_size);
  requirePositive(f, "num_hidden_layers", c.num_hidden_layers);
  requirePositive(f, "num_attention_heads", c.num_attention_heads);
  requirePositive(f, "max_position_embeddings", c.max_position_embeddings);
  requirePositive(f, "rms_norm_eps", c.rms_norm_eps);
  requirePositive(f, "rope_theta", c.rope_theta);

  // Both depend on other keys, so they are derived after those were read.
  c.num_key_value_heads = c.num_attention_heads;
  if (f.has("num_key_value_heads")) f.read("num_key_value_heads", c.num_key_value_heads);
  requirePositive(f, "num_key_value_heads", c.num_key_value_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    f.fail("num_key_value_heads", std::to_string(c.num_key_value_heads) +
                                      " does not divide num_attention_heads " +
                                      std::to_string(c.num_attention_heads));
  if (f.has("head_dim")) {
    // An explicit head_dim may legitimately differ from hidden_size / heads.
    f.read("head_dim", c.head_dim);
    requirePositive(f, "head_dim", c.head_dim);
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      f.fail("num_attention_heads", std::to_string(c.num_attention_heads) +
                                        " does not divide hidden_size " +
                                        std::to_string(c.hidden_size));
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  // The attention projections are num_attention_heads x head_dim wide, sized as an int (the KV
  // heads divide the query heads, so theirs is no wider).
  if (std::int64_t{c.num_attention_heads} * c.head_dim > std::numeric_limits<int>::max())
    f.fail("head_dim", std::to_string(c.head_dim) + " x num_attention_heads " +
                           std::to_string(c.num_attention_heads) + " is too large");
  if (c.partial_rotary_factor <= 0 || c.partial_rotary_factor > 1)
    f.fail("partial_rotary_factor", "must lie in (0, 1]");
  if (modelType == "llama" && c.rope_scaling) checkLlamaRopeScaling(f, c);
  return c;
}

// What LlavaConfig builds when config.json has no vision_config: CLIP ViT-L/14 at 336 px.
VisionConfig llavaDefaultVision() {
  VisionConfig v;
  v.intermediate_size = 4096;
  v.hidden_size = 1024;
  v.patch_size = 14;
  v.image_size = 336;
  v.num_hidden_layers = 24;
  v.num_attention_heads = 16;
  v.projection_dim = 768;
  return v;
}

VisionConfig parseVisionConfig(const JsonFields& f) {
  VisionConfig v;  // CLIPVisionConfig's own defaults, not the llava-1.5 ones
  f.read("model_type", v.model_type);
  if (v.model_type != "clip_vision_model")
    f.fail("model_type", "'" + v.model_type +
                             "' is not supported as a vision tower (supported: clip_vision_model)");
  f.read("hidden_size", v.hidden_size);
  f.read("intermediate_size", v.intermediate_size);
  f.read("num_hidden_layers", v.num_hidden_layers);
  f.read("num_attention_heads", v.num_attention_heads);
  f.read("num_channels", v.num_channels);
  f.read("image_size", v.image_size);
  f.read("patch_size", v.patch_size);
  f.read("projection_dim", v.projection_dim);
  f.read("hidden_act", v.hidden_act);
  f.read("layer_norm_eps", v.layer_norm_eps);

  requirePositive(f, "hidden_size", v.hidden_size);
  requirePositive(f, "intermediate_size", v.intermediate_size);
  requirePositive(f, "num_hidden_layers", v.num_hidden_layers);
  requirePositive(f, "num_attention_heads", v.num_attention_heads);
  requirePositive(f, "num_channels", v.num_channels);
  requirePositive(f, "image_size", v.image_size);
  requirePositive(f, "patch_size", v.patch_size);
  requirePositive(f, "layer_norm_eps", v.layer_norm_eps);
  if (v.hidden_size % v.num_attention_heads != 0)
    f.fail("num_attention_heads", std::to_string(v.num_attention_heads) +
                                      " does not divide hidden_size " +
                                      std::to_string(v.hidden_size));
  if (v.patch_size > v.image_size)
    f.fail("patch_size", std::to_string(v.patch_size) + " is larger than image_size " +
                             std::to_string(v.image_size));
  // numPatches() squares the grid side as an int.
  if (std::int64_t{v.gridSize()} * v.gridSize() > std::numeric_limits<int>::max())
    f.fail("image_size", std::to_string(v.image_size) + " / patch_size " +
                             std::to_string(v.patch_size) + " gives too many patches");
  return v;
}

LlavaConfig llavaFromJson(const nlohmann::json& json, const std::string& file);

}  // namespace

std::string detectModelType(const std::string& dir) {
  const std::string path = configPath(dir);
  const auto json = io::readJsonFile(path);
  JsonFields f(json, path);
  if (!f.has("model_type")) f.fail("model_type", "missing");
  std::string type;
  f.read("model_type", type);
  const auto& supported = supportedModelTypes();
  if (std::find(supported.begin(), supported.end(), type) == supported.end())
    throw Error(path + ": model_type '" + type +
                "' is not supported (supported: " + joined(supported) + ")");
  return type;
}

TextConfig io::parseTextConfigFields(const JsonFields& fields) { return parseTextConfig(fields); }

LlavaConfig parseLlavaConfig(const std::string& text, const std::string& file) {
  return llavaFromJson(io::parseJsonText(text, file), file);
}

LlavaConfig loadLlavaConfig(const std::string& dir) {
  const std::string path = configPath(dir);
  return llavaFromJson(io::readJsonFile(path), path);
}

namespace {

LlavaConfig llavaFromJson(const nlohmann::json& json, const std::string& file) {
  JsonFields f(json, file);
  std::string type;
  f.read("model_type", type);
  if (type != "llava") f.fail("model_type", "expected 'llava', got '" + type + "'");

  LlavaConfig c;
  auto vision = f.child("vision_config");
  c.vision = vision ? parseVisionConfig(*vision) : llavaDefaultVision();
  auto textFields = f.child("text_config");
  // An absent text_config is LlamaConfig() as is.
  c.text = textFields ? parseTextConfig(*textFields) : TextConfig{};

  f.read("image_token_index", c.image_token_index);
  f.read("projector_hidden_act", c.projector_hidden_act);
  f.readIntOrList("vision_feature_layer", c.vision_feature_layers);
  f.read("vision_feature_select_strategy", c.vision_feature_select_strategy);
  f.read("multimodal_projector_bias", c.multimodal_projector_bias);
  f.read("image_seq_length", c.image_seq_length);
  f.read("ignore_index", c.ignore_index);
  f.read("pad_token_id", c.pad_token_id);
  f.read("tie_word_embeddings", c.tie_word_embeddings);

  if (c.vision_feature_select_strategy != "default" && c.vision_feature_select_strategy != "full")
    f.fail("vision_feature_select_strategy",
           "expected 'default' or 'full', got '" + c.vision_feature_select_strategy + "'");
  if (c.vision_feature_layers.empty()) f.fail("vision_feature_layer", "is empty");
  // CLIP returns num_hidden_layers + 1 hidden states (embeddings first); Python indexing.
  const std::int64_t states = std::int64_t{c.vision.num_hidden_layers} + 1;
  for (int layer : c.vision_feature_layers)
    if (layer < -states || layer >= states)
      f.fail("vision_feature_layer", std::to_string(layer) + " is outside the " +
                                         std::to_string(states) + " CLIP hidden states");
  requirePositive(f, "image_seq_length", c.image_seq_length);
  // No upper bound against vocab_size: LlavaConfig's own defaults put the image token at 32000
  // with a 32000-token vocabulary, and transformers' legacy merge path accepts that.
  if (c.image_token_index < 0)
    f.fail("image_token_index", "must not be negative, got " + std::to_string(c.image_token_index));
  return c;
}

}  // namespace

}  // namespace hae
