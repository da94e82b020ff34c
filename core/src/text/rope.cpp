#include "rope.h"

#include <torch/torch.h>

namespace hae {

RotaryEmbedding::RotaryEmbedding(int head_dim, double theta) {
  // Same expression as transformers: 1 / theta^(arange(0, d, 2) / d), in fp32.
  auto exponent = torch::arange(0, head_dim, 2, torch::kInt64).to(torch::kFloat32) / head_dim;
  inv_freq_ = 1.0 / torch::pow(torch::tensor(theta, torch::kFloat32), exponent);
}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::cosSin(const at::Tensor& positions,
                                                           at::ScalarType dtype) const {
  auto inv = inv_freq_.to(positions.device());
  auto freqs = torch::outer(positions.to(torch::kFloat32), inv);
  auto emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor applyRotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const auto half = x.size(-1) / 2;
  auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace hae
