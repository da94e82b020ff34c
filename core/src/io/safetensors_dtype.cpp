// The safetensors dtype table, kept in one place so reader, writer and torch side agree.
#include <cstdint>
#include <limits>

#include "hae/safetensors.h"

namespace hae {

namespace {
struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4},   {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::F64, "F64", 8},   {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},   {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
};
const DTypeInfo& info(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d;
  return kDTypes[0];  // unreachable for valid enum values
}
}  // namespace

std::size_t dtypeSize(DType dtype) {
  return info(dtype).size;
}
const char* dtypeName(DType dtype) {
  return info(dtype).name;
}

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.dtype;
  return std::nullopt;
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;  // the parser already rejected overflowing shapes
  return n;
}

}  // namespace hae
