#pragma once
#include "hae/widgets/live_plot.h"

namespace hae::widgets {

// Per step: the policy's events by kind (evictions, demotions to the recycle bin, restores,
// purges) as one stacked bar centred on the step's tick, and the recycle bin's occupancy (mean
// slots per layer) as a line on the right axis. An event broadcast to all layers counts once. When
// the prefill's burst dwarfs the decode steps the axis fits the decode steps and a line under the
// title gives the prefill's counts (outside the plot area, so it never lies on the bars or the
// occupancy line).
class BinActivityPlot : public LivePlot {
  Q_OBJECT
 public:
  explicit BinActivityPlot(RunHistory* history, QWidget* parent = nullptr);

  QCPBars* bars(EventKind kind) const { return bars_[static_cast<int>(kind)]; }
  QCPGraph* occupancyGraph() const { return occupancy_; }
  // Set when the prefill's counts are off the scale fitted to the decode steps.
  QString prefillText() const { return prefillText_; }
  QCPTextElement* prefillElement() const { return prefillLabel_; }

 protected:
  void clearData() override;
  void appendStepData(int index) override;
  void prepareReplot() override;
  // Fewer legend columns when narrow (a half-width plot at 1280 px), so no entry is cut off.
  void resizeEvent(QResizeEvent* event) override;

 private:
  void fitLegend();

  QCPBars* bars_[4] = {};
  QCPGraph* occupancy_ = nullptr;
  QCPTextElement* prefillLabel_ = nullptr;
  QString prefillText_;
};

}  // namespace hae::widgets
