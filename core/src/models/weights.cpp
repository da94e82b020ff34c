#include "weights.h"

#include <c10/core/DefaultDtype.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "../io/torch_tensors.h"
#include "hae/error.h"

namespace hae {

namespace {

std::string shapeText(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// The checkpoint's bytes as a tensor over the memory map: read, never written.
at::Tensor mappedTensor(const TensorView& view) {
  auto* data = const_cast<std::byte*>(view.data);
  return torch::from_blob(data, view.shape, torch::TensorOptions().dtype(toScalarType(view.dtype)));
}

// The whole pages inside [data, data + bytes) leave this process's resident set; the page cache
// keeps them, and a later read faults them in again from the file.
void releasePages(const std::byte* data, std::size_t bytes) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + page - 1) / page * page;
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

SafetensorsArchive openCheckpointFor(const std::string& dir,
                                     const std::vector<ExpectedTensor>& expected,
                                     const LoadOptions& options) {
  SafetensorsArchive archive = SafetensorsArchive::openFolder(dir);
  const std::string config = (std::filesystem::path(dir) / "config.json").string();
  checkCheckpointAgainstConfig(expected, archive, config);
  checkRandomInitFits(expected, options, config);
  return archive;
}

void checkImageToken(const Tokenizer& tokenizer, int id, const std::string& image_token,
                     const std::string& dir, const std::string& key) {
  const std::string at_id = tokenizer.idToToken(id);
  if (at_id == image_token) return;
  const int real = tokenizer.tokenToId(image_token);
  throw Error(fmt::format(
      "{}/config.json: {} {} is {} in tokenizer.json, not {}{}", dir, key, id,
      at_id.empty() ? "beyond the vocabulary" : "the token '" + at_id + "'", image_token,
      real >= 0 ? fmt::format(" (tokenizer.json maps {} to {})", image_token, real) : ""));
}

void checkRandomInitFits(const std::vector<ExpectedTensor>& expected, const LoadOptions& options,
                         const std::string& what) {
  if (!options.device.is_cpu()) return;  // the weights live in the device's memory
  checkModelFitsMemory(expected, static_cast<int>(c10::elementSize(options.float_dtype)),
                       c10::toString(options.float_dtype), what);
}

ConstructInDtype::ConstructInDtype(at::ScalarType dtype) : saved_(c10::get_default_dtype()) {
  if (dtype == at::kFloat || dtype == at::kBFloat16)
    c10::set_default_dtype(c10::scalarTypeToTypeMeta(dtype));
}

ConstructInDtype::~ConstructInDtype() { c10::set_default_dtype(saved_); }

void copyCheckpointTensor(at::Tensor& param, const TensorView& view, std::int64_t start,
                          std::int64_t rows) {
  torch::NoGradGuard no_grad;
  auto source = mappedTensor(view);
  if (rows >= 0) source = source.narrow(0, start, rows);
  // In chunks of rows of about 16 MB, each chunk's file pages released once copied: the peak
  // stays one copy of the weights plus a chunk, even for a 500 MB embedding read from fp32.
  at::Tensor target = param;  // a view of the parameter's storage, never a new tensor
  if (source.dim() == 0) source = source.view({1}), target = param.view({1});
  const std::int64_t n = source.size(0);
  const std::int64_t row_bytes = n ? source.numel() / n * source.element_size() : 0;
  const std::int64_t chunk = std::max<std::int64_t>(1, (16 << 20) / std::max<std::int64_t>(row_bytes, 1));
  std::int64_t non_finite = 0;
  for (std::int64_t r = 0; r < n; r += chunk) {
    const std::int64_t k = std::min(chunk, n - r);
    auto dst = target.narrow(0, r, k);
    auto src = source.narrow(0, r, k);
    dst.copy_(src);
    releasePages(static_cast<const std::byte*>(src.data_ptr()), static_cast<std::size_t>(k * row_bytes));
    if (dst.is_floating_point() && !torch::isfinite(dst).all().item<bool>())
      non_finite += (~torch::isfinite(dst)).sum().item<std::int64_t>();
  }
  if (non_finite > 0)
    spdlog::warn("{}: tensor '{}' holds {} NaN or Inf values{}", view.file, view.name, non_finite,
                 rows >= 0 ? fmt::format(" in rows {}-{}", start, start + rows - 1) : "");
}

void loadModuleWeights(torch::nn::Module& module, const SafetensorsArchive& archive,
                       const std::string& prefix, const LoadOptions&) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string name = prefix + item.key();
    const TensorView* view = archive.find(name);
    if (!view)
      throw Error(fmt::format("{}: missing tensor '{}' (expected shape {})", archive.source(), name,
                              shapeText(item.value().sizes())));
    if (!std::equal(view->shape.begin(), view->shape.end(), item.value().sizes().begin(),
                    item.value().sizes().end()))
      throw Error(fmt::format("{}: tensor '{}' has shape {}, config.json implies {}", view->file, name,
                              shapeText(view->shape), shapeText(item.value().sizes())));
    if (!c10::isFloatingType(toScalarType(view->dtype)))
      throw Error(fmt::format("{}: tensor '{}' has dtype {}, expected a float type", view->file, name,
                              dtypeName(view->dtype)));
    copyCheckpointTensor(item.value(), *view);  // the modules are already in the load dtype
  }
}

void randomizeModuleWeights(torch::nn::Module& module, std::uint64_t seed, const LoadOptions& options) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (auto& item : module.named_parameters(true)) {
    auto& p = item.value();
    const bool is_norm = item.key().find("norm") != std::string::npos;
    const bool norm_weight =
        is_norm && item.key().size() > 6 && item.key().substr(item.key().size() - 6) == "weight";
    const double std_dev = p.dim() >= 2 ? 1.0 / std::sqrt(static_cast<double>(p.size(-1))) : 0.02;
    if (options.device.is_cpu() && p.scalar_type() == options.float_dtype) {
      // In place: no second copy of the weights, and no page faults for one (a 1.4 B-parameter
      // model took 50 s to build this way round, most of it in the kernel).
      if (norm_weight) p.fill_(1);
      else p.normal_(0, std_dev);
      continue;
    }
    at::Tensor init;
    if (norm_weight)
      init = torch::ones(p.sizes(), torch::kFloat32);
    else if (p.dim() >= 2)
      init = torch::randn(p.sizes(), torch::kFloat32) * (1.0 / std::sqrt(static_cast<double>(p.size(-1))));
    else
      init = torch::randn(p.sizes(), torch::kFloat32) * 0.02;
    p.set_data(init.to(options.device, options.float_dtype));
  }
}

std::int64_t countParameters(torch::nn::Module& module) {
  std::int64_t n = 0;
  for (const auto& p : module.parameters(true)) n += p.numel();
  return n;
}

}  // namespace hae
