#pragma once
#include <ATen/core/Tensor.h>

#include <random>

#include "hae/session.h"

namespace hae {

// Greedy, or temperature + top-p sampling from a seeded generator, so the same seed gives the
// same tokens on every machine (std::mt19937_64 is specified; torch's CPU generator is not
// guaranteed across versions).
class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {}
  std::int64_t pick(const at::Tensor& logits);  // logits [vocab], fp32 CPU

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace hae
