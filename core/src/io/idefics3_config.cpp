// config.json -> Idefics3Config with transformers 4.49's defaults (Idefics3Config,
// Idefics3VisionConfig, LlamaConfig). SmolVLM's own config sets every key that matters, but tiny
// test checkpoints omit hidden_act and layer_norm_eps, so the SigLIP defaults must be right.
#include <cstdint>
#include <filesystem>
#include <limits>

#include "hae/error.h"
#include "hae/idefics3_config.h"
#include "io/json_fields.h"
#include "io/text_config_fields.h"

namespace hae {

using io::JsonFields;

VisionConfig idefics3DefaultVision() {
  VisionConfig v;
  v.model_type = "idefics3_vision";
  v.hidden_size = 1152;
  v.intermediate_size = 3072;
  v.num_hidden_layers = 12;
  v.num_attention_heads = 16;
  v.num_channels = 3;
  v.image_size = 224;
  v.patch_size = 32;
  v.hidden_act = "gelu_pytorch_tanh";
  v.layer_norm_eps = 1e-6;
  return v;
}

namespace {

void requirePositive(const JsonFields& f, const char* key, double value) {
  if (!(value > 0)) f.fail(key, "must be positive, got " + std::to_string(value));
}

VisionConfig parseVision(const JsonFields& f) {
  VisionConfig v = idefics3DefaultVision();
  // SmolVLM's file says "idefics3" here, transformers writes "idefics3_vision"; the class ignores
  // it.
  f.read("model_type", v.model_type);
  f.read("hidden_size", v.hidden_size);
  f.read("intermediate_size", v.intermediate_size);
  f.read("num_hidden_layers", v.num_hidden_layers);
  f.read("num_attention_heads", v.num_attention_heads);
  f.read("num_channels", v.num_channels);
  f.read("image_size", v.image_size);
  f.read("patch_size", v.patch_size);
  f.read("hidden_act", v.hidden_act);
  f.read("layer_norm_eps", v.layer_norm_eps);
  for (auto [key, value] : {std::pair<const char*, int>{"hidden_size", v.hidden_size},
                            {"intermediate_size", v.intermediate_size},
                            {"num_hidden_layers", v.num_hidden_layers},
                            {"num_attention_heads", v.num_attention_heads},
                            {"num_channels", v.num_channels},
                            {"image_size", v.image_size},
                            {"patch_size", v.patch_size}})
    requirePositive(f, key, value);
  requirePositive(f, "layer_norm_eps", v.layer_norm_eps);
  if (v.hidden_size % v.num_attention_heads != 0)
    f.fail("num_attention_heads", std::to_string(v.num_attention_heads) +
                                      " does not divide hidden_size " +
                                      std::to_string(v.hidden_size));
  if (v.image_size % v.patch_size != 0)
    f.fail("patch_size", std::to_string(v.patch_size) + " does not divide image_size " +
                             std::to_string(v.image_size));
  // numPatches() squares the grid side as an int.
  if (std::int64_t{v.gridSize()} * v.gridSize() > std::numeric_limits<int>::max())
    f.fail("image_size", std::to_string(v.image_size) + " / patch_size " +
                             std::to_string(v.patch_size) + " gives too many patches");
  return v;
}

Idefics3Config fromJson(const nlohmann::json& json, const std::string& file) {
  JsonFields f(json, file);
  std::string type;
  f.read("model_type", type);
  if (type != "idefics3") f.fail("model_type", "expected 'idefics3', got '" + type + "'");

  Idefics3Config c;
  f.read("image_token_id", c.image_token_id);
  f.read("scale_factor", c.scale_factor);
  f.read("tie_word_embeddings", c.tie_word_embeddings);
  f.read("pad_token_id", c.pad_token_id);
  if (auto vision = f.child("vision_config")) c.vision = parseVision(*vision);
  if (auto text = f.child("text_config")) {
    c.text = io::parseTextConfigFields(*text);
  } else {
    c.text.rms_norm_eps = 1e-5;
    c.text.pad_token_id = c.pad_token_id;
  }

  if (c.scale_factor <= 0)
    f.fail("scale_factor", "must be positive, got " + std::to_string(c.scale_factor));
  if (c.patchesPerSide() % c.scale_factor != 0)
    f.fail("scale_factor", std::to_string(c.scale_factor) + " does not divide the " +
                               std::to_string(c.patchesPerSide()) +
                               " patches per side of vision_config");
  // The connector concatenates scale_factor^2 patch features: hidden_size x scale_factor^2 wide,
  // sized as an int.
  if (std::int64_t{c.vision.hidden_size} * c.scale_factor * c.scale_factor >
      std::numeric_limits<int>::max())
    f.fail("scale_factor", std::to_string(c.scale_factor) + "^2 x vision_config.hidden_size " +
                               std::to_string(c.vision.hidden_size) + " is too large");
  if (c.image_token_id < 0 || c.image_token_id >= c.text.vocab_size)
    f.fail("image_token_id", std::to_string(c.image_token_id) + " is outside the vocabulary of " +
                                 std::to_string(c.text.vocab_size));
  // SmolVLM's text model is transformers' LlamaModel, so its rope_scaling is the Llama decoder's
  // (checked by the text_config parser); other text model types run no scaled RoPE here.
  if (c.text.rope_scaling && c.text.rope_scaling->rope_type != "default" &&
      c.text.model_type != "llama")
    f.fail("text_config.rope_scaling",
           "rope_type '" + c.text.rope_scaling->rope_type +
               "' is not supported for an idefics3 text model of type '" + c.text.model_type +
               "' (only llama)");
  return c;
}

}  // namespace

Idefics3Config parseIdefics3Config(const std::string& json, const std::string& file) {
  return fromJson(io::parseJsonText(json, file), file);
}

Idefics3Config loadIdefics3Config(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  return fromJson(io::readJsonFile(path), path);
}

}  // namespace hae
