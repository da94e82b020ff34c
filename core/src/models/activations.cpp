#include "activations.h"

#include <torch/torch.h>

#include "hae/error.h"

namespace hae {

namespace {
const char* const kKnown[] = {"gelu", "gelu_pytorch_tanh", "gelu_new", "quick_gelu", "silu", "swish", "relu"};
}

void checkActivation(const std::string& name, const std::string& field) {
  for (const char* k : kKnown)
    if (name == k) return;
  throw Error(field + ": activation '" + name +
              "' is not supported (gelu, gelu_pytorch_tanh, gelu_new, quick_gelu, silu, relu)");
}

torch::Tensor activate(const torch::Tensor& x, const std::string& name) {
  if (name == "gelu") return torch::gelu(x);
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return torch::gelu(x, "tanh");
  if (name == "quick_gelu") return x * torch::sigmoid(1.702 * x);
  if (name == "silu" || name == "swish") return torch::silu(x);
  if (name == "relu") return torch::relu(x);
  throw Error("unsupported activation '" + name + "'");
}

}  // namespace hae
