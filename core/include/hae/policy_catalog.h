#pragma once
// The policies this build knows, with their knobs, behind a torch-free header: the GUI builds its
// policy form from this without seeing the engine (policy.h pulls in LibTorch).
#include <string>
#include <vector>

#include "hae/knobs.h"

namespace hae {

struct PolicyDescription {
  std::string name;
  std::string summary;
  std::vector<KnobSpec> knobs;
};

std::vector<PolicyDescription> availablePolicies();

}  // namespace hae
