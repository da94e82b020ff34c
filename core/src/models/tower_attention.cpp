#include "tower_attention.h"

#include <torch/torch.h>

#include <cmath>

namespace hae {

torch::Tensor encoderLayerAttention(ClipEncoderLayerImpl& layer, const torch::Tensor& x,
                                    int query) {
  torch::NoGradGuard no_grad;
  auto& attn = *layer.self_attn;
  const auto b = x.size(0), n = x.size(1), d = x.size(2), hd = d / attn.heads;
  auto normed = layer.layer_norm1(x);
  auto split = [&](const torch::Tensor& t) {
    return t.view({b, n, attn.heads, hd}).transpose(1, 2);
  };
  auto k = split(attn.k_proj(normed)).to(torch::kFloat32);  // [B, H, N, hd]
  auto q = split(attn.q_proj(normed)).to(torch::kFloat32);
  if (query >= 0) q = q.narrow(2, query, 1);
  auto probs = torch::softmax(torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(hd)), -1);
  return probs.mean(1).mean(1);  // heads, then the query rows: [B, N]
}

}  // namespace hae
