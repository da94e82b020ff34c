#pragma once
#include <torch/nn/module.h>

#include "hae/safetensors.h"
#include "vlm_model.h"

namespace hae {

// Copies every parameter of `module` from `archive` (HF name = prefix + parameter name), checking
// shapes and converting float tensors to the load dtype. Missing or mis-shaped tensors throw an
// hae::Error naming the tensor and the folder.
void loadModuleWeights(torch::nn::Module& module, const SafetensorsArchive& archive,
                       const std::string& prefix, const LoadOptions& options);

// Seeded random init at a scale that gives structured-looking activations (for profiling only).
void randomizeModuleWeights(torch::nn::Module& module, std::uint64_t seed, const LoadOptions& options);

std::int64_t countParameters(torch::nn::Module& module);

}  // namespace hae
