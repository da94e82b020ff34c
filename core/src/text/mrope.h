#pragma once
// M-RoPE (Qwen2-VL, Qwen2.5-VL): every token has a (t, h, w) position, the rotary channels are cut
// into mrope_section chunks and each chunk rotates by one axis. Text tokens have t = h = w, so
// for them it is plain 1-D RoPE; an image's tokens share t and spread over h and w.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

namespace hae {

using MropePosition = std::array<int, 3>;  // (t, h, w)

struct MropeLayout {
  std::vector<MropePosition> positions;  // one per prompt token
  int rope_delta = 0;  // (largest position + 1) - prompt length; decoding uses index + rope_delta
};

// get_rope_index of transformers 4.49 for images: text tokens (vision markers included) count on
// from the next free position; image k (grid (t, h, w) in patches) takes the t*(h/m)*(w/m)
// tokens from the next `image_token_id` on, merged token (ti, hi, wi) at base + (ti, hi, wi)
// (ti is 0 for Qwen2.5-VL images: second_per_grid_t = 0), and the next free position becomes
// base + max(t, h/m, w/m). Images are counted as vision_start directly followed by an image
// token (quirk Q19); hae::Error when there are more of them than grids, or the tokens run out.
MropeLayout mropeLayout(const std::vector<std::int64_t>& ids,
                        const std::vector<std::array<std::int64_t, 3>>& grids, int merge,
                        int image_token_id, int vision_start_token_id, bool temporal_zero);

class MropeRotary {
 public:
  MropeRotary() = default;
  MropeRotary(int head_dim, double theta, std::array<int, 3> section);
  // cos, sin [n, head_dim] for int64 positions [3, n] (t, h, w rows) or [n] (t = h = w), in fp32
  // as transformers computes them, then cast to dtype.
  std::pair<at::Tensor, at::Tensor> cosSin(const at::Tensor& positions, at::ScalarType dtype) const;

 private:
  at::Tensor inv_freq_;  // [head_dim]: the usual table, repeated for the two halves
  at::Tensor axis_;      // [head_dim] int64: which of t, h, w rotates each channel
};

}  // namespace hae
