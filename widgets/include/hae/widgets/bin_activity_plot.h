#pragma once
#include "hae/widgets/live_plot.h"

namespace hae::widgets {

// Per step: the policy's events by kind (evictions, demotions to the recycle bin, restores,
// purges) as grouped bars, and the recycle bin's occupancy (mean slots per layer) as a line on
// the right axis. An event broadcast to all layers counts once. When the prefill's burst dwarfs
// the decode steps the axis fits the decode steps and a label gives the prefill's counts.
class BinActivityPlot : public LivePlot {
  Q_OBJECT
 public:
  explicit BinActivityPlot(RunHistory* history, QWidget* parent = nullptr);

  QCPBars* bars(EventKind kind) const { return bars_[static_cast<int>(kind)]; }
  QCPGraph* occupancyGraph() const { return occupancy_; }
  // Set when the prefill's counts are off the scale fitted to the decode steps.
  QString prefillText() const {
    return prefillLabel_->visible() ? prefillLabel_->text() : QString();
  }

 protected:
  void clearData() override;
  void appendStepData(int index) override;
  void prepareReplot() override;

 private:
  QCPBars* bars_[4] = {};
  QCPBarsGroup* group_ = nullptr;
  QCPGraph* occupancy_ = nullptr;
  QCPItemText* prefillLabel_ = nullptr;
};

}  // namespace hae::widgets
