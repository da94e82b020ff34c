#pragma once
// Sets the process up for speed before anything else runs, so that no user has to know which
// environment variables LibTorch, OpenMP, glibc and OpenBLAS read. Measured on a 2-core machine
// (README, "Runtime speed"): each of the three settings below alone changed decode or prefill
// time by 2x or more.
//
// - On CPUs without AVX-512, where decoding's products run on OpenBLAS's threads, OpenMP waits
//   passively (OMP_WAIT_POLICY=PASSIVE): its threads otherwise spin after each parallel region
//   while OpenBLAS's work, and on few cores the two pools fight. With AVX-512 decoding runs on
//   OpenMP's threads (text/gemv.h), and OpenMP's default waiting is faster.
// - glibc keeps freed memory (mallopt: no mmap for large blocks, no trimming). Otherwise each large
//   temporary is mapped and unmapped again, and the page faults cost more than the arithmetic.
// - OpenBLAS runs the fastest kernels that compute correctly on this CPU: each core type the CPU
//   can run is measured once (sgemm and sgemv speed, and both checked against a double-precision
//   reference) and the choice is cached per CPU and OpenBLAS library.
//
// Whatever the user set in the environment is kept: OPENBLAS_CORETYPE, OMP_WAIT_POLICY and glibc's
// MALLOC_* tunables. OpenMP and OpenBLAS read their variables only when they load, so the binary
// re-executes itself once with them set. HAE_NO_PROCESS_SETUP=1 turns all of this off.
#include <string>
#include <vector>

namespace hae::app {

// Call first thing in main(). May re-execute the binary (it then never returns to the caller's
// first run), and answers the calibration's own probe runs.
void prepareProcess(char** argv);

struct CoreTypeMeasurement {
  std::string core_type;  // "" = OpenBLAS's own detection
  std::string runs_as;    // the core name OpenBLAS reports for it
  double gemm_gflops = 0, gemv_gbps = 0;
  bool correct = false;
  std::string failure;  // why it was not measured or was wrong
};

// Measures every candidate core type now (a few seconds), rewrites the cache, returns the table.
std::vector<CoreTypeMeasurement> calibrateBlasCoreType();

// Lines for `hae info`: what was chosen, and why.
std::vector<std::string> describeProcessSetup();

}  // namespace hae::app
