#pragma once

namespace hae::app {

// Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to slow "Prescott"
// kernels; OPENBLAS_CORETYPE fixes that but is read only when the library loads. So, once, set
// it for this CPU and re-execute the binary. HAE_NO_BLAS_REEXEC=1 disables this.
void ensureBlasCoreType(char** argv);

}  // namespace hae::app
