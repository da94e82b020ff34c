#pragma once
#include "hae/widgets/live_plot.h"

namespace hae::widgets {

// Layer x step heat map of live cache slots. The colour map is rebuilt once per frame rather than
// per step, since QCPColorMapData cannot grow in place.
class OccupancyHeatmap : public LivePlot {
  Q_OBJECT
 public:
  explicit OccupancyHeatmap(RunHistory* history, QWidget* parent = nullptr);

  QCPColorMap* colorMap() const { return map_; }
  QCPColorScale* colorScale() const { return scale_; }
  int columnCount() const { return static_cast<int>(columns_.size()); }

 protected:
  void clearData() override;
  void appendStepData(int index) override;
  void prepareReplot() override;

 private:
  QCPColorMap* map_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  std::vector<std::vector<int>> columns_;  // live slots per layer, one column per step
  std::vector<int> steps_;                 // StepTelemetry::step of each column
  bool mapDirty_ = true;
};

}  // namespace hae::widgets
