// `hae`: the headless CLI. Subcommands register themselves from their own files; this file owns
// the global flags and turns every failure into one line on stderr and a non-zero exit code.
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "../common/process_setup.h"
#include "cli_context.h"
#include "hae/build_info.h"
#include "hae/error.h"
#include "hae/logging.h"

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;

}  // namespace

int main(int argc, char** argv) {
  hae::app::prepareProcess(argv);

  CLI::App app{"HAE Studio command line: run vision-language models under KV-cache eviction "
               "policies, inspect checkpoints, benchmark and export profiling reports.",
               "hae"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] {
    const auto info = hae::buildInfo();
    return fmt::format("hae {} (LibTorch {}, {})", info.version, info.torch_version,
                       info.cuda_built ? "CUDA support built in" : "CPU only");
  });

  hae::cli::GlobalOptions global;
  app.add_flag("-v,--verbose", global.verbose, "Log debug details to stderr");
  app.add_flag("-q,--quiet", global.quiet, "Log errors only");
  app.add_option("-t,--threads", global.threads, "Compute threads (default: all cores)")
      ->check(CLI::Range(0, hae::kMaxThreads));
  app.parse_complete_callback([&] {
    hae::setupLogging(global.quiet     ? hae::Verbosity::Quiet
                      : global.verbose ? hae::Verbosity::Verbose
                                       : hae::Verbosity::Normal);
    hae::setThreads(global.threads);
  });

  for (auto registrar : {hae::cli::addRunCommand, hae::cli::addInspectCommand, hae::cli::addDumpCommand, hae::cli::addPoliciesCommand,
                         hae::cli::addTrainDemoCommand, hae::cli::addEvalCommand, hae::cli::addBenchCommand, hae::cli::addProfileCommand, hae::cli::addInfoCommand}) registrar(app, global);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports a mistyped subcommand as a missing one; name the word the user typed.
    const bool unknown_command = app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-';
    const std::string what =
        unknown_command ? fmt::format("unknown subcommand '{}'", argv[1]) : std::string(e.what());
    fmt::print(stderr, "hae: {} (run 'hae --help' for usage)\n", what);
    return kExitUsage;
  } catch (const hae::Error& e) {
    fmt::print(stderr, "hae: error: {}\n", e.what());
    return kExitFailure;
  } catch (const std::exception& e) {
    // LibTorch's errors carry a backtrace after the first line; the reason is the first line.
    const std::string what = e.what();
    fmt::print(stderr, "hae: unexpected error: {}\n", what.substr(0, what.find('\n')));
    return kExitFailure;
  }
  return 0;
}
