// The catalog of policies and creation by name.
#include <fmt/format.h>

#include "full_policy.h"
#include "hae/error.h"
#include "policy.h"

namespace hae {

const std::vector<PolicyInfo>& policyCatalog() {
  static const std::vector<PolicyInfo> catalog = {
      {"full", "No eviction: every KV entry stays (the reference).", {}},
  };
  return catalog;
}

std::unique_ptr<Policy> makePolicy(const std::string& name, const std::map<std::string, std::string>& knobs) {
  if (name == "full") {
    if (!knobs.empty()) throw Error(fmt::format("policy 'full' has no knobs (got '{}')", knobs.begin()->first));
    return std::make_unique<FullPolicy>();
  }
  std::string known;
  for (const auto& p : policyCatalog()) known += (known.empty() ? "" : ", ") + p.name;
  throw Error(fmt::format("unknown policy '{}' (known: {})", name, known));
}

}  // namespace hae
