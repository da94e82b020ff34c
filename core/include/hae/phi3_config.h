#pragma once
// Phi-3 ("phi3": Phi3ForCausalLM, text only) and Phi-3.5-vision ("phi3_v": the hub remote code)
// config.json. The decoder settings sit at the top level of the file, with the defaults of
// transformers 4.49's Phi3Config (the hub's Phi3VConfig has the same ones); phi3_v adds its image
// embedding under embd_layer and img_processor.
#include <string>

#include "hae/model_config.h"

namespace hae {

// Phi3Config's defaults (Phi-3-mini shapes, LongRoPE bounds 4096/4096, eos = pad = 32000).
TextConfig phi3TextDefaults();

// The CLIP the hub code hard-codes (CLIP_VIT_LARGE_PATCH14_336_CONFIG), whatever config.json says.
VisionConfig phi3vDefaultVision();

struct Phi3Config {
  TextConfig text;
  // embd_layer.embedding_cls == "image": the CLIP + HD transform image path (phi3_v only).
  bool has_vision = false;
  // img_processor. `img_processor.vision_config` is an HAE extension: the hub code ignores it,
  // HAE reads it so a checkpoint with a smaller tower (the tiny test fixture) can say so.
  VisionConfig vision = phi3vDefaultVision();
  int image_dim_out = 1024;  // CLIP hidden size; the HD merge makes it 4x wide
  int num_img_tokens = 144;  // merged tokens per 336 px crop (12 x 12)
  int layer_idx = -2;        // CLIP hidden state the features come from

  // LongRoPE bounds: the factor switch happens above original_max_position_embeddings.
  int originalMaxPositions() const {
    return text.original_max_position_embeddings.value_or(text.max_position_embeddings);
  }
};

// <dir>/config.json of a phi3 or phi3_v model; errors name the file and the dotted key.
Phi3Config loadPhi3Config(const std::string& dir);
Phi3Config parsePhi3Config(const std::string& json, const std::string& file);

}  // namespace hae
