#pragma once
#include "policy.h"

namespace hae {

// No eviction: the reference every other policy is measured against.
class FullPolicy final : public Policy {
 public:
  std::string name() const override { return "full"; }
  std::map<std::string, std::string> settings() const override { return {}; }
};

}  // namespace hae
