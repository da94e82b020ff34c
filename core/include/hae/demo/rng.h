#pragma once
// The demo data must be the same on every machine and standard library: a scene seed names one
// training example forever, and the held-out set is a list of seeds. std::uniform_int_distribution
// and friends are implementation-defined (libstdc++ and libc++ draw different numbers from the same
// engine), so every draw here goes through the engine's raw 64-bit output, which the standard
// fixes.
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace hae::demo {

// splitmix64 of seed ^ stream: independent sub-streams (scene layout, background, questions) from
// one seed, and uncorrelated scenes for neighbouring seeds.
std::uint64_t mixSeed(std::uint64_t seed, std::uint64_t stream);

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  std::uint64_t next() { return engine_(); }
  // [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi], unbiased (rejection sampling).
  int intIn(int lo, int hi);
  bool chance(double p) { return uniform() < p; }
  // Triangular noise in (-1, 1): cheap, smooth enough for texture, and free of libm, whose last
  // bits differ between platforms.
  double noise() { return uniform() + uniform() - 1.0; }

  template <class T>
  const T& pick(const std::vector<T>& items) {
    return items[static_cast<std::size_t>(intIn(0, static_cast<int>(items.size()) - 1))];
  }
  template <class T>
  void shuffle(std::vector<T>& items) {
    for (int i = static_cast<int>(items.size()) - 1; i > 0; --i)
      std::swap(items[i], items[intIn(0, i)]);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace hae::demo
