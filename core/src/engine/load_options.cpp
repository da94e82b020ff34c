#include "load_options.h"

#include <torch/torch.h>

#include "hae/error.h"

namespace hae {

LoadOptions loadOptionsFor(const SessionOptions& o) {
  LoadOptions l;
  l.image_longest_edge = o.image_longest_edge;
  l.image_num_crops = o.image_num_crops;
  l.image_min_pixels = o.image_min_pixels;
  l.image_max_pixels = o.image_max_pixels;
  if (o.device == "cuda") {
    if (!torch::cuda::is_available())
      throw Error("--device cuda: no CUDA device is available in this build");
    l.device = c10::Device(c10::kCUDA);
  } else if (o.device != "cpu") {
    throw Error("--device: expected cpu or cuda, got '" + o.device + "'");
  }
  if (o.dtype == "fp32")
    l.float_dtype = torch::kFloat32;
  else if (o.dtype == "bf16")
    l.float_dtype = torch::kBFloat16;
  else if (o.dtype == "fp16") {
    if (!l.device.is_cuda())
      throw Error("--dtype fp16 needs CUDA (LibTorch has no fp16 matmul on CPU); use bf16");
    l.float_dtype = torch::kFloat16;
  } else {
    throw Error("--dtype: expected fp32, bf16 or fp16, got '" + o.dtype + "'");
  }
  return l;
}

std::shared_ptr<VlmModel> loadSessionModel(const SessionOptions& options) {
  const LoadOptions load = loadOptionsFor(options);
  if (!options.random_init.empty())
    return randomModel(options.random_init, load, options.sampling.seed);
  return loadModel(options.model_dir.empty() ? demoModelDir() : options.model_dir, load);
}

}  // namespace hae
