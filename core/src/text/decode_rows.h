#pragma once
// The element-wise steps of a decoder layer for one new token, each as one call on CPU, fp32 or
// bf16 (decoding). Written by hand because at this size the work is dispatch: LibTorch's RMSNorm
// is 8 operators, the rotary embedding 7 per tensor, the softmax 6, and each costs 3-8 us, which
// on a SmolLM2-135M layer is more than reading its weights. Each step rounds where LibTorch's
// expression does (bf16 after every operator), so results match it within one rounding.
#include <ATen/core/Tensor.h>

namespace hae {

// Whether these steps take x: CPU, fp32 or bf16, one contiguous row [1, d].
bool decodeRowSupported(const at::Tensor& x);

// weight * (x * rsqrt(mean(x^2) + eps)) with the normalisation in fp32 and the product in x's
// dtype, as transformers' LlamaRMSNorm. weight: [d] in x's dtype.
at::Tensor rmsNormRow(const at::Tensor& x, const at::Tensor& weight, double eps);

// x * cos + rotate_half(x) * sin, in place, for `heads` vectors of cos.size(-1) values starting at
// element `offset` of the row `qkv` [1, W]. cos and sin: [1, d] in qkv's dtype.
void rotateHeadsInPlace(at::Tensor& qkv, std::int64_t offset, std::int64_t heads,
                        const at::Tensor& cos, const at::Tensor& sin);

// Softmax over the last axis of fp32 scores [rows, m], in place (a masked -inf gives 0).
void softmaxRowsInPlace(at::Tensor& scores);

// silu(gate) * up from the stacked row [1, 2w] (gate first), as [1, w] in its dtype.
at::Tensor siluGateTimesUp(const at::Tensor& gate_up);

}  // namespace hae
