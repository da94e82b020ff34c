#pragma once
// What every `hae` subcommand shares: the global flags and the registration signature.
#include <CLI/CLI.hpp>

namespace hae::cli {

struct GlobalOptions {
  bool verbose = false;
  bool quiet = false;
  int threads = 0;  // 0: all cores
};

// Each subcommand lives in its own file and registers itself with one of these.
using CommandRegistrar = void (*)(CLI::App& app, const GlobalOptions& global);

void addInfoCommand(CLI::App& app, const GlobalOptions& global);
void addRunCommand(CLI::App& app, const GlobalOptions& global);
void addInspectCommand(CLI::App& app, const GlobalOptions& global);
void addDumpCommand(CLI::App& app, const GlobalOptions& global);
void addPoliciesCommand(CLI::App& app, const GlobalOptions& global);
void addTrainDemoCommand(CLI::App& app, const GlobalOptions& global);
void addEvalCommand(CLI::App& app, const GlobalOptions& global);
void addBenchCommand(CLI::App& app, const GlobalOptions& global);

}  // namespace hae::cli
