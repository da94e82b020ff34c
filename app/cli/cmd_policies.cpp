// `hae policies`: every eviction policy this build knows, with its knobs (name, type, range,
// default, help), so `--policy NAME --set knob=value` can be written without reading the source.
#include <fmt/core.h>

#include "cli_context.h"
#include "policies/catalog.h"

namespace hae::cli {

void addPoliciesCommand(CLI::App& app, const GlobalOptions&) {
  auto* cmd = app.add_subcommand("policies", "List the eviction policies and their knobs");
  cmd->callback([] {
    for (const PolicyInfo& p : policyCatalog()) {
      fmt::print("{}\n  {}\n", p.name, p.summary);
      if (p.knobs.empty()) fmt::print("  (no knobs)\n");
      for (const KnobSpec& k : p.knobs)
        fmt::print("  {:<26} {:<42} default {:<18} {}\n", k.name, knobRange(k), k.default_value,
                   k.help);
      fmt::print("\n");
    }
  });
}

}  // namespace hae::cli
