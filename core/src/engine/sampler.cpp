#include "sampler.h"

#include <torch/torch.h>

namespace hae {

std::int64_t Sampler::pick(const at::Tensor& logits) {
  if (options_.temperature <= 0) return logits.argmax().item<std::int64_t>();
  auto probs = torch::softmax(logits.to(torch::kFloat64) / options_.temperature, -1);
  auto [sorted, order] = probs.sort(-1, /*descending=*/true);
  auto cumulative = sorted.cumsum(-1);
  const double* p = sorted.data_ptr<double>();
  const double* c = cumulative.data_ptr<double>();
  // Keep the smallest prefix whose mass reaches top_p (always at least one token).
  std::int64_t keep = 1;
  while (keep < sorted.size(0) && c[keep - 1] < options_.top_p) ++keep;
  const double total = c[keep - 1];
  // 53 random bits -> [0, 1): portable, unlike std::uniform_real_distribution.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double acc = 0;
  for (std::int64_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (u < acc) return order[i].item<std::int64_t>();
  }
  return order[keep - 1].item<std::int64_t>();
}

}  // namespace hae
