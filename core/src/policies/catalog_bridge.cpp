// availablePolicies(): policyCatalog() behind a public header, so Qt files reach it without the
// policies' private headers (src/policies/ also holds the tensor code, which Qt files must never
// include).
#include "hae/policy_catalog.h"

#include "catalog.h"

namespace hae {

std::vector<PolicyDescription> availablePolicies() {
  std::vector<PolicyDescription> out;
  for (const PolicyInfo& p : policyCatalog())
    out.push_back({p.name, p.summary, p.knobs, p.stage, p.stage_detail});
  return out;
}

std::string policyStageMeaning(const std::string& letter) {
  for (const auto& [l, meaning] : policyStages())
    if (l == letter) return meaning;
  return "";
}

void checkPolicyKnobs(const std::string& name, const std::map<std::string, std::string>& knobs) {
  validateKnobs(name, knobs);
}

}  // namespace hae
