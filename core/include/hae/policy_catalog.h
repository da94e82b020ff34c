#pragma once
// The policies this build knows, with their knobs, behind a torch-free header: the GUI builds its
// policy form from this without seeing the engine (policy.h pulls in LibTorch).
#include <map>
#include <string>
#include <vector>

#include "hae/knobs.h"

namespace hae {

struct PolicyDescription {
  std::string name;
  std::string summary;
  std::vector<KnobSpec> knobs;
  std::string stage;         // V, P, K or "P+K" (see policyStageMeaning)
  std::string stage_detail;  // when the policy acts, in words
};

std::vector<PolicyDescription> availablePolicies();

// "V: decided on the vision side ..." for a stage letter V, P or K; "" for anything else.
std::string policyStageMeaning(const std::string& letter);

// Checks `knobs` for the policy `name` as `hae run --set` does (a known knob, its type and range,
// the rules that tie knobs together) and throws hae::Error naming the policy, the knob and its
// valid range. The GUI form clamps what it is given; a scripted run must refuse instead.
void checkPolicyKnobs(const std::string& name, const std::map<std::string, std::string>& knobs);

}  // namespace hae
