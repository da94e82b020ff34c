#include "blas_probe.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

namespace hae::app {

namespace {

// Fortran BLAS entry points (column-major), as libblas.so.3 exports them.
using Sgemm = void (*)(const char*, const char*, const int*, const int*, const int*, const float*,
                       const float*, const int*, const float*, const int*, const float*, float*,
                       const int*);
using Sgemv = void (*)(const char*, const int*, const int*, const float*, const float*, const int*,
                       const float*, const int*, const float*, float*, const int*);

struct Blas {
  Sgemm sgemm = nullptr;
  Sgemv sgemv = nullptr;
};

std::vector<float> randomValues(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {  // a 64-bit LCG: reproducible and independent of the C++ library
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    x = static_cast<float>(static_cast<double>(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
  return v;
}

// Each result within 1e-5 of the sum of |a_ik * b_kj| over k (the size of the terms the
// float sum can lose): any order of summation and FMA use passes, a wrong kernel does not.
bool gemmCorrect(const Blas& blas, std::string& failure) {
  const int m = 67, n = 129, k = 1031;  // odd sizes reach the kernels' edge cases
  auto a = randomValues(std::size_t(m) * k, 1), b = randomValues(std::size_t(k) * n, 2);
  std::vector<float> c(std::size_t(m) * n, 0.f);
  const float one = 1.f, zero = 0.f;
  blas.sgemm("N", "N", &m, &n, &k, &one, a.data(), &m, b.data(), &k, &zero, c.data(), &m);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double ref = 0, size = 0;
      for (int p = 0; p < k; ++p) {
        const double t = double(a[std::size_t(p) * m + i]) * b[std::size_t(j) * k + p];
        ref += t;
        size += std::fabs(t);
      }
      if (!(std::fabs(c[std::size_t(j) * m + i] - ref) <= 1e-5 * size + 1e-30)) {
        failure = "sgemm result wrong";
        return false;
      }
    }
  return true;
}

bool gemvCorrect(const Blas& blas, std::string& failure) {
  const int rows = 1031, cols = 517, inc = 1;
  auto a = randomValues(std::size_t(rows) * cols, 3), x = randomValues(rows, 4);
  std::vector<float> y(cols, 0.f);
  const float one = 1.f, zero = 0.f;
  // y = A^T x with A column-major [rows, cols]: torch::mv on a row-major weight takes this path.
  blas.sgemv("T", &rows, &cols, &one, a.data(), &rows, x.data(), &inc, &zero, y.data(), &inc);
  for (int j = 0; j < cols; ++j) {
    double ref = 0, size = 0;
    for (int i = 0; i < rows; ++i) {
      const double t = double(a[std::size_t(j) * rows + i]) * x[i];
      ref += t;
      size += std::fabs(t);
    }
    if (!(std::fabs(y[j] - ref) <= 1e-5 * size + 1e-30)) {
      failure = "sgemv result wrong";
      return false;
    }
  }
  return true;
}

template <typename F>
double bestSeconds(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

BlasProbeResult probeLoadedBlas(int threads) {
  BlasProbeResult result;
  Blas blas;
  blas.sgemm = reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "sgemm_"));
  blas.sgemv = reinterpret_cast<Sgemv>(dlsym(RTLD_DEFAULT, "sgemv_"));
  using CoreName = char* (*)();
  using SetThreads = void (*)(int);
  auto core_name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  auto set_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (!blas.sgemm || !blas.sgemv || !core_name || !set_threads) {
    result.failure = "the BLAS is not OpenBLAS";
    return result;
  }
  result.core_name = core_name();
  set_threads(threads);
  if (!gemmCorrect(blas, result.failure) || !gemvCorrect(blas, result.failure)) return result;
  result.correct = true;

  // Speed at the shapes the decoder runs: a 512-token prefill product and a 64 MB weight matrix
  // read once per decode token (larger than any cache).
  {
    const int m = 512, n = 2048, k = 2048;
    auto a = randomValues(std::size_t(m) * k, 5), b = randomValues(std::size_t(k) * n, 6);
    std::vector<float> c(std::size_t(m) * n);
    const float one = 1.f, zero = 0.f;
    const double s = bestSeconds(4, [&] {
      blas.sgemm("N", "N", &m, &n, &k, &one, a.data(), &m, b.data(), &k, &zero, c.data(), &m);
    });
    result.gemm_gflops = 2.0 * m * n * k / s / 1e9;
  }
  {
    const int rows = 2048, cols = 8192, inc = 1;
    auto a = randomValues(std::size_t(rows) * cols, 7), x = randomValues(rows, 8);
    std::vector<float> y(cols);
    const float one = 1.f, zero = 0.f;
    const double s = bestSeconds(6, [&] {
      blas.sgemv("T", &rows, &cols, &one, a.data(), &rows, x.data(), &inc, &zero, y.data(), &inc);
    });
    result.gemv_gbps = 4.0 * rows * cols / s / 1e9;
  }
  return result;
}

std::string formatProbeResult(const BlasProbeResult& r) {
  std::ostringstream out;
  out << "probe " << (r.core_name.empty() ? "-" : r.core_name) << ' ' << r.gemm_gflops << ' '
      << r.gemv_gbps << ' ' << (r.correct ? 1 : 0) << ' ' << r.failure;
  return out.str();
}

bool parseProbeResult(const std::string& line, BlasProbeResult& r) {
  std::istringstream in(line);
  std::string tag;
  int correct = 0;
  if (!(in >> tag >> r.core_name >> r.gemm_gflops >> r.gemv_gbps >> correct) || tag != "probe")
    return false;
  if (r.core_name == "-") r.core_name.clear();
  r.correct = correct == 1;
  std::getline(in >> std::ws, r.failure);
  return true;
}

}  // namespace hae::app
