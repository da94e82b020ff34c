#pragma once
// Rotary position embedding tables ("default" RoPE, NeoX halves layout as in HF checkpoints).
// Positions are the tokens' original positions, so eviction never shifts a kept key.
#include <ATen/core/Tensor.h>

namespace hae {

class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  RotaryEmbedding(int head_dim, double theta);
  // cos and sin [n, head_dim] for int64 positions [n], computed in fp32, cast to dtype.
  std::pair<at::Tensor, at::Tensor> cosSin(const at::Tensor& positions, at::ScalarType dtype) const;

 private:
  at::Tensor inv_freq_;
};

// x: [heads, n, head_dim]; cos/sin: [n, head_dim].
at::Tensor applyRotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace hae
