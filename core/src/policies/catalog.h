#pragma once
// The policies this build knows and their knobs, torch-free so the CLI's listing, the GUI form
// and the validation tests need no LibTorch.
#include <map>
#include <string>
#include <vector>

#include "hae/knobs.h"
#include "knob_set.h"

namespace hae {

struct PolicyInfo {
  std::string name;
  std::string summary;
  std::vector<KnobSpec> knobs;
  // Where the policy acts: V = on the vision side before the decoder runs (the decoder never sees
  // the dropped tokens), P = inside the decoder at prefill (hidden rows dropped after a layer),
  // K = the KV cache only (after prefill and/or during decode); "P+K" for two-stage policies.
  std::string stage;
  std::string stage_detail;  // when exactly, in words ("K at every decode step")
};

// The stage labels in order, with their meaning, for listings and legends.
const std::vector<std::pair<std::string, std::string>>& policyStages();

// Every policy this build knows, with its knobs (for --help, validation and the GUI form).
const std::vector<PolicyInfo>& policyCatalog();
// The catalog entry for `name`; throws hae::Error listing the known names.
const PolicyInfo& policyInfo(const std::string& name);
// Validates `knobs` for policy `name`, including the rules that tie knobs together.
KnobSet validateKnobs(const std::string& name, const std::map<std::string, std::string>& knobs);

}  // namespace hae
