#include "hae/build_info.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "../text/gemv.h"
#include "hae_version.h"

namespace hae {

BuildInfo buildInfo() {
  BuildInfo info;
  info.version = HAE_VERSION_STRING;
  info.torch_version = TORCH_VERSION;
  info.cuda_built = at::hasCUDA();
  info.cuda_devices = info.cuda_built ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.threads = at::get_num_threads();
  info.kernel_threads = rowProductThreads();
  if (const char* coretype = std::getenv("OPENBLAS_CORETYPE")) info.blas_env = coretype;
  return info;
}

namespace {
std::atomic<int> requested_threads{0};
}

int requestedThreads() {
  if (requested_threads == 0) requested_threads = at::get_num_threads();
  return requested_threads;
}

void setThreads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  requested_threads = n;
  at::set_num_threads(n);
  // Debian's LibTorch calls the system BLAS (OpenBLAS) for matrix-vector products, and OpenBLAS
  // keeps its own pool of one thread per core that set_num_threads does not reach. On a busy
  // machine those threads wait on each other: decode measured 25x slower with the pool at 2
  // threads than at 1 while another job ran. Looked up at run time, since the BLAS behind
  // libblas.so.3 is whatever the system's alternatives select.
  using SetBlasThreads = void (*)(int);
  if (auto set_blas =
          reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas(n);
}

std::string describeRuntime() {
  const BuildInfo info = buildInfo();
  std::string s = "LibTorch " + info.torch_version;
  s += info.cuda_devices > 0 ? ", CUDA (" + std::to_string(info.cuda_devices) + " device(s))"
                             : (info.cuda_built ? ", CUDA built but no device" : ", CPU only");
  s += ", " + std::to_string(info.threads) + " thread(s)";
  return s;
}

}  // namespace hae
