// The per-run options of issue 16 (the full-cache shadow, what-if overrides) handed to the Session.
// SessionOptions carries them, so a Session built with them runs with them; setters that change
// them between runs (as setPolicy does for the policy) are used when the Session has them, found
// at compile time, so this file works before and after the core adds them.
#include <mutex>

#include "session_worker.h"

namespace hae::studio {

namespace {

template <typename S>
bool trySetShadow(S& session, const ShadowOptions& shadow) {
  if constexpr (requires { session.setShadow(shadow); }) {
    session.setShadow(shadow);
    return true;
  } else {
    return false;
  }
}

template <typename S>
bool trySetOverrides(S& session, const KeepOverrides& overrides) {
  if constexpr (requires { session.setOverrides(overrides); }) {
    session.setOverrides(overrides);
    return true;
  } else {
    return false;
  }
}

}  // namespace

void SessionWorker::applyRunOptions(const RunRequest& request) {
  ShadowOptions shadow = built_.shadow;
  shadow.mode = request.shadow_mode.empty() ? std::string("off") : request.shadow_mode;
  KeepOverrides overrides{request.force_keep, request.force_evict};
  const bool sameShadow = shadow.mode == built_.shadow.mode;
  const bool sameOverrides = overrides.force_keep == built_.overrides.force_keep &&
                             overrides.force_evict == built_.overrides.force_evict;
  if (sameShadow && sameOverrides) return;

  bool applied = true;
  {
    std::lock_guard lock(mutex_);
    if (!sameShadow) applied = trySetShadow(*session_, shadow) && applied;
    if (!sameOverrides && applied) applied = trySetOverrides(*session_, overrides) && applied;
  }
  SessionOptions wanted = built_;
  wanted.shadow = shadow;
  wanted.overrides = overrides;
  if (!applied) {
    // No setter: a Session built with the new options (the model is read again, a fraction of a
    // second for the demo model). Built before the swap, so a failure leaves the old one.
    auto fresh = std::make_unique<Session>(wanted);
    std::unique_ptr<Session> old;
    {
      std::lock_guard lock(mutex_);
      old = std::move(session_);
      session_ = std::move(fresh);
    }
  }
  built_ = wanted;
}

}  // namespace hae::studio
