#pragma once
// What every `hae` subcommand shares: the global flags and the registration signature.
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "hae/error.h"

namespace hae::cli {

struct GlobalOptions {
  bool verbose = false;
  bool quiet = false;
  int threads = 0;  // 0: all cores
};

// CLI::Range for floating-point flags: CLI::Range compares with < and >, which NaN passes, and
// accepts inf when the range is open-ended. This one refuses both, naming the value and range.
class FiniteRange : public CLI::Validator {
 public:
  FiniteRange(double min, double max) : CLI::Validator(fmt::format("FLOAT in [{}, {}]", min, max)) {
    func_ = [min, max](std::string& input) {
      double value = 0;
      if (!CLI::detail::lexical_cast(input, value) || !std::isfinite(value) || value < min ||
          value > max)
        return fmt::format("'{}' is not a finite number in [{}, {}]", input, min, max);
      return std::string();
    };
  }
};

// --set NAME=VALUE flags as a knob map (`run`, `profile`).
inline std::map<std::string, std::string> parseSets(const std::vector<std::string>& sets) {
  std::map<std::string, std::string> knobs;
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(fmt::format("--set '{}': expected NAME=VALUE, e.g. --set ddes.bin=64", s));
    knobs[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return knobs;
}

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
void addProfileCommand(CLI::App& app, const GlobalOptions& global);

}  // namespace hae::cli
