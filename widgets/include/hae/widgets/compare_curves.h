#pragma once
// Run A against run B over the steps, on shared axes: cache bytes, live slots per layer and step
// latency, one panel each, the same step range on all three and one cursor line (A's step). Both
// runs are redrawn at most every frame however fast they stream.
#include <qcustomplot.h>
#include <QTimer>

#include "hae/widgets/run_history.h"

namespace hae::widgets {

class CompareCurves : public QCustomPlot {
  Q_OBJECT
 public:
  enum Metric { CacheMiB = 0, LiveSlots = 1, StepMs = 2 };
  static constexpr int kMetrics = 3;

  CompareCurves(RunHistory* a, RunHistory* b, QWidget* parent = nullptr);

  QCPGraph* graph(Metric metric, int side) const { return graphs_[metric][side]; }  // side 0: A
  QCPAxisRect* panel(Metric metric) const { return rects_[metric]; }
  double cursorKey() const;  // the step the cursor marks, NaN when there is none
  void flush();              // rebuild and replot now (tests, exports)
  bool exportTo(const QString& path, QString* error = nullptr, QSize size = {});
  QSize sizeHint() const override { return {520, 420}; }

 private:
  void markDirty();
  void rebuild();

  RunHistory* histories_[2];
  QCPAxisRect* rects_[kMetrics] = {};
  QCPGraph* graphs_[kMetrics][2] = {};
  QCPItemStraightLine* cursors_[kMetrics] = {};
  QCPTextElement* title_ = nullptr;
  QTimer timer_;
  bool dirty_ = true;
};

}  // namespace hae::widgets
