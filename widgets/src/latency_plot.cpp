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

  legend->setVisible(true);
  legend->setBrush(QColor(255, 255, 255, 210));
  axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);

  prefillLabel_ = new QCPItemText(this);
  prefillLabel_->setPositionAlignment(Qt::AlignTop | Qt::AlignRight);
  prefillLabel_->position->setType(QCPItemPosition::ptAxisRectRatio);
  prefillLabel_->position->setCoords(0.98, 0.03);
  prefillLabel_->setClipToAxisRect(true);
  prefillLabel_->setPadding(QMargins(4, 2, 4, 2));
  prefillLabel_->setBrush(QColor(255, 255, 255, 210));
  prefillLabel_->setPen(QPen(QColor(180, 180, 180)));

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
  prefillLabel_->setText(prefillText());
  prefillLabel_->setVisible(prefillModelMs_ >= 0);
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
  yAxis->setRange(0, high * 1.45);  // headroom for the legend and the prefill label
}

}  // namespace hae::widgets
