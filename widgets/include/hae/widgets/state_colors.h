#pragma once
// One palette for kept / in-bin / evicted everywhere (overlay, token stream, plots), so a colour
// means the same thing in every view of the window.
#include <QColor>

#include "hae/telemetry.h"

namespace hae::widgets {

// Fill drawn over a patch. Kept patches stay clear so the image shows through.
inline QColor stateFill(PatchState s) {
  switch (s) {
    case PatchState::Kept:
      return {0, 0, 0, 0};
    case PatchState::InBin:
      return {255, 176, 0, 150};  // amber
    case PatchState::Evicted:
      return {110, 0, 0, 190};  // dark red
  }
  return {};
}

// Opaque versions for legends, text and plot series.
inline QColor stateSolid(PatchState s) {
  switch (s) {
    case PatchState::Kept:
      return {46, 160, 67};
    case PatchState::InBin:
      return {230, 150, 0};
    case PatchState::Evicted:
      return {140, 20, 20};
  }
  return {};
}

// Series colours shared by the plots: visual tokens versus everything else.
inline QColor visualSeries() {
  return {52, 120, 210};
}
inline QColor textSeries() {
  return {150, 90, 190};
}

inline QColor keptOutline() {
  return {140, 255, 140, 150};
}  // light green

}  // namespace hae::widgets
