// A STREAM-like read kernel (the decode access pattern): each thread sums its own part of one
// buffer. Integer sums, so the compiler may reorder and vectorise them without -ffast-math.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "hae/profile.h"

namespace hae {

namespace {

std::uint64_t sumWords(const std::uint64_t* p, std::size_t n) {
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

}  // namespace

double measureReadBandwidth(int threads, int mib, int reps) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::size_t words = std::size_t(mib) * 1024 * 1024 / sizeof(std::uint64_t);
  std::unique_ptr<std::uint64_t[]> buffer(new std::uint64_t[words]);
  const std::size_t part = words / threads;
  std::vector<std::uint64_t> sums(threads);
  auto run = [&](bool first_touch) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        std::uint64_t* p = buffer.get() + t * part;
        if (first_touch) std::fill(p, p + part, std::uint64_t(t + 1));  // pages local to the reader
        else sums[t] += sumWords(p, part);
      });
    for (auto& th : pool) th.join();
  };
  run(true);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run(false);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  volatile std::uint64_t sink = 0;
  for (auto s : sums) sink = sink + s;  // keeps the sums alive
  return double(part) * threads * sizeof(std::uint64_t) / best / 1e9;
}

}  // namespace hae
