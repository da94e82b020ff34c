// `hae info`: what this build and machine offer, so a user can tell why a run is slow.
#include <fmt/core.h>

#include <thread>

#include "../common/process_setup.h"
#include "cli_context.h"
#include "hae/build_info.h"

namespace hae::cli {

namespace {

void printCalibration() {
  fmt::print("Measuring each OpenBLAS core type this CPU can run (sgemm 512x2048x2048, sgemv on a "
             "64 MiB matrix, both checked against double precision):\n");
  fmt::print("{:<14} {:<14} {:>12} {:>11}  {}\n", "core type", "runs as", "sgemm GFLOP/s",
             "sgemv GB/s", "result");
  for (const auto& m : app::calibrateBlasCoreType())
    fmt::print("{:<14} {:<14} {:>12.1f} {:>11.1f}  {}\n",
               m.core_type.empty() ? "(detect)" : m.core_type, m.runs_as, m.gemm_gflops,
               m.gemv_gbps, m.correct ? "correct" : m.failure);
  fmt::print("The fastest correct one is cached and used from the next start (unless "
             "OPENBLAS_CORETYPE is set).\n");
}

}  // namespace

void addInfoCommand(CLI::App& app, const GlobalOptions&) {
  auto* cmd = app.add_subcommand("info", "Print the build, LibTorch, device and thread settings");
  static bool calibrate = false;
  cmd->add_flag("--calibrate-blas", calibrate,
                "Measure every OpenBLAS core type this CPU can run and cache the fastest correct "
                "one (hae does this by itself once per CPU)");
  cmd->callback([] {
    const BuildInfo info = buildInfo();
    fmt::print("HAE Studio {}\n", info.version);
    fmt::print("LibTorch:  {}\n", info.torch_version);
    fmt::print("CUDA:      {}\n", info.cuda_built ? fmt::format("built, {} device(s)", info.cuda_devices)
                                                  : std::string("not built (CPU only)"));
    fmt::print("Threads:   {} of {} cores; {} join the decode kernels\n", info.threads,
               std::thread::hardware_concurrency(), info.kernel_threads);
    for (const auto& line : app::describeProcessSetup()) fmt::print("{}\n", line);
    if (calibrate) printCalibration();
  });
}

}  // namespace hae::cli
