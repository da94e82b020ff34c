#include "siglip_vision.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "hae/error.h"

namespace hae {

namespace nn = torch::nn;

SiglipEmbeddingsImpl::SiglipEmbeddingsImpl(const VisionConfig& c) : image_size(c.image_size) {
  patch_embedding = register_module(
      "patch_embedding", nn::Conv2d(nn::Conv2dOptions(c.num_channels, c.hidden_size, c.patch_size)
                                        .stride(c.patch_size)
                                        .bias(true)));
  position_embedding =
      register_module("position_embedding", nn::Embedding(c.numPatches(), c.hidden_size));
}

torch::Tensor SiglipEmbeddingsImpl::forward(const torch::Tensor& pixel_values) {
  if (pixel_values.dim() != 4 || pixel_values.size(2) != image_size ||
      pixel_values.size(3) != image_size)
    throw Error(fmt::format("vision tower: expected tiles [n, 3, {}, {}], got [{}]", image_size,
                            image_size, fmt::join(pixel_values.sizes(), ", ")));
  auto x = patch_embedding(pixel_values.to(patch_embedding->weight.dtype()));
  x = x.flatten(2).transpose(1, 2);  // [B, P, D], patches row-major
  return x + position_embedding->weight.unsqueeze(0);
}

SiglipVisionTransformerImpl::SiglipVisionTransformerImpl(const VisionConfig& c) {
  embeddings = register_module("embeddings", SiglipEmbeddings(c));
  encoder = register_module("encoder", ClipEncoder(c));
  post_layernorm = register_module(
      "post_layernorm", nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
}

torch::Tensor SiglipVisionTransformerImpl::forward(const torch::Tensor& pixel_values) {
  auto h = embeddings(pixel_values);
  for (std::size_t i = 0; i < encoder->layers->size(); ++i)
    h = encoder->layers->at<ClipEncoderLayerImpl>(i).forward(h);
  return post_layernorm(h);
}

}  // namespace hae
