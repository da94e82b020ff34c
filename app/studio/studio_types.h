#pragma once
// Values that cross from the worker thread to the window. Everything is an immutable snapshot or a
// plain copy, so the window never touches the Session or any torch state.
#include <QMetaType>
#include <QString>
#include <QStringList>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hae/telemetry.h"

namespace hae::studio {

// Tags every command and every result. The window bumps it when it starts a new run, so results
// still in flight from the run it replaced are recognised and dropped.
using RunId = quint64;
using StepPtr = std::shared_ptr<const StepTelemetry>;
using StepList = std::shared_ptr<const std::vector<StepTelemetry>>;
using RunInfoPtr = std::shared_ptr<const RunInfo>;
using KnobMap = std::map<std::string, std::string>;

// What a prefill needs; copied into the worker's queue.
struct RunRequest {
  QString prompt;
  QStringList images;
  std::string policy = "full";
  KnobMap knobs;
  int max_new_tokens = 64;
  // Issue 16: the full-cache shadow ("off", "forced", "free") and what-if edits (original token
  // positions force-kept / force-evicted over the policy), as SessionOptions::shadow / overrides.
  std::string shadow_mode = "off";
  std::vector<int> force_keep, force_evict;
};

// Why a run stopped producing tokens.
enum class StopReason { Finished, Paused, StepDone, Cancelled };

// Registers the types above for queued signals; idempotent.
void registerStudioMetaTypes();

}  // namespace hae::studio

Q_DECLARE_METATYPE(hae::studio::StepPtr)
Q_DECLARE_METATYPE(hae::studio::StepList)
Q_DECLARE_METATYPE(hae::studio::RunInfoPtr)
Q_DECLARE_METATYPE(hae::studio::StopReason)
