#include "decode_rows.h"

#include <ATen/ops/empty.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace hae {

namespace {

// The value LibTorch stores after an operator in dtype T: fp32 as it is, bf16 rounded to nearest
// even (c10::BFloat16's conversion, the one its kernels use).
template <typename T>
float stored(float v) {
  return static_cast<float>(T(v));
}

template <typename T>
void rmsNorm(const T* x, const T* weight, float eps, std::int64_t d, T* out) {
  double squares =
      0;  // LibTorch sums in fp32 in its own order; a double sum is within its rounding
  for (std::int64_t i = 0; i < d; ++i)
    squares += static_cast<double>(x[i]) * static_cast<float>(x[i]);
  const float mean = static_cast<float>(squares / static_cast<double>(d));
  const float inv = 1.0f / std::sqrt(mean + eps);
  for (std::int64_t i = 0; i < d; ++i)
    out[i] = T(static_cast<float>(weight[i]) * stored<T>(static_cast<float>(x[i]) * inv));
}

template <typename T>
void rotate(T* v, const T* cos, const T* sin, std::int64_t d) {
  const std::int64_t half = d / 2;
  for (std::int64_t i = 0; i < half; ++i) {
    const float a = static_cast<float>(v[i]), b = static_cast<float>(v[i + half]);
    v[i] =
        T(stored<T>(a * static_cast<float>(cos[i])) + stored<T>(-b * static_cast<float>(sin[i])));
    v[i + half] = T(stored<T>(b * static_cast<float>(cos[i + half])) +
                    stored<T>(a * static_cast<float>(sin[i + half])));
  }
}

template <typename T>
void siluTimes(const T* gate, const T* up, std::int64_t w, T* out) {
  for (std::int64_t i = 0; i < w; ++i) {
    // ATen's silu is x / (1 + exp(-x)) on Vectorized<T>: in bf16 every operator rounds.
    const float g = static_cast<float>(gate[i]);
    const float silu = stored<T>(g / stored<T>(1.0f + stored<T>(std::exp(-g))));
    out[i] = T(silu * static_cast<float>(up[i]));
  }
}

}  // namespace

bool decodeRowSupported(const at::Tensor& x) {
  return x.device().is_cpu() && x.dim() == 2 && x.size(0) == 1 && x.is_contiguous() &&
         (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16);
}

at::Tensor rmsNormRow(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const auto w = weight.contiguous();
  auto out = at::empty(x.sizes(), x.options());
  const std::int64_t d = x.size(1);
  if (x.scalar_type() == at::kFloat)
    rmsNorm(x.data_ptr<float>(), w.data_ptr<float>(), static_cast<float>(eps), d,
            out.data_ptr<float>());
  else
    rmsNorm(x.data_ptr<c10::BFloat16>(), w.data_ptr<c10::BFloat16>(), static_cast<float>(eps), d,
            out.data_ptr<c10::BFloat16>());
  return out;
}

void rotateHeadsInPlace(at::Tensor& qkv, std::int64_t offset, std::int64_t heads,
                        const at::Tensor& cos, const at::Tensor& sin) {
  const auto c = cos.contiguous(), s = sin.contiguous();
  const std::int64_t d = c.size(-1);
  for (std::int64_t h = 0; h < heads; ++h) {
    if (qkv.scalar_type() == at::kFloat)
      rotate(qkv.data_ptr<float>() + offset + h * d, c.data_ptr<float>(), s.data_ptr<float>(), d);
    else
      rotate(qkv.data_ptr<c10::BFloat16>() + offset + h * d, c.data_ptr<c10::BFloat16>(),
             s.data_ptr<c10::BFloat16>(), d);
  }
}

void softmaxRowsInPlace(at::Tensor& scores) {
  const std::int64_t m = scores.size(-1), rows = scores.numel() / std::max<std::int64_t>(1, m);
  float* p = scores.data_ptr<float>();
  for (std::int64_t r = 0; r < rows; ++r, p += m) {
    const float top = *std::max_element(p, p + m);
    float sum = 0;
    for (std::int64_t j = 0; j < m; ++j) sum += (p[j] = std::exp(p[j] - top));
    for (std::int64_t j = 0; j < m; ++j) p[j] /= sum;
  }
}

at::Tensor siluGateTimesUp(const at::Tensor& gate_up) {
  const std::int64_t w = gate_up.size(1) / 2;
  auto out = at::empty({1, w}, gate_up.options());
  if (gate_up.scalar_type() == at::kFloat) {
    const float* g = gate_up.data_ptr<float>();
    siluTimes(g, g + w, w, out.data_ptr<float>());
  } else {
    const auto* g = gate_up.data_ptr<c10::BFloat16>();
    siluTimes(g, g + w, w, out.data_ptr<c10::BFloat16>());
  }
  return out;
}

}  // namespace hae
