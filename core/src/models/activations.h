#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>

namespace hae {

// transformers' ACT2FN names. checkActivation() runs at load so a bad config fails there, not
// in the middle of a forward pass.
void checkActivation(const std::string& name, const std::string& field);
torch::Tensor activate(const torch::Tensor& x, const std::string& name);

}  // namespace hae
