#include "blas_env.h"

#include <unistd.h>

#include <cstdlib>

namespace hae::app {

void ensureBlasCoreType(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("HAE_NO_BLAS_REEXEC")) return;
  const char* core = nullptr;
  if (__builtin_cpu_supports("avx512f")) {
    core = "SkylakeX";
  } else if (__builtin_cpu_supports("avx2")) {
    core = "Haswell";
  }
  if (!core) return;
  setenv("OPENBLAS_CORETYPE", core, 1);
  execv("/proc/self/exe", argv);  // only returns on failure: then carry on with the slow kernels
}

}  // namespace hae::app
