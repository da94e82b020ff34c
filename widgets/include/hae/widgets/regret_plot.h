#pragma once
// What eviction cost, per step, measured by the full-cache shadow (StepTelemetry::shadow): on top,
// KL(full || policy) of the next-token distributions (left axis) and whether the two top-1 choices
// agree (right axis, 1 = agree); below, the full model's attention that fell on tokens the
// policy's cache no longer shows (ShadowLayer::missed()), as a layer x step heat map. Both parts
// follow the shared step cursor. Steps without a shadow are left out; with none at all the plot
// says how to turn it on.
#include "hae/widgets/live_plot.h"

namespace hae::widgets {

class RegretPlot : public LivePlot {
  Q_OBJECT
 public:
  explicit RegretPlot(RunHistory* history, QWidget* parent = nullptr);

  QCPGraph* klGraph() const { return kl_; }
  QCPGraph* agreementGraph() const { return agree_; }  // 1 agree, 0 differ
  QCPGraph* disagreementGraph() const { return differ_; }  // the steps that differ, drawn red
  QCPColorMap* colorMap() const { return map_; }
  QCPColorScale* colorScale() const { return scale_; }
  QCPAxisRect* divergenceRect() const { return axisRect(0); }
  QCPAxisRect* missedRect() const { return missedRect_; }
  QCPItemStraightLine* missedCursorLine() const { return missedCursor_; }
  // The first step whose two top-1 choices differ: the step after which the policy's answer
  // parts from the full cache's greedy one (a dotted line labelled "answers part"); -1: never.
  int partingStep() const { return parting_; }
  // The heat map's data: one column per step with a shadow.
  int columnCount() const { return static_cast<int>(steps_.size()); }
  int columnStep(int column) const { return steps_.at(column); }
  double missedAt(int column, int layer) const;  // NaN when that column has no such layer
  QString summaryText() const;  // the line under the title: the cursor step's figures

 protected:
  void clearData() override;
  void appendStepData(int index) override;
  void cursorMoved(int index) override;
  void prepareReplot() override;

 private:
  QCPGraph* kl_ = nullptr;
  QCPGraph* agree_ = nullptr;
  QCPGraph* differ_ = nullptr;
  QCPAxisRect* missedRect_ = nullptr;
  QCPColorMap* map_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  QCPItemStraightLine* missedCursor_ = nullptr;
  QCPItemStraightLine* partLine_ = nullptr;
  QCPItemText* partLabel_ = nullptr;
  int parting_ = -1;
  QCPTextElement* summary_ = nullptr;
  std::vector<std::vector<double>> columns_;  // missed mass per layer, one column per step
  std::vector<int> steps_;                    // StepTelemetry::step of each column
  bool mapDirty_ = true;
};

}  // namespace hae::widgets
