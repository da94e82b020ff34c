// The shadow's run-level numbers (issue 16), apart from the writers so the CLI and the HTML
// report state the same figures.
#include <algorithm>
#include <cmath>

#include "hae/report.h"

namespace hae {

std::optional<ShadowSummary> summarizeShadow(const std::vector<StepTelemetry>& steps) {
  ShadowSummary s;
  int agree = 0;
  bool free_running = false, stopped = false;
  for (const auto& t : steps) {
    for (const auto& r : t.regrets)
      (r.kind == RegretKind::RegrettedPurge ? s.regretted_purges : s.timely_restores)++;
    if (!t.shadow) {
      // A free-running shadow stops measuring when it ends its own answer: the policy run going
      // on is a divergence.
      if (free_running && !stopped && s.first_divergence < 0 && t.step > 0) s.first_divergence = t.step;
      stopped = true;
      continue;
    }
    const ShadowStep& sh = *t.shadow;
    ++s.steps;
    if (std::isfinite(sh.kl)) {
      s.mean_kl += sh.kl;
      if (sh.kl > s.worst_kl || s.steps == 1) s.worst_kl = sh.kl, s.worst_kl_step = t.step;
    }
    agree += sh.top1_agree ? 1 : 0;
    double visual = 0, text = 0;
    for (const auto& l : sh.layers) {
      const int v = static_cast<int>(Modality::Visual);
      const double lv = double(l.missed_evicted[v]) + l.missed_binned[v];
      visual += lv;
      text += l.missed() - lv;
      s.worst_missed = std::max(s.worst_missed, l.missed());
    }
    if (!sh.layers.empty()) {
      s.mean_missed_visual += visual / sh.layers.size();
      s.mean_missed_text += text / sh.layers.size();
    }
    s.shadow_ms += std::isfinite(sh.ms) ? sh.ms : 0;
    if (sh.full_token_id >= 0) {
      free_running = true;
      if (s.first_divergence < 0 && t.step > 0 && sh.full_token_id != t.token_id)
        s.first_divergence = t.step;
    }
  }
  if (s.steps == 0) return std::nullopt;
  s.mean_kl /= s.steps;
  s.top1_agreement = static_cast<double>(agree) / s.steps;
  s.mean_missed_visual /= s.steps;
  s.mean_missed_text /= s.steps;
  return s;
}

}  // namespace hae
