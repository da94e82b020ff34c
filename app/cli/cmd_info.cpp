// `hae info`: what this build and machine offer, so a user can tell why a run is slow.
#include <fmt/core.h>

#include <thread>

#include "cli_context.h"
#include "hae/build_info.h"

namespace hae::cli {

void addInfoCommand(CLI::App& app, const GlobalOptions&) {
  auto* cmd = app.add_subcommand("info", "Print the build, LibTorch, device and thread settings");
  cmd->callback([] {
    const BuildInfo info = buildInfo();
    fmt::print("HAE Studio {}\n", info.version);
    fmt::print("LibTorch:  {}\n", info.torch_version);
    fmt::print("CUDA:      {}\n", info.cuda_built ? fmt::format("built, {} device(s)", info.cuda_devices)
                                                  : std::string("not built (CPU only)"));
    fmt::print("Threads:   {} of {} cores\n", info.threads, std::thread::hardware_concurrency());
    fmt::print("OpenBLAS:  OPENBLAS_CORETYPE={}\n", info.blas_env.empty() ? "(unset)" : info.blas_env);
  });
}

}  // namespace hae::cli
