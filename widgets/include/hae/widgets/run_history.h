#pragma once
// The one model every view reads: the run's fixed description plus every step so far, and the
// step cursor. Views never keep their own copy of telemetry, so scrubbing the cursor back shows
// every view as it was at that step.
#include <QObject>
#include <memory>
#include <vector>

#include "hae/telemetry.h"

namespace hae::widgets {

// A change of one patch's state in one layer, found by comparing consecutive steps.
struct PatchChange {
  int step = 0;  // StepTelemetry::step where the new state first appears
  int layer = 0;
  PatchState from = PatchState::Kept;
  PatchState to = PatchState::Kept;
};

// How many layers hold a patch (or token) in each state.
struct StateCounts {
  int kept = 0, in_bin = 0, evicted = 0;
  int total() const { return kept + in_bin + evicted; }
};

class RunHistory : public QObject {
  Q_OBJECT
 public:
  using StepPtr = std::shared_ptr<const StepTelemetry>;
  static constexpr int kAllLayers = -1;

  explicit RunHistory(QObject* parent = nullptr);

  // Starts a new run: drops all steps, the cursor goes to "none" (-1).
  void reset(RunInfo info);
  // Appends one step. When the cursor was on the latest step (or there was none) it follows the
  // new one; a user who scrubbed back keeps looking at the step they chose.
  void appendStep(StepPtr step);

  const RunInfo& info() const { return info_; }
  int stepCount() const { return static_cast<int>(steps_.size()); }
  bool empty() const { return steps_.empty(); }
  const StepTelemetry& step(int index) const { return *steps_.at(index); }
  StepPtr stepPtr(int index) const { return steps_.at(index); }
  // Layer count from RunInfo, or from the first step when RunInfo left it 0.
  int numLayers() const;
  int visualCount() const { return static_cast<int>(info_.visual_tokens.size()); }

  int cursor() const { return cursor_; }  // index into the steps, -1 when there are none
  const StepTelemetry* cursorStep() const;
  bool cursorAtLatest() const { return cursor_ == stepCount() - 1; }

  // State of visual token `visual` in `layer` at step index `index` (Kept when not reported).
  PatchState patchState(int visual, int layer, int index) const;
  StateCounts patchCounts(int visual, int index) const;  // over all layers
  // Every state change of one patch up to and including step index `upTo`; layer kAllLayers
  // gives the changes of all layers in step order.
  std::vector<PatchChange> patchChanges(int visual, int layer, int upTo) const;
  // Policy events for the token at original position `position` up to step index `upTo`.
  std::vector<PolicyEvent> eventsFor(int position, int upTo) const;
  // State of every position (prompt and generated) in `layer` at step index `upTo`, replayed
  // from the whole-token events (head == -1); head-level events leave the token alive. Visual
  // tokens take their state from patch_states instead, which is authoritative for them.
  // kAllLayers summarises: Evicted when gone in every layer, InBin when no layer keeps it live.
  std::vector<PatchState> tokenStates(int layer, int upTo) const;

 public slots:
  void setCursor(int index);  // clamped to the steps there are

 signals:
  void runReset();
  void stepAppended(int index);
  void cursorChanged(int index);

 private:
  RunInfo info_;
  std::vector<StepPtr> steps_;
  int cursor_ = -1;
};

}  // namespace hae::widgets
