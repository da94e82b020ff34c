// A STREAM-like read kernel (the decode access pattern): each thread sums its own part of one
// buffer. Integer sums, so the compiler may reorder and vectorise them without -ffast-math.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "hae/profile.h"

namespace hae {

namespace {

std::uint64_t sumWordsScalar(const std::uint64_t* p, std::size_t n) {
  std::uint64_t a = 0, b = 0, c = 0, d = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

// 128 bytes per iteration in four independent sums: scalar loads alone do not reach the
// memory's bandwidth with two threads (measured 35-45 against 59 GB/s).
__attribute__((target("avx2"))) std::uint64_t sumWordsAvx2(const std::uint64_t* p, std::size_t n) {
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                    _mm256_setzero_si256()};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 4; ++j)
      acc[j] = _mm256_add_epi64(
          acc[j], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4 * j)));
  alignas(32) std::uint64_t lanes[4];
  _mm256_store_si256(
      reinterpret_cast<__m256i*>(lanes),
      _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3])));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + sumWordsScalar(p + i, n - i);
}

std::uint64_t sumWords(const std::uint64_t* p, std::size_t n) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? sumWordsAvx2(p, n) : sumWordsScalar(p, n);
}

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(int threads, int mib)
    : threads_(threads > 0 ? threads
                           : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
      words_(std::size_t(mib) * 1024 * 1024 / sizeof(std::uint64_t)),
      buffer_(new std::uint64_t[words_]) {
  run(true);
}

ReadBandwidthProbe::~ReadBandwidthProbe() = default;

void ReadBandwidthProbe::run(bool first_touch) {
  const std::size_t part = words_ / threads_;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads_; ++t)
    pool.emplace_back([this, t, part, first_touch] {
      std::uint64_t* p = buffer_.get() + t * part;
      if (first_touch)
        std::fill(p, p + part, std::uint64_t(t + 1));  // pages local to the reader
      else
        sink_ += sumWords(p, part);  // kept, so the sums cannot be dropped
    });
  for (auto& th : pool) th.join();
}

double ReadBandwidthProbe::sample(int reps) {
  double best = 1e30;
  for (int r = 0; r < std::max(1, reps); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run(false);
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return double(words_ / threads_) * threads_ * sizeof(std::uint64_t) / best / 1e9;
}

double measureReadBandwidth(int threads, int mib, int reps) {
  return ReadBandwidthProbe(threads, mib).sample(reps);
}

}  // namespace hae
