#pragma once
// The figures a comparison puts side by side, computed from a run's telemetry.
#include <QString>

namespace hae::widgets {
class RunHistory;
}

namespace hae::studio {

struct RunSummary {
  QString policy;
  int generated = 0;          // decode steps so far
  double prefill_ms = 0;      // model + policy
  double decode_ms_mean = 0;  // per token, model + policy
  double policy_ms_mean = 0;  // per token, the policy's share
  double tokens_per_s = 0;    // from the decode steps' compute time
  double cache_mib = 0;       // at the latest step
  double peak_cache_mib = 0;
  double visual_kept = 0;  // share of (visual token, layer) pairs still live, latest step
  // Against the full-cache shadow (issue 16), over the steps that have one (shadow_steps).
  int shadow_steps = 0;
  double kl_mean = 0, kl_max = 0;
  double top1_agreement = 0;  // share of steps whose top-1 choices agree
  double missed_mean = 0;     // missed attention, mean over layers and steps
  bool valid = false;
};

RunSummary summarizeRun(const widgets::RunHistory& history);

}  // namespace hae::studio
