#include "hae/widgets/run_history.h"

#include <algorithm>

namespace hae::widgets {

RunHistory::RunHistory(QObject* parent) : QObject(parent) {}

void RunHistory::reset(RunInfo info) {
  info_ = std::move(info);
  steps_.clear();
  cursor_ = -1;
  emit runReset();
  emit cursorChanged(cursor_);
}

void RunHistory::appendStep(StepPtr step) {
  if (!step) return;
  const bool follow = cursorAtLatest();
  steps_.push_back(std::move(step));
  const int index = stepCount() - 1;
  emit stepAppended(index);
  if (follow) {
    cursor_ = index;
    emit cursorChanged(cursor_);
  }
}

int RunHistory::numLayers() const {
  if (info_.num_layers > 0) return info_.num_layers;
  return steps_.empty() ? 0 : static_cast<int>(steps_.front()->layers.size());
}

const StepTelemetry* RunHistory::cursorStep() const {
  return cursor_ >= 0 && cursor_ < stepCount() ? steps_[cursor_].get() : nullptr;
}

void RunHistory::setCursor(int index) {
  index = std::clamp(index, steps_.empty() ? -1 : 0, stepCount() - 1);
  if (index == cursor_) return;
  cursor_ = index;
  emit cursorChanged(cursor_);
}

PatchState RunHistory::patchState(int visual, int layer, int index) const {
  if (index < 0 || index >= stepCount()) return PatchState::Kept;
  const auto& states = steps_[index]->patch_states;
  if (layer < 0 || layer >= static_cast<int>(states.size())) return PatchState::Kept;
  const auto& row = states[layer];
  return visual >= 0 && visual < static_cast<int>(row.size()) ? row[visual] : PatchState::Kept;
}

StateCounts RunHistory::patchCounts(int visual, int index) const {
  StateCounts counts;
  for (int layer = 0; layer < numLayers(); ++layer) {
    switch (patchState(visual, layer, index)) {
      case PatchState::Kept:
        ++counts.kept;
        break;
      case PatchState::InBin:
        ++counts.in_bin;
        break;
      case PatchState::Evicted:
        ++counts.evicted;
        break;
    }
  }
  return counts;
}

std::vector<PatchChange> RunHistory::patchChanges(int visual, int layer, int upTo) const {
  std::vector<PatchChange> changes;
  upTo = std::min(upTo, stepCount() - 1);
  const int first = layer == kAllLayers ? 0 : layer;
  const int last = layer == kAllLayers ? numLayers() - 1 : layer;
  // Every patch starts the run kept; the prefill step (index 0) already shows what the policy
  // dropped while the prompt went through the layers.
  for (int index = 0; index <= upTo; ++index) {
    for (int l = first; l <= last; ++l) {
      const PatchState before = index == 0 ? PatchState::Kept : patchState(visual, l, index - 1);
      const PatchState now = patchState(visual, l, index);
      if (now != before) changes.push_back({steps_[index]->step, l, before, now});
    }
  }
  return changes;
}

std::vector<PolicyEvent> RunHistory::eventsFor(int position, int upTo) const {
  std::vector<PolicyEvent> events;
  upTo = std::min(upTo, stepCount() - 1);
  for (int index = 0; index <= upTo; ++index) {
    for (const auto& e : steps_[index]->events) {
      if (e.position == position) events.push_back(e);
    }
  }
  return events;
}

namespace {

PatchState applyEvent(PatchState state, EventKind kind) {
  switch (kind) {
    case EventKind::Evict:
      return PatchState::Evicted;
    case EventKind::Demote:
      return PatchState::InBin;
    case EventKind::Restore:
      return PatchState::Kept;
    case EventKind::Purge:
      return PatchState::Evicted;
  }
  return state;
}

}  // namespace

std::vector<PatchState> RunHistory::tokenStates(int layer, int upTo) const {
  upTo = std::min(upTo, stepCount() - 1);
  int positions = static_cast<int>(info_.tokens.size());
  for (const auto& t : info_.tokens) positions = std::max(positions, t.position + 1);
  if (upTo >= 0) positions = std::max(positions, steps_[upTo]->context_length);
  for (int index = 0; index <= upTo; ++index) {
    for (const auto& e : steps_[index]->events) positions = std::max(positions, e.position + 1);
  }

  const int layers = std::max(1, numLayers());
  // One state row per layer; replaying events is linear in the events seen so far.
  std::vector<std::vector<PatchState>> perLayer(
      layer == kAllLayers ? layers : 1, std::vector<PatchState>(positions, PatchState::Kept));
  for (int index = 0; index <= upTo; ++index) {
    for (const auto& e : steps_[index]->events) {
      if (e.head >= 0 || e.position < 0) continue;
      if (layer == kAllLayers) {
        for (int l = 0; l < layers; ++l) {
          if (e.layer < 0 || e.layer == l)
            perLayer[l][e.position] = applyEvent(perLayer[l][e.position], e.kind);
        }
      } else if (e.layer < 0 || e.layer == layer) {
        perLayer[0][e.position] = applyEvent(perLayer[0][e.position], e.kind);
      }
    }
  }
  if (layer != kAllLayers) return perLayer[0];

  std::vector<PatchState> summary(positions, PatchState::Kept);
  for (int p = 0; p < positions; ++p) {
    bool anyKept = false, allEvicted = true;
    for (int l = 0; l < layers; ++l) {
      anyKept |= perLayer[l][p] == PatchState::Kept;
      allEvicted &= perLayer[l][p] == PatchState::Evicted;
    }
    summary[p] = allEvicted ? PatchState::Evicted : anyKept ? PatchState::Kept : PatchState::InBin;
  }
  return summary;
}

}  // namespace hae::widgets
