// libFuzzer target for config.json parsing: every input goes through the parser of each family
// (llava, phi3 / phi3_v, idefics3) and generation_config.json, so a mutated model_type still
// reaches the others' code. Each must return a config or throw hae::Error; a returned config must
// hold the shapes the model code builds from it (divisible heads, grids and products that fit an
// int). A crash, a sanitizer report, another exception type or a broken invariant is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#include "hae/error.h"
#include "hae/idefics3_config.h"
#include "hae/model_config.h"
#include "hae/phi3_config.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

bool fitsInt(std::int64_t v) {
  return v >= 0 && v <= std::numeric_limits<int>::max();
}

void checkText(const hae::TextConfig& t) {
  require(t.vocab_size > 0 && t.hidden_size > 0 && t.intermediate_size > 0);
  require(t.num_hidden_layers > 0 && t.num_attention_heads > 0 && t.num_key_value_heads > 0);
  require(t.head_dim > 0 && t.num_attention_heads % t.num_key_value_heads == 0);
  // The attention projections are num_heads x head_dim wide.
  require(fitsInt(std::int64_t{t.num_attention_heads} * t.head_dim));
  require(fitsInt(std::int64_t{t.num_key_value_heads} * t.head_dim));
  require(t.max_position_embeddings > 0 && t.rms_norm_eps > 0 && t.rope_theta > 0);
  require(t.partial_rotary_factor > 0 && t.partial_rotary_factor <= 1);
  if (t.rope_scaling) require(t.rope_scaling->factor > 0);
}

void checkVision(const hae::VisionConfig& v) {
  require(v.hidden_size > 0 && v.num_attention_heads > 0 && v.patch_size > 0 && v.image_size > 0);
  require(v.hidden_size % v.num_attention_heads == 0 && v.headDim() > 0);
  require(v.gridSize() > 0);
  // numPatches() squares the grid side in int arithmetic.
  require(fitsInt(std::int64_t{v.gridSize()} * v.gridSize()));
  (void)v.numPatches();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const hae::LlavaConfig c = hae::parseLlavaConfig(text, "config.json");
    checkText(c.text);
    checkVision(c.vision);
    require(!c.vision_feature_layers.empty() && c.image_seq_length > 0);
    for (int layer : c.vision_feature_layers)
      require(layer >= -(std::int64_t{c.vision.num_hidden_layers} + 1) &&
              layer <= c.vision.num_hidden_layers);
  } catch (const hae::Error&) {
  }
  try {
    const hae::Phi3Config c = hae::parsePhi3Config(text, "config.json");
    checkText(c.text);
    require(c.text.head_dim * c.text.num_attention_heads == c.text.hidden_size);
    (void)c.originalMaxPositions();
    if (c.has_vision) {
      checkVision(c.vision);
      require(c.vision.gridSize() % 2 == 0);
      require(c.num_img_tokens == (c.vision.gridSize() / 2) * (c.vision.gridSize() / 2));
    }
  } catch (const hae::Error&) {
  }
  try {
    const hae::Idefics3Config c = hae::parseIdefics3Config(text, "config.json");
    checkText(c.text);
    checkVision(c.vision);
    require(c.scale_factor > 0 && c.patchesPerSide() % c.scale_factor == 0);
    require(c.tokensPerSide() > 0);
    require(fitsInt(std::int64_t{c.tokensPerSide()} * c.tokensPerSide()));
    (void)c.tokensPerTile();
    require(c.image_token_id >= 0 && c.image_token_id < c.text.vocab_size);
    // The connector concatenates scale_factor^2 patches: hidden_size x scale_factor^2 wide.
    require(fitsInt(std::int64_t{c.vision.hidden_size} * c.scale_factor * c.scale_factor));
  } catch (const hae::Error&) {
  }
  try {
    const hae::GenerationConfig g = hae::parseGenerationConfig(text, "generation_config.json");
    require(g.max_length > 0 && g.top_k >= 0 && g.top_p > 0 && g.top_p <= 1);
  } catch (const hae::Error&) {
  }
  return 0;
}
