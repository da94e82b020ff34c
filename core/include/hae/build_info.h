#pragma once
// What this binary was built with and what it can use at run time. Torch-free header.
#include <string>

namespace hae {

struct BuildInfo {
  std::string version;        // HAE Studio version
  std::string torch_version;  // LibTorch version the binary was compiled against
  bool cuda_built = false;    // LibTorch has CUDA support compiled in
  int cuda_devices = 0;       // CUDA devices visible now
  int threads = 0;            // intra-op threads LibTorch uses now
  int kernel_threads = 0;     // threads that join the project's own decode kernels now
  std::string blas_env;       // OPENBLAS_CORETYPE in effect, or "" when unset
};

BuildInfo buildInfo();

// The most compute threads `--threads` accepts (CLI and studio): far above any machine's cores,
// low enough that a typo cannot make LibTorch and OpenBLAS spawn threads without end.
inline constexpr int kMaxThreads = 1024;

// Sets LibTorch's intra-op thread count and OpenBLAS's pool (when OpenBLAS is the BLAS); n <= 0
// means all cores. Debian's LibTorch defaults to
// half the cores, which is 1 on a 2-core machine.
void setThreads(int n);

// The thread count last given to setThreads (LibTorch's count if never called): the most an
// Engine decodes with; it uses fewer while other processes hold cores (engine/core_share.h).
int requestedThreads();

// One-line summary, e.g. "LibTorch 1.13.0, CPU only, 2 threads".
std::string describeRuntime();

}  // namespace hae
