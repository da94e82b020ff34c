#pragma once
#include "hae/widgets/live_plot.h"

namespace hae::widgets {

// Milliseconds per decode step: model compute and the policy's own overhead as two series. The
// prefill (step 0) is one or two orders of magnitude longer, so it is written as a line under the
// title rather than plotted, which would flatten every decode step against the axis. The legend
// has its own row too: neither ever covers the data.
class LatencyPlot : public LivePlot {
  Q_OBJECT
 public:
  explicit LatencyPlot(RunHistory* history, QWidget* parent = nullptr);

  QCPGraph* modelGraph() const { return model_; }
  QCPGraph* policyGraph() const { return policy_; }
  QString prefillText() const;
  QCPTextElement* prefillElement() const { return prefillLabel_; }

 protected:
  void clearData() override;
  void appendStepData(int index) override;
  void prepareReplot() override;

 private:
  QCPGraph* model_ = nullptr;
  QCPGraph* policy_ = nullptr;
  QCPTextElement* prefillLabel_ = nullptr;
  double prefillModelMs_ = -1, prefillPolicyMs_ = -1;
};

}  // namespace hae::widgets
