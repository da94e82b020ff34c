#include "run_summary.h"

#include <algorithm>

#include "hae/widgets/run_history.h"

namespace hae::studio {

RunSummary summarizeRun(const widgets::RunHistory& history) {
  RunSummary s;
  if (history.empty()) return s;
  s.valid = true;
  s.policy = QString::fromStdString(history.info().policy_name);
  constexpr double kMiB = 1024.0 * 1024.0;
  double decodeMs = 0, policyMs = 0;
  for (int i = 0; i < history.stepCount(); ++i) {
    const StepTelemetry& t = history.step(i);
    const double bytes = static_cast<double>(t.totalBytes()) / kMiB;
    s.peak_cache_mib = std::max(s.peak_cache_mib, bytes);
    if (t.step == 0) {
      s.prefill_ms = t.model_ms + t.policy_ms;
    } else {
      ++s.generated;
      decodeMs += t.model_ms + t.policy_ms;
      policyMs += t.policy_ms;
    }
    if (t.shadow) {
      ++s.shadow_steps;
      s.kl_mean += t.shadow->kl;
      s.kl_max = std::max(s.kl_max, t.shadow->kl);
      s.top1_agreement += t.shadow->top1_agree ? 1 : 0;
      double missed = 0;
      for (const ShadowLayer& l : t.shadow->layers) missed += l.missed();
      if (!t.shadow->layers.empty()) s.missed_mean += missed / t.shadow->layers.size();
    }
  }
  if (s.shadow_steps > 0) {
    s.kl_mean /= s.shadow_steps;
    s.top1_agreement /= s.shadow_steps;
    s.missed_mean /= s.shadow_steps;
  }
  if (s.generated > 0) {
    s.decode_ms_mean = decodeMs / s.generated;
    s.policy_ms_mean = policyMs / s.generated;
    if (decodeMs > 0) s.tokens_per_s = 1000.0 * s.generated / decodeMs;
  }
  const StepTelemetry& last = history.step(history.stepCount() - 1);
  s.cache_mib = static_cast<double>(last.totalBytes()) / kMiB;
  long kept = 0, total = 0;
  for (const auto& layer : last.patch_states) {
    total += static_cast<long>(layer.size());
    kept += std::count(layer.begin(), layer.end(), PatchState::Kept);
  }
  s.visual_kept = total > 0 ? static_cast<double>(kept) / total : 1.0;
  return s;
}

}  // namespace hae::studio
