// config.json -> Phi3Config for "phi3" (transformers' Phi3ForCausalLM) and "phi3_v" (the
// Phi-3.5-vision hub code). Both keep the decoder at the top level, so the shared text parser reads
// the whole file; the image embedding's settings come from embd_layer and img_processor.
#include <cstdint>
#include <filesystem>
#include <limits>

#include "hae/error.h"
#include "hae/phi3_config.h"
#include "io/json_fields.h"
#include "io/text_config_fields.h"

namespace hae {

using io::JsonFields;

TextConfig phi3TextDefaults() {
  TextConfig c;
  c.model_type = "phi3";
  c.vocab_size = 32064;
  c.hidden_size = 3072;
  c.intermediate_size = 8192;
  c.num_hidden_layers = 32;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 32;
  c.head_dim = 96;
  c.max_position_embeddings = 4096;
  c.original_max_position_embeddings = 4096;
  c.rms_norm_eps = 1e-5;
  c.eos_token_ids = {32000};
  c.pad_token_id = 32000;
  return c;
}

VisionConfig phi3vDefaultVision() {
  VisionConfig v;
  v.hidden_size = 1024;
  v.intermediate_size = 4096;
  v.num_hidden_layers = 24;
  v.num_attention_heads = 16;
  v.image_size = 336;
  v.patch_size = 14;
  v.projection_dim = 768;
  return v;  // quick_gelu and LayerNorm eps 1e-5 are CLIPVisionConfig's own defaults
}

namespace {

void requirePositive(const JsonFields& f, const char* key, int value) {
  if (value <= 0) f.fail(key, "must be positive, got " + std::to_string(value));
}

// img_processor.vision_config (HAE extension): CLIPVisionConfig keys over the ViT-L/14-336 values.
VisionConfig parseTower(const JsonFields& f) {
  VisionConfig v = phi3vDefaultVision();
  f.read("hidden_size", v.hidden_size);
  f.read("intermediate_size", v.intermediate_size);
  f.read("num_hidden_layers", v.num_hidden_layers);
  f.read("num_attention_heads", v.num_attention_heads);
  f.read("image_size", v.image_size);
  f.read("patch_size", v.patch_size);
  f.read("projection_dim", v.projection_dim);
  f.read("hidden_act", v.hidden_act);
  f.read("layer_norm_eps", v.layer_norm_eps);
  for (auto [key, value] : {std::pair{"hidden_size", v.hidden_size},
                            {"intermediate_size", v.intermediate_size},
                            {"num_hidden_layers", v.num_hidden_layers},
                            {"num_attention_heads", v.num_attention_heads},
                            {"image_size", v.image_size},
                            {"patch_size", v.patch_size}})
    requirePositive(f, key, value);
  if (v.hidden_size % v.num_attention_heads != 0)
    f.fail("num_attention_heads", "does not divide hidden_size " + std::to_string(v.hidden_size));
  // The HD transform merges 2x2 patches of a square grid: 336/14 = 24 -> 12 x 12 tokens per crop.
  if (v.image_size % v.patch_size != 0 || (v.image_size / v.patch_size) % 2 != 0)
    f.fail("image_size", "must be an even multiple of patch_size for the 2x2 patch merge");
  // numPatches() squares the grid side as an int.
  if (std::int64_t{v.gridSize()} * v.gridSize() > std::numeric_limits<int>::max())
    f.fail("image_size", std::to_string(v.image_size) + " / patch_size " +
                             std::to_string(v.patch_size) + " gives too many patches");
  return v;
}

void parseImageEmbedding(const JsonFields& f, Phi3Config& c) {
  auto embd = f.child("embd_layer");
  std::string cls = "default";
  if (embd) embd->read("embedding_cls", cls);
  if (cls == "default") return;  // Phi3VConfig's embd_layer "default": a text-only model
  if (cls != "image") embd->fail("embedding_cls", "'" + cls + "' is not supported (image)");
  c.has_vision = true;
  // The hub code implements only this combination (HD transform, learned separators, sub_glb, MLP).
  bool hd = false, separator = false;
  std::string order = "glb_sub", projection = "linear";
  embd->read("use_hd_transform", hd);
  embd->read("with_learnable_separator", separator);
  embd->read("hd_transform_order", order);
  embd->read("projection_cls", projection);
  if (!hd) embd->fail("use_hd_transform", "must be true (the only image path the hub code runs)");
  if (!separator) embd->fail("with_learnable_separator", "must be true (HD transform needs it)");
  if (order != "sub_glb")
    embd->fail("hd_transform_order", "'" + order + "' is not supported (sub_glb)");
  if (projection != "mlp")
    embd->fail("projection_cls", "'" + projection + "' is not supported (mlp)");

  auto img = f.child("img_processor");
  if (!img) f.fail("img_processor", "missing (needed when embd_layer.embedding_cls is image)");
  std::string name;
  img->read("name", name);
  if (name != "clip_vision_model")
    img->fail("name", "'" + name + "' is not supported (clip_vision_model)");
  if (auto tower = img->child("vision_config")) c.vision = parseTower(*tower);
  if (!img->has("image_dim_out")) img->fail("image_dim_out", "missing");
  img->read("image_dim_out", c.image_dim_out);
  img->read("num_img_tokens", c.num_img_tokens);
  img->read("layer_idx", c.layer_idx);
  std::string feature = "patch";
  if (img->has("type_feature")) img->read("type_feature", feature);
  if (feature != "patch") img->fail("type_feature", "'" + feature + "' is not supported (patch)");
  if (c.image_dim_out != c.vision.hidden_size)
    img->fail("image_dim_out", std::to_string(c.image_dim_out) +
                                   " differs from the CLIP hidden size " +
                                   std::to_string(c.vision.hidden_size));
  const int merged = c.vision.image_size / c.vision.patch_size / 2;
  if (c.num_img_tokens != merged * merged)
    img->fail("num_img_tokens", std::to_string(c.num_img_tokens) + " is not the " +
                                    std::to_string(merged) + "x" + std::to_string(merged) +
                                    " merged grid of the CLIP tower");
  const std::int64_t states = std::int64_t{c.vision.num_hidden_layers} + 1;
  if (c.layer_idx < -states || c.layer_idx >= states)
    img->fail("layer_idx", std::to_string(c.layer_idx) + " is outside the " +
                               std::to_string(states) + " CLIP hidden states");
}

Phi3Config phi3FromJson(const nlohmann::json& json, const std::string& file) {
  JsonFields f(json, file);
  std::string type;
  f.read("model_type", type);
  if (type != "phi3" && type != "phi3_v")
    f.fail("model_type", "expected 'phi3' or 'phi3_v', got '" + type + "'");
  Phi3Config c;
  c.text = io::parseTextConfigFields(f);
  const TextConfig& t = c.text;
  if (t.hidden_size % t.num_attention_heads != 0)
    f.fail("num_attention_heads", "does not divide hidden_size " + std::to_string(t.hidden_size));
  if (t.head_dim * t.num_attention_heads != t.hidden_size)
    f.fail("head_dim", "Phi-3 derives head_dim as hidden_size / num_attention_heads");
  if (t.partial_rotary_factor != 1.0)
    f.fail("partial_rotary_factor", "only 1.0 (full rotary) is supported for Phi-3");
  if (t.rope_scaling) {
    const RopeScaling& r = *t.rope_scaling;
    auto rope = f.child("rope_scaling");
    if (r.rope_type != "longrope")
      rope->fail("type", "'" + r.rope_type + "' is not supported for Phi-3 (longrope, su)");
    if (static_cast<int>(r.short_factor.size()) != t.head_dim / 2)
      rope->fail("short_factor", "has " + std::to_string(r.short_factor.size()) +
                                     " values, head_dim / 2 is " + std::to_string(t.head_dim / 2));
  }
  if (type == "phi3_v") parseImageEmbedding(f, c);
  return c;
}

}  // namespace

Phi3Config parsePhi3Config(const std::string& json, const std::string& file) {
  return phi3FromJson(io::parseJsonText(json, file), file);
}

Phi3Config loadPhi3Config(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  return phi3FromJson(io::readJsonFile(path), path);
}

}  // namespace hae
