#pragma once
// Self-description of a policy's settings, so the CLI can validate `--set name=value` and the GUI
// can build a form (name, type, range, default, help) without knowing the policy.
#include <string>
#include <vector>

namespace hae {

enum class KnobType { Int, Float, Bool, Choice };

struct KnobSpec {
  std::string name;           // dotted, e.g. "ddes.bin"
  KnobType type = KnobType::Float;
  double min = 0, max = 0;    // inclusive range for Int and Float
  std::string default_value;  // as text, e.g. "64", "0.0015", "true", "text-after-image"
  std::vector<std::string> choices;  // Choice only
  std::string help;
};

}  // namespace hae
