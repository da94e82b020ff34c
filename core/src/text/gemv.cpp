#include "gemv.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <c10/util/BFloat16.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace hae {

namespace {

#define HAE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define HAE_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))

// Rows [r0, r1) of W (row stride `ld`) times x (fp32, length k) into y (fp32). R rows share each
// load of x; every row keeps its own accumulator, so its sum does not depend on R.
// `ahead` is the next block's first row: each step asks for the same columns of its rows, so the
// next block is in cache when this one ends. The hardware prefetcher alone kept only 50-60% of
// the read bandwidth (four short streams that restart at every block, each crossing 4 KB pages).
template <int R>
HAE_AVX512 void rowBlock(const float* w, std::int64_t ld, const float* x, std::int64_t k, float* y,
                         const float* ahead) {
  __m512 acc[R];
  for (int j = 0; j < R; ++j) acc[j] = _mm512_setzero_ps();
  std::int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m512 xv = _mm512_loadu_ps(x + i);
    for (int j = 0; j < R; ++j)
      _mm_prefetch(reinterpret_cast<const char*>(ahead + j * ld + i), _MM_HINT_T0);
    for (int j = 0; j < R; ++j)
      acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(w + j * ld + i), xv, acc[j]);
  }
  if (i < k) {
    const __mmask16 m = static_cast<__mmask16>((1u << (k - i)) - 1);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
    for (int j = 0; j < R; ++j)
      acc[j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + j * ld + i), xv, acc[j]);
  }
  for (int j = 0; j < R; ++j) y[j] = _mm512_reduce_add_ps(acc[j]);
}

// bf16 weights, 32 per load: a bf16 is the top half of an fp32, so the even elements of a load
// are its 32-bit lanes shifted left by 16 and the odd ones the lanes with the low half cleared.
// `x2` holds x deinterleaved to match: per block of 32, the 16 even elements, then the 16 odd.
template <int R>
HAE_AVX512 void rowBlock(const c10::BFloat16* w, std::int64_t ld, const float* x2, std::int64_t k,
                         float* y, const c10::BFloat16* ahead) {
  __m512 acc[R];
  for (int j = 0; j < R; ++j) acc[j] = _mm512_setzero_ps();
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  const std::int64_t full = k / 32 * 32;
  for (std::int64_t i = 0; i < full; i += 32) {
    const __m512 xe = _mm512_loadu_ps(x2 + i), xo = _mm512_loadu_ps(x2 + i + 16);
    for (int j = 0; j < R; ++j)
      _mm_prefetch(reinterpret_cast<const char*>(ahead + j * ld + i), _MM_HINT_T0);
    for (int j = 0; j < R; ++j) {
      const __m512i raw = _mm512_loadu_si512(w + j * ld + i);
      acc[j] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(raw, 16)), xe, acc[j]);
      acc[j] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(raw, high)), xo, acc[j]);
    }
  }
  for (int j = 0; j < R; ++j) {
    float sum = _mm512_reduce_add_ps(acc[j]);
    for (std::int64_t i = full; i < k; ++i) sum += static_cast<float>(w[j * ld + i]) * x2[i];
    y[j] = sum;
  }
}

// bf16 weights and a bf16 x with AVX512-BF16's pair dot product: one instruction per 32 weights
// where the shifts and two FMAs above take four, which kept bf16 decoding at about half of the
// read bandwidth. The products of two bf16 are exact in fp32; the pairs are summed first, so the
// rounding differs from the kernel above, and is again the same at any thread count.
template <int R>
HAE_AVX512_BF16 void rowBlock(const c10::BFloat16* w, std::int64_t ld, const c10::BFloat16* x,
                              std::int64_t k, float* y, const c10::BFloat16* ahead) {
  __m512 acc[R];
  for (int j = 0; j < R; ++j) acc[j] = _mm512_setzero_ps();
  std::int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    const auto xv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(x + i));
    for (int j = 0; j < R; ++j)
      _mm_prefetch(reinterpret_cast<const char*>(ahead + j * ld + i), _MM_HINT_T0);
    for (int j = 0; j < R; ++j)
      acc[j] = _mm512_dpbf16_ps(acc[j],
                                reinterpret_cast<__m512bh>(_mm512_loadu_si512(w + j * ld + i)), xv);
  }
  if (i < k) {
    const __mmask32 m = (__mmask32(1) << (k - i)) - 1;
    const auto xv = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(m, x + i));
    for (int j = 0; j < R; ++j)
      acc[j] = _mm512_dpbf16_ps(
          acc[j], reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(m, w + j * ld + i)), xv);
  }
  for (int j = 0; j < R; ++j) y[j] = _mm512_reduce_add_ps(acc[j]);
}

// Rows [r0, r1) of W; `rows_total` rows exist, so the look-ahead stays inside the matrix.
template <typename W, typename X>
HAE_AVX512 void rows(const W* w, std::int64_t ld, const X* x, std::int64_t k, float* y,
                     std::int64_t r0, std::int64_t r1, std::int64_t rows_total) {
  std::int64_t r = r0;
  for (; r + 4 <= r1; r += 4)
    rowBlock<4>(w + r * ld, ld, x, k, y + r, w + std::min(r + 4, rows_total - 4) * ld);
  for (; r < r1; ++r) rowBlock<1>(w + r * ld, ld, x, k, y + r, w + r * ld);
}

// Each thread streams its own contiguous part of W, in chunks of 64-256 KB taken from that part's
// counter, and then takes what is left of the other parts. Contiguous parts keep the look-ahead
// useful (measured 44-45 GB/s against 30-33 with chunks handed out in turn, on a 60 GB/s
// machine); the counters let the thread that runs take the chunks of one whose core another
// process holds, instead of waiting for it at the end.
template <typename W, typename X>
void product(const W* w, std::int64_t ld, const X* x, std::int64_t out, std::int64_t k, float* y) {
  const std::int64_t row_bytes = k * std::int64_t(sizeof(W));
  const std::int64_t most = at::get_num_threads();
  const std::int64_t chunk_bytes =
      std::clamp<std::int64_t>(out * row_bytes / (8 * most), 64 << 10, 256 << 10);
  const std::int64_t rows_per_chunk = std::max<std::int64_t>(4, chunk_bytes / row_bytes / 4 * 4);
  const std::int64_t chunks = (out + rows_per_chunk - 1) / rows_per_chunk;
  const std::int64_t threads = std::min<std::int64_t>(most, chunks / 4);
  if (threads <= 1) return rows(w, ld, x, k, y, 0, out, out);  // small: not worth waking a thread
  const std::int64_t per_part = (chunks + threads - 1) / threads;
  std::vector<std::atomic<std::int64_t>> taken(static_cast<std::size_t>(threads));
  at::parallel_for(0, threads, 1, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t)
      for (std::int64_t q = 0; q < threads; ++q) {
        const std::int64_t part = (t + q) % threads, first = part * per_part;
        const std::int64_t last = std::min(chunks, first + per_part);
        for (std::int64_t c = first + taken[part]++; c < last; c = first + taken[part]++)
          rows(w, ld, x, k, y, c * rows_per_chunk, std::min(out, (c + 1) * rows_per_chunk), out);
      }
  });
}

bool cpuHasAvx512() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("fma");
  }();
  return has;
}

bool cpuHasAvx512Bf16() {
  static const bool has = [] {
    __builtin_cpu_init();
    return cpuHasAvx512() && __builtin_cpu_supports("avx512bf16");
  }();
  return has;
}

// x as rowBlock reads it: fp32 as it is; for bf16 weights deinterleaved per block of 32.
template <typename X>
void prepareVector(const X* x, std::int64_t k, bool for_bf16, float* out) {
  if (!for_bf16) {
    std::copy_n(x, k, out);
    return;
  }
  const std::int64_t full = k / 32 * 32;
  for (std::int64_t i = 0; i < full; i += 32)
    for (int j = 0; j < 16; ++j) {
      out[i + j] = static_cast<float>(x[i + 2 * j]);
      out[i + 16 + j] = static_cast<float>(x[i + 2 * j + 1]);
    }
  std::copy(x + full, x + k, out + full);
}

// acc[0:d] += p * row[0:d] for every row of V, in row order.
HAE_AVX512 void mixRows(const float* v, std::int64_t ld, const float* p, std::int64_t m,
                        std::int64_t d, float* out) {
  for (std::int64_t c = 0; c < d; c += 16) {
    const __mmask16 mask = static_cast<__mmask16>(d - c >= 16 ? 0xFFFF : (1u << (d - c)) - 1);
    __m512 acc = _mm512_setzero_ps();
    for (std::int64_t j = 0; j < m; ++j)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_maskz_loadu_ps(mask, v + j * ld + c), acc);
    _mm512_mask_storeu_ps(out + c, mask, acc);
  }
}

HAE_AVX512 void mixRows(const c10::BFloat16* v, std::int64_t ld, const float* p, std::int64_t m,
                        std::int64_t d, float* out) {
  for (std::int64_t c = 0; c < d; c += 16) {
    const __mmask16 mask = static_cast<__mmask16>(d - c >= 16 ? 0xFFFF : (1u << (d - c)) - 1);
    __m512 acc = _mm512_setzero_ps();
    for (std::int64_t j = 0; j < m; ++j) {
      const __m256i raw = _mm256_maskz_loadu_epi16(mask, v + j * ld + c);
      const __m512 row = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
      acc = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), row, acc);
    }
    _mm512_mask_storeu_ps(out + c, mask, acc);
  }
}

std::vector<float> asFloats(const at::Tensor& t) {
  const auto f = t.to(at::kFloat).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

template <typename T>
void scoresFor(const at::Tensor& q, const at::Tensor& keys, double scale, float* scores) {
  const std::int64_t heads = q.size(0), d = q.size(1), kv_heads = keys.size(0), m = keys.size(1);
  const std::int64_t g = heads / kv_heads, ld = keys.stride(1), head_stride = keys.stride(0);
  auto qf = asFloats(q);
  std::vector<float> qp(qf.size());
  for (std::int64_t h = 0; h < heads; ++h)
    prepareVector(qf.data() + h * d, d, std::is_same_v<T, c10::BFloat16>, qp.data() + h * d);
  const T* k = keys.data_ptr<T>();
  const std::int64_t grain =
      std::max<std::int64_t>(1, (64 * 1024) / std::max<std::int64_t>(1, m * d * sizeof(T)));
  at::parallel_for(0, kv_heads, grain, [&](std::int64_t h0, std::int64_t h1) {
    for (std::int64_t kh = h0; kh < h1; ++kh)
      for (std::int64_t j = 0; j < g; ++j) {
        const std::int64_t h = kh * g + j;
        rows(k + kh * head_stride, ld, qp.data() + h * d, d, scores + h * m, 0, m, m);
        for (std::int64_t i = 0; i < m; ++i) scores[h * m + i] *= static_cast<float>(scale);
      }
  });
}

template <typename T>
void mixFor(const at::Tensor& probs, const at::Tensor& values, float* out) {
  const std::int64_t heads = probs.size(0), m = probs.size(1), kv_heads = values.size(0);
  const std::int64_t d = values.size(2), g = heads / kv_heads, ld = values.stride(1);
  const auto p = probs.contiguous();
  const float* pp = p.data_ptr<float>();
  const T* v = values.data_ptr<T>();
  const std::int64_t grain =
      std::max<std::int64_t>(1, (64 * 1024) / std::max<std::int64_t>(1, m * d * sizeof(T)));
  at::parallel_for(0, kv_heads, grain, [&](std::int64_t h0, std::int64_t h1) {
    for (std::int64_t kh = h0; kh < h1; ++kh)
      for (std::int64_t j = 0; j < g; ++j) {
        const std::int64_t h = kh * g + j;
        mixRows(v + kh * values.stride(0), ld, pp + h * m, m, d, out + h * d);
      }
  });
}

}  // namespace

bool oneQueryAttentionSupported(const at::Tensor& q, const at::Tensor& keys,
                                const at::Tensor& values) {
  const auto dtype = keys.scalar_type();
  return cpuHasAvx512() && q.device().is_cpu() && keys.device().is_cpu() && q.dim() == 2 &&
         keys.dim() == 3 && values.dim() == 3 && keys.stride(2) == 1 && values.stride(2) == 1 &&
         values.scalar_type() == dtype && (dtype == at::kFloat || dtype == at::kBFloat16) &&
         keys.size(0) > 0 && q.size(0) % keys.size(0) == 0 && q.size(1) == keys.size(2) &&
         keys.sizes() == values.sizes();
}

at::Tensor oneQueryScores(const at::Tensor& q, const at::Tensor& keys, double scale) {
  auto scores = at::empty({q.size(0), keys.size(1)}, q.options().dtype(at::kFloat));
  if (keys.scalar_type() == at::kFloat)
    scoresFor<float>(q, keys, scale, scores.data_ptr<float>());
  else
    scoresFor<c10::BFloat16>(q, keys, scale, scores.data_ptr<float>());
  return scores;
}

at::Tensor mixValues(const at::Tensor& probs, const at::Tensor& values) {
  auto out = at::empty({probs.size(0), values.size(2)}, probs.options().dtype(at::kFloat));
  if (values.scalar_type() == at::kFloat)
    mixFor<float>(probs, values, out.data_ptr<float>());
  else
    mixFor<c10::BFloat16>(probs, values, out.data_ptr<float>());
  return out.to(values.scalar_type());
}

int rowProductThreads() {
  std::atomic<int> joined{0};
  at::parallel_for(0, at::get_num_threads(), 1, [&](std::int64_t, std::int64_t) { ++joined; });
  return joined.load();
}

bool rowProductSupported(const at::Tensor& weight, const at::Tensor& x) {
  const auto dtype = weight.scalar_type();
  return cpuHasAvx512() && weight.device().is_cpu() && x.device().is_cpu() && weight.dim() == 2 &&
         x.dim() == 2 && x.size(0) == 1 && x.size(1) == weight.size(1) && weight.stride(1) == 1 &&
         x.scalar_type() == dtype && (dtype == at::kFloat || dtype == at::kBFloat16) &&
         weight.size(1) > 0;
}

at::Tensor rowProduct(const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& x) {
  const std::int64_t out = weight.size(0), k = weight.size(1), ld = weight.stride(0);
  const auto xc = x.contiguous();
  auto y = at::empty({1, out}, x.options());
  auto addBias = [&](float* yf) {
    if (!bias.defined()) return;
    const auto bf = bias.to(at::kFloat).contiguous();
    const float* b = bf.data_ptr<float>();
    for (std::int64_t o = 0; o < out; ++o) yf[o] += b[o];
  };
  if (weight.scalar_type() == at::kFloat) {  // x and y used in place: no copies for one row
    product(weight.data_ptr<float>(), ld, xc.data_ptr<float>(), out, k, y.data_ptr<float>());
    addBias(y.data_ptr<float>());
    return y;
  }
  std::vector<float> yf(static_cast<std::size_t>(out));
  if (cpuHasAvx512Bf16()) {
    product(weight.data_ptr<c10::BFloat16>(), ld, xc.data_ptr<c10::BFloat16>(), out, k, yf.data());
  } else {
    std::vector<float> xf(static_cast<std::size_t>(k));
    prepareVector(xc.data_ptr<c10::BFloat16>(), k, true, xf.data());
    product(weight.data_ptr<c10::BFloat16>(), ld, xf.data(), out, k, yf.data());
  }
  addBias(yf.data());
  auto* yb = y.data_ptr<c10::BFloat16>();  // round to nearest even, as LibTorch's casts do
  for (std::int64_t o = 0; o < out; ++o) yb[o] = c10::BFloat16(yf[o]);
  return y;
}

}  // namespace hae
