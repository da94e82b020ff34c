#include "weights.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "../io/torch_tensors.h"
#include "hae/error.h"

namespace hae {

namespace {

std::string shapeText(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace

void loadModuleWeights(torch::nn::Module& module, const SafetensorsArchive& archive,
                       const std::string& prefix, const LoadOptions& options) {
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
    auto loaded = toTorch(*view);
    if (!loaded.is_floating_point())
      throw Error(fmt::format("{}: tensor '{}' has dtype {}, expected a float type", view->file, name,
                              dtypeName(view->dtype)));
    item.value().set_data(loaded.to(options.device, options.float_dtype));
  }
}

void randomizeModuleWeights(torch::nn::Module& module, std::uint64_t seed, const LoadOptions& options) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (auto& item : module.named_parameters(true)) {
    auto& p = item.value();
    const bool is_norm = item.key().find("norm") != std::string::npos;
    at::Tensor init;
    if (is_norm && item.key().size() > 6 && item.key().substr(item.key().size() - 6) == "weight")
      init = torch::ones(p.sizes());
    else if (p.dim() >= 2)
      init = torch::randn(p.sizes()) * (1.0 / std::sqrt(static_cast<double>(p.size(-1))));
    else
      init = torch::randn(p.sizes()) * 0.02;
    p.set_data(init.to(options.device, options.float_dtype));
  }
}

std::int64_t countParameters(torch::nn::Module& module) {
  std::int64_t n = 0;
  for (const auto& p : module.parameters(true)) n += p.numel();
  return n;
}

}  // namespace hae
