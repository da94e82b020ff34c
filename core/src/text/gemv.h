#pragma once
// One-row products for decoding: y = W x (+ b) with W [out, in] row-major, fp32 or bf16, on CPU.
//
// Written by hand because no library on this stack reads the weights at the memory bandwidth,
// which is what bounds decoding. Measured on the project machine (2 threads, 60 GB/s read):
// OpenBLAS sgemv (torch::mv) reaches 40-53 GB/s on the decoder's shapes, GEMM through
// nn::Linear 13-24 GB/s, and LibTorch 1.13's bf16 paths (oneDNN linear, mv) 8-27 GB/s. These
// kernels stream four rows at a time with AVX-512 on LibTorch's own thread pool.
//
// Each output is one row's dot product, summed in fp32 in the same order whatever the number of
// threads or rows, so a product is reproducible, and fusing projections (stacking their rows)
// does not change any result.
#include <ATen/core/Tensor.h>

namespace hae {

// Whether rowProduct takes this case (CPU, fp32 or bf16, x [1, in], AVX-512 present).
bool rowProductSupported(const at::Tensor& weight, const at::Tensor& x);

// How many threads join one of these kernels' parallel loops now: at::get_num_threads() when the
// kernels were compiled with OpenMP, 1 when not (at::parallel_for then runs serially).
int rowProductThreads();

// [1, out] in x's dtype. `bias` may be undefined. Call only when rowProductSupported.
at::Tensor rowProduct(const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& x);

// Attention of one query per head over a cache (decoding): q [heads, d], keys and values
// [kv_heads, m, d] (rows may be strided, as the cache's views are), heads a multiple of kv_heads.
// LibTorch's bmm costs 100-200 us per call at these shapes in bf16, more than the arithmetic.
bool oneQueryAttentionSupported(const at::Tensor& q, const at::Tensor& keys,
                                const at::Tensor& values);
// scale * q_h . k_j as fp32 [heads, m].
at::Tensor oneQueryScores(const at::Tensor& q, const at::Tensor& keys, double scale);
// sum_j probs[h, j] v_j (fp32 sums) as [heads, d] in the values' dtype; probs fp32 [heads, m].
at::Tensor mixValues(const at::Tensor& probs, const at::Tensor& values);

}  // namespace hae
