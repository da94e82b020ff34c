#pragma once
// One line that names a run for exported pictures: "model demo · policy hae · ddes.budget=0.3,
// ddes.bin=8". Knobs at their defaults are left out when the defaults are known (the policy form
// records the specs it is given), so a 30-knob policy does not fill the picture.
#include <QString>
#include <map>
#include <string>
#include <vector>

#include "hae/knobs.h"
#include "hae/telemetry.h"

namespace hae::widgets {

// Remembers the defaults of a policy's knobs for runCaption (PolicyForm::setPolicies calls it).
void rememberKnobDefaults(const std::string& policy, const std::vector<KnobSpec>& knobs);
// The knobs of `info` that differ from the remembered defaults (all of them when none are known).
std::map<std::string, std::string> changedKnobs(const RunInfo& info);
QString runCaption(const RunInfo& info);

}  // namespace hae::widgets
