#pragma once
// A policy's settings after validation: built from its KnobSpec list and the user's `name=value`
// texts, so every policy reads typed values and never parses text itself. Torch-free.
#include <map>
#include <string>
#include <vector>

#include "hae/knobs.h"

namespace hae {

class KnobSet {
 public:
  // Checks every given knob against `specs` (known name, type, range, choice) and fills in the
  // defaults. Throws hae::Error naming the policy, the knob and its valid range.
  KnobSet(const std::string& policy, const std::vector<KnobSpec>& specs,
          const std::map<std::string, std::string>& given);

  int getInt(const std::string& name) const;
  double getFloat(const std::string& name) const;
  bool getBool(const std::string& name) const;
  const std::string& getChoice(const std::string& name) const;
  bool wasGiven(const std::string& name) const { return given_.count(name) > 0; }
  // Every knob as text in its canonical form (defaults included), for RunInfo and reports.
  const std::map<std::string, std::string>& asText() const { return text_; }
  // For cross-knob rules ("bin larger than budget"): an error naming the knob and the rule.
  [[noreturn]] void fail(const std::string& name, const std::string& why) const;

 private:
  const KnobSpec& spec(const std::string& name, KnobType type) const;
  std::string policy_;
  std::vector<KnobSpec> specs_;
  std::map<std::string, std::string> text_;
  std::map<std::string, double> numbers_;
  std::map<std::string, std::string> given_;
};

// "int in [1, 1000000]", "float in [0, 1]", "bool (true|false)", "one of a|b|c".
std::string knobRange(const KnobSpec& spec);
const char* knobTypeName(KnobType type);

}  // namespace hae
