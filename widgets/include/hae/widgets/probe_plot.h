#pragma once
// HAE's observation probes (StepTelemetry::probes, filled at the prefill with the knob probes=1)
// as a plot per layer, so a user sees on their own model and image whether the two observations
// behind DAP and index broadcasting hold: on top, the variance of the cumulative attention per
// modality (visual against text); below, the sparsity per modality (share of attention
// probabilities under the threshold) and the overlap of layer l0's kept visual set with what each
// layer would keep by the same rule. x = layer. Shows the probes of the last step at or before the
// cursor that has them (the prefill).
#include "hae/widgets/live_plot.h"

namespace hae::widgets {

class ProbePlot : public LivePlot {
  Q_OBJECT
 public:
  explicit ProbePlot(RunHistory* history, QWidget* parent = nullptr);

  QCPGraph* visualVarianceGraph() const { return varVisual_; }
  QCPGraph* textVarianceGraph() const { return varText_; }
  QCPGraph* visualSparsityGraph() const { return sparVisual_; }
  QCPGraph* textSparsityGraph() const { return sparText_; }
  QCPGraph* overlapGraph() const { return overlap_; }  // layers with no overlap figure are left out
  QCPAxisRect* varianceRect() const { return axisRect(0); }
  QCPAxisRect* ratioRect() const { return ratioRect_; }
  int shownStepIndex() const { return shown_; }  // the step whose probes are drawn, -1: none
  QString statusText() const;

 protected:
  void clearData() override;
  void appendStepData(int index) override;
  void cursorMoved(int index) override;
  void prepareReplot() override;

 private:
  int probeStepFor(int cursor) const;
  void fill();

  QCPGraph* varVisual_ = nullptr;
  QCPGraph* varText_ = nullptr;
  QCPGraph* sparVisual_ = nullptr;
  QCPGraph* sparText_ = nullptr;
  QCPGraph* overlap_ = nullptr;
  QCPAxisRect* ratioRect_ = nullptr;
  QCPTextElement* status_ = nullptr;
  std::vector<int> withProbes_;  // step indices that carry probes
  int shown_ = -1;
  bool filled_ = false;
};

}  // namespace hae::widgets
