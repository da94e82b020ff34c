#pragma once
// The bridge between the torch-free safetensors reader/writer and LibTorch tensors.
#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "hae/safetensors.h"

namespace hae {

// Copies a view into a fresh tensor of the same dtype (the mapping may be unaligned).
at::Tensor toTorch(const TensorView& view);
at::ScalarType toScalarType(DType dtype);
DType fromScalarType(at::ScalarType type, const std::string& name);

// Writes tensors (moved to CPU, made contiguous) atomically.
void writeTorchSafetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                           const std::map<std::string, std::string>& metadata = {});

}  // namespace hae
