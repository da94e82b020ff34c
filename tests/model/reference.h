#pragma once
// Helpers shared by the model tests: read a reference file and compare tensors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "hae/safetensors.h"
#include "io/torch_tensors.h"

namespace hae::test {

// A fresh folder under the system's temp folder, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("hae-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
  static inline int counter_ = 0;
};

inline std::string dataPath(const std::string& rel) { return std::string(HAE_TEST_DATA) + "/" + rel; }

inline double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// Two computations of the same values by GEMMs of different shapes (a whole prompt against a
// subset of its rows, say) may sum in a different order on another CPU's BLAS kernels, so they
// are compared with a tolerance relative to the values' size. One fp32 dot product over K terms
// is off by at most about K * 2^-24 of the sum of |terms|; rel = 1e-5 covers K in the thousands
// and still fails a wrong or shifted row, which is off by the size of the values themselves.
inline void expectCloseRelative(const at::Tensor& got, const at::Tensor& want, double rel,
                                const std::string& what) {
  const double scale = want.to(torch::kFloat64).abs().max().item<double>();
  EXPECT_LE(maxAbsDiff(got, want), rel * scale) << what << " (largest |value| " << scale << ")";
}

struct Reference {
  SafetensorsArchive archive;
  explicit Reference(const std::string& file) : archive(SafetensorsArchive::openFile(file)) {}
  at::Tensor operator[](const std::string& name) const { return toTorch(archive.get(name)); }
  bool has(const std::string& name) const { return archive.contains(name); }
  std::vector<std::int64_t> ids() const {
    auto t = (*this)["input_ids"][0].contiguous();
    return {t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + t.numel()};
  }
};

}  // namespace hae::test
