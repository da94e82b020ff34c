#pragma once
// SigLIP vision tower as Idefics3 (SmolVLM) uses it: a patch conv with bias, learned position
// embeddings, no class token, CLIP-shaped encoder layers (gelu tanh) and a post-LayerNorm whose
// output is the feature map. Parameter names are the Hugging Face ones below `vision_model.`.
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/normalization.h>

#include "clip_vision.h"
#include "hae/model_config.h"

namespace hae {

struct SiglipEmbeddingsImpl : torch::nn::Module {
  explicit SiglipEmbeddingsImpl(const VisionConfig& c);
  torch::Tensor forward(const torch::Tensor& pixel_values);  // [B,3,S,S] -> [B, P, D]
  torch::nn::Conv2d patch_embedding{nullptr};
  torch::nn::Embedding position_embedding{nullptr};
  int image_size;
};
TORCH_MODULE(SiglipEmbeddings);

struct SiglipVisionTransformerImpl : torch::nn::Module {
  explicit SiglipVisionTransformerImpl(const VisionConfig& c);
  // last_hidden_state after post_layernorm, [B, P, D]. Only whole tiles (image_size square), for
  // which Idefics3's bucketized position ids are simply 0..P-1 and no patch mask applies.
  torch::Tensor forward(const torch::Tensor& pixel_values);
  SiglipEmbeddings embeddings{nullptr};
  ClipEncoder encoder{nullptr};  // same layer structure and names as CLIP's
  torch::nn::LayerNorm post_layernorm{nullptr};
};
TORCH_MODULE(SiglipVisionTransformer);

}  // namespace hae
