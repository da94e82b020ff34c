// `hae policies`: every eviction policy this build knows, with its knobs (name, type, range,
// default, help) and its stage (V, P, K: where in the pipeline it acts), so `--policy NAME --set
// knob=value` can be written without reading the source.
#include <fmt/core.h>

#include "cli_context.h"
#include "policies/catalog.h"

namespace hae::cli {

void addPoliciesCommand(CLI::App& app, const GlobalOptions&) {
  auto* cmd = app.add_subcommand("policies", "List the eviction policies and their knobs");
  cmd->callback([] {
    fmt::print("Stages:\n");
    for (const auto& [letter, meaning] : policyStages()) fmt::print("  {}  {}\n", letter, meaning);
    fmt::print("\n");
    for (const PolicyInfo& p : policyCatalog()) {
      fmt::print("{}\n  stage {}: {}\n  {}\n", p.name, p.stage, p.stage_detail, p.summary);
      if (p.knobs.empty()) fmt::print("  (no knobs)\n");
      for (const KnobSpec& k : p.knobs)
        fmt::print("  {:<26} {:<42} default {:<18} {}\n", k.name, knobRange(k), k.default_value,
                   k.help);
      fmt::print("\n");
    }
  });
}

}  // namespace hae::cli
