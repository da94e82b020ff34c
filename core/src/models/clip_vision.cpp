#include "clip_vision.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "activations.h"

namespace hae {

namespace nn = torch::nn;

ClipAttentionImpl::ClipAttentionImpl(const VisionConfig& c) : heads(c.num_attention_heads) {
  const int d = c.hidden_size;
  q_proj = register_module("q_proj", nn::Linear(d, d));
  k_proj = register_module("k_proj", nn::Linear(d, d));
  v_proj = register_module("v_proj", nn::Linear(d, d));
  out_proj = register_module("out_proj", nn::Linear(d, d));
}

namespace {

// Scores of at most this many bytes at once. SigLIP over 17 tiles holds 0.9 GB of fp32 scores
// per layer, and softmax's copy as much again; freed each layer, that much went back to the
// kernel and was faulted in again (67 s of a 77 s prefill in system time). The projections
// around the attention stay batched over every image.
constexpr std::int64_t kScoreBytes = std::int64_t(128) << 20;

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  auto probs =
      torch::softmax(torch::matmul(q, k.transpose(-1, -2)), -1, torch::kFloat32).to(q.dtype());
  return torch::matmul(probs, v);
}

}  // namespace

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x) {
  const auto b = x.size(0), n = x.size(1), d = x.size(2), hd = d / heads;
  auto split = [&](const torch::Tensor& t) { return t.view({b, n, heads, hd}).transpose(1, 2); };
  auto q = split(q_proj(x)) * (1.0 / std::sqrt(static_cast<double>(hd)));
  auto k = split(k_proj(x));
  auto v = split(v_proj(x));
  const std::int64_t per_slice = std::max<std::int64_t>(1, kScoreBytes / (heads * n * n * 4));
  torch::Tensor mixed;
  if (b <= per_slice) {
    mixed = attend(q, k, v);
  } else {
    std::vector<torch::Tensor> slices;
    for (std::int64_t s = 0; s < b; s += per_slice) {
      const auto len = std::min(per_slice, b - s);
      slices.push_back(attend(q.narrow(0, s, len), k.narrow(0, s, len), v.narrow(0, s, len)));
    }
    mixed = torch::cat(slices, 0);
  }
  return out_proj(mixed.transpose(1, 2).reshape({b, n, d}));
}

ClipMlpImpl::ClipMlpImpl(const VisionConfig& c) : act(c.hidden_act) {
  checkActivation(act, "vision_config.hidden_act");
  fc1 = register_module("fc1", nn::Linear(c.hidden_size, c.intermediate_size));
  fc2 = register_module("fc2", nn::Linear(c.intermediate_size, c.hidden_size));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  return fc2(activate(fc1(x), act));
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const VisionConfig& c) {
  auto ln = nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps);
  self_attn = register_module("self_attn", ClipAttention(c));
  layer_norm1 = register_module("layer_norm1", nn::LayerNorm(ln));
  mlp = register_module("mlp", ClipMlp(c));
  layer_norm2 = register_module("layer_norm2", nn::LayerNorm(ln));
}

torch::Tensor ClipEncoderLayerImpl::forward(const torch::Tensor& x) {
  auto h = x + self_attn(layer_norm1(x));
  return h + mlp(layer_norm2(h));
}

ClipEncoderImpl::ClipEncoderImpl(const VisionConfig& c) {
  layers = register_module("layers", nn::ModuleList());
  for (int i = 0; i < c.num_hidden_layers; ++i) layers->push_back(ClipEncoderLayer(c));
}

ClipEmbeddingsImpl::ClipEmbeddingsImpl(const VisionConfig& c) {
  const int patches = (c.image_size / c.patch_size) * (c.image_size / c.patch_size);
  class_embedding = register_parameter("class_embedding", torch::randn({c.hidden_size}));
  patch_embedding = register_module(
      "patch_embedding", nn::Conv2d(nn::Conv2dOptions(c.num_channels, c.hidden_size, c.patch_size)
                                        .stride(c.patch_size)
                                        .bias(false)));
  position_embedding =
      register_module("position_embedding", nn::Embedding(patches + 1, c.hidden_size));
}

torch::Tensor ClipEmbeddingsImpl::forward(const torch::Tensor& pixel_values) {
  auto x = patch_embedding(pixel_values.to(patch_embedding->weight.dtype()));
  x = x.flatten(2).transpose(1, 2);  // [B, P, D]
  auto cls = class_embedding.view({1, 1, -1}).expand({x.size(0), 1, x.size(2)});
  x = torch::cat({cls, x}, 1);
  return x + position_embedding->weight.unsqueeze(0);
}

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const VisionConfig& c) {
  auto ln = nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps);
  embeddings = register_module("embeddings", ClipEmbeddings(c));
  pre_layrnorm = register_module("pre_layrnorm", nn::LayerNorm(ln));
  encoder = register_module("encoder", ClipEncoder(c));
  post_layernorm = register_module("post_layernorm", nn::LayerNorm(ln));
}

std::vector<torch::Tensor> ClipVisionTransformerImpl::hiddenStates(
    const torch::Tensor& pixel_values, int upto) {
  std::vector<torch::Tensor> states;
  auto h = pre_layrnorm(embeddings(pixel_values));
  states.push_back(h);
  for (int i = 0; i < upto; ++i) {
    h = encoder->layers->at<ClipEncoderLayerImpl>(i).forward(h);
    states.push_back(h);
  }
  return states;
}

ClipVisionModelImpl::ClipVisionModelImpl(const VisionConfig& c) {
  vision_model = register_module("vision_model", ClipVisionTransformer(c));
}

}  // namespace hae
