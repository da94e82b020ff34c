#pragma once
#include <torch/nn/module.h>

#include <c10/core/ScalarType.h>

#include "hae/safetensors.h"
#include "hae/weight_manifest.h"
#include "vlm_model.h"

namespace hae {

// Before any module is built: opens the folder's safetensors headers (memory-mapped, nothing
// read yet), checks them against the tensors the config implies, and checks that the model fits
// this machine's memory at the load dtype. Throws hae::Error naming the file, tensor and keys.
SafetensorsArchive openCheckpointFor(const std::string& dir,
                                     const std::vector<ExpectedTensor>& expected,
                                     const LoadOptions& options);

// The config's image token id must be the tokenizer's `image_token` (else images are dropped or
// land on an ordinary word); throws hae::Error naming tokenizer.json and the config key.
void checkImageToken(const Tokenizer& tokenizer, int id, const std::string& image_token,
                     const std::string& dir, const std::string& key);

// The memory check alone, for random-init models; `what` names the config file.
void checkRandomInitFits(const std::vector<ExpectedTensor>& expected, const LoadOptions& options,
                         const std::string& what);

// While alive, modules are constructed directly in the load dtype (fp32 or bf16), so a bf16
// model never exists in fp32 first. Other dtypes keep fp32 construction (LibTorch 1.13 cannot
// initialise fp16 on the CPU) and are converted by Module::to afterwards.
class ConstructInDtype {
 public:
  explicit ConstructInDtype(at::ScalarType dtype);
  ~ConstructInDtype();
  ConstructInDtype(const ConstructInDtype&) = delete;
  ConstructInDtype& operator=(const ConstructInDtype&) = delete;

 private:
  caffe2::TypeMeta saved_;
};

// Copies one checkpoint tensor (or rows [start, start + rows) of it) into `param` in place,
// converting to the parameter's dtype, then lets the kernel drop the file pages it read, so
// loading holds about one copy of the weights. Warns once per tensor holding NaN or Inf.
void copyCheckpointTensor(at::Tensor& param, const TensorView& view, std::int64_t start = 0,
                          std::int64_t rows = -1);

// Copies every parameter of `module` from `archive` (HF name = prefix + parameter name), checking
// shapes, in place and in the parameter's dtype (see copyCheckpointTensor). Missing or
// mis-shaped tensors throw an hae::Error naming the tensor and the folder.
void loadModuleWeights(torch::nn::Module& module, const SafetensorsArchive& archive,
                       const std::string& prefix, const LoadOptions& options);

// Seeded random init at a scale that gives structured-looking activations (for profiling only).
void randomizeModuleWeights(torch::nn::Module& module, std::uint64_t seed, const LoadOptions& options);

std::int64_t countParameters(torch::nn::Module& module);

}  // namespace hae
