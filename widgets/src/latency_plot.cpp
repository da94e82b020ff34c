#include "hae/widgets/latency_plot.h"

#include <algorithm>

namespace hae::widgets {

LatencyPlot::LatencyPlot(RunHistory* history, QWidget* parent) : LivePlot(history, parent) {
  plotLayout()->insertRow(0);
  plotLayout()->addElement(
      0, 0, new QCPTextElement(this, QStringLiteral("Latency per step"), titleFont()));
  xAxis->setLabel(QStringLiteral("decode step"));
  yAxis->setLabel(QStringLiteral("ms"));

  model_ = addGraph();
  model_->setName(QStringLiteral("model compute"));
  model_->setPen(QPen(QColor(52, 120, 210), 2));
  model_->setBrush(QColor(52, 120, 210, 40));
  policy_ = addGraph();
  policy_->setName(QStringLiteral("policy overhead"));
  policy_->setPen(QPen(QColor(225, 110, 20), 2));
  policy_->setBrush(QColor(225, 110, 20, 50));
  for (auto* g : {model_, policy_}) g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 4));

  // Under the title: the prefill's times, then the legend, each in its own row, so neither lies
  // on the data however narrow the plot (the legend used to cover the prefill label).
  prefillLabel_ = new QCPTextElement(this, QString(), QFont());
  prefillLabel_->setTextColor(QColor(70, 70, 70));
  plotLayout()->insertRow(1);
  plotLayout()->addElement(1, 0, prefillLabel_);
  axisRect()->insetLayout()->take(legend);
  plotLayout()->insertRow(2);
  plotLayout()->addElement(2, 0, legend);
  for (int row : {0, 1, 2}) plotLayout()->setRowStretchFactor(row, 0.01);
  legend->setVisible(true);
  legend->setBorderPen(Qt::NoPen);
  legend->setBrush(Qt::NoBrush);
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setMargins(QMargins(4, 0, 4, 0));
  QFont f = legend->font();
  f.setPointSizeF(f.pointSizeF() * 0.85);
  legend->setFont(f);
  prefillLabel_->setFont(f);

  setStepAxisRect(axisRect());
  rebuild();
}

QString LatencyPlot::prefillText() const {
  if (prefillModelMs_ < 0) return {};
  return QStringLiteral("prefill: %1 ms model, %2 ms policy")
      .arg(prefillModelMs_, 0, 'f', 1)
      .arg(prefillPolicyMs_, 0, 'f', 2);
}

void LatencyPlot::clearData() {
  model_->data()->clear();
  policy_->data()->clear();
  prefillModelMs_ = prefillPolicyMs_ = -1;
}

void LatencyPlot::appendStepData(int index) {
  const StepTelemetry& s = history()->step(index);
  if (s.step == 0) {
    prefillModelMs_ = s.model_ms;
    prefillPolicyMs_ = s.policy_ms;
    return;
  }
  model_->addData(s.step, s.model_ms);
  policy_->addData(s.step, s.policy_ms);
  // Markers help while there are few points and only clutter once there are many.
  if (model_->dataCount() == 64) {
    for (auto* g : {model_, policy_}) g->setScatterStyle(QCPScatterStyle::ssNone);
  }
}

void LatencyPlot::prepareReplot() {
  prefillLabel_->setText(prefillModelMs_ >= 0 ? prefillText()
                                              : QStringLiteral("prefill: waiting for a run"));
  if (userMovedRange()) return;
  int last = 1;
  if (!history()->empty()) last = std::max(1, history()->step(history()->stepCount() - 1).step);
  xAxis->setRange(0.5, last + 0.5);
  double high = 1;
  for (auto* g : {model_, policy_}) {
    bool ok = false;
    const QCPRange r = g->getValueRange(ok);
    if (ok) high = std::max(high, r.upper);
  }
  yAxis->setRange(0, high * 1.1);
}

}  // namespace hae::widgets
