#pragma once
// Measures the BLAS this process loaded (OpenBLAS behind libblas.so.3, whichever core type it
// runs): sgemm speed at a prefill-like shape, sgemv bandwidth at a decode-like shape, and both
// products against a double-precision reference. The BLAS is looked up at run time, so this file
// needs neither LibTorch nor a BLAS header.
#include <string>

namespace hae::app {

struct BlasProbeResult {
  std::string core_name;  // openblas_get_corename(), "" when the BLAS is not OpenBLAS
  double gemm_gflops = 0, gemv_gbps = 0;
  bool correct = false;
  std::string failure;  // "" when measured and correct
};

BlasProbeResult probeLoadedBlas(int threads);

// One line, and its inverse, for passing a result from a probe process to its parent.
std::string formatProbeResult(const BlasProbeResult& result);
bool parseProbeResult(const std::string& line, BlasProbeResult& result);

}  // namespace hae::app
