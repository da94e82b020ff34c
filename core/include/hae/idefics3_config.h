#pragma once
// Idefics3 (SmolVLM) config.json with transformers 4.49's defaults for absent keys: Idefics3Config,
// Idefics3VisionConfig (a SigLIP tower) and the Llama text_config.
#include <optional>
#include <string>

#include "hae/model_config.h"

namespace hae {

// Idefics3VisionConfig's defaults (SigLIP so400m-like shapes, gelu tanh, LayerNorm eps 1e-6).
VisionConfig idefics3DefaultVision();

struct Idefics3Config {
  VisionConfig vision = idefics3DefaultVision();
  TextConfig text;  // absent text_config: LlamaConfig(rms_norm_eps=1e-5, tie_word_embeddings=False)
  int image_token_id = 128257;
  int scale_factor = 2;  // pixel-shuffle factor: scale_factor^2 patches become one token
  bool tie_word_embeddings = false;
  std::optional<int> pad_token_id = 128002;

  int patchesPerSide() const { return vision.image_size / vision.patch_size; }
  int tokensPerSide() const { return patchesPerSide() / scale_factor; }
  int tokensPerTile() const { return tokensPerSide() * tokensPerSide(); }
  // transformers reads the text config's flag; Idefics2/3's own tie_weights reads the top level.
  // Either one set ties lm_head to embed_tokens.
  bool tiedEmbeddings() const { return tie_word_embeddings || text.tie_word_embeddings; }
};

// <dir>/config.json of an Idefics3 model; errors name the file and the dotted key.
Idefics3Config loadIdefics3Config(const std::string& dir);
Idefics3Config parseIdefics3Config(const std::string& json, const std::string& file);

}  // namespace hae
