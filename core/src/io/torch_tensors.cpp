#include "torch_tensors.h"

#include <torch/torch.h>

#include <cstring>

#include "hae/error.h"

namespace hae {

at::ScalarType toScalarType(DType dtype) {
  switch (dtype) {
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    case DType::F64: return torch::kFloat64;
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
    case DType::I16: return torch::kInt16;
    case DType::I8: return torch::kInt8;
    case DType::U8: return torch::kUInt8;
    case DType::BOOL: return torch::kBool;
  }
  throw Error("unknown dtype");
}

DType fromScalarType(at::ScalarType type, const std::string& name) {
  switch (type) {
    case torch::kFloat32: return DType::F32;
    case torch::kFloat16: return DType::F16;
    case torch::kBFloat16: return DType::BF16;
    case torch::kFloat64: return DType::F64;
    case torch::kInt64: return DType::I64;
    case torch::kInt32: return DType::I32;
    case torch::kInt16: return DType::I16;
    case torch::kInt8: return DType::I8;
    case torch::kUInt8: return DType::U8;
    case torch::kBool: return DType::BOOL;
    default: throw Error("tensor '" + name + "': dtype cannot be written to safetensors");
  }
}

at::Tensor toTorch(const TensorView& view) {
  auto t = torch::empty(view.shape, torch::TensorOptions().dtype(toScalarType(view.dtype)));
  if (view.nbytes) std::memcpy(t.data_ptr(), view.data, view.nbytes);
  return t;
}

void writeTorchSafetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                           const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep_alive;
  std::vector<TensorToWrite> out;
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    keep_alive.push_back(t);
    out.push_back({name, fromScalarType(t.scalar_type(), name),
                   std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(),
                   static_cast<std::size_t>(t.numel() * t.element_size())});
  }
  writeSafetensors(path, out, metadata);
}

}  // namespace hae
