#include "hae/widgets/bin_activity_plot.h"

#include <algorithm>
#include <map>

#include "hae/widgets/state_colors.h"

namespace hae::widgets {

namespace {

QColor kindColour(EventKind k) {
  switch (k) {
    case EventKind::Evict:
      return stateSolid(PatchState::Evicted);
    case EventKind::Demote:
      return stateSolid(PatchState::InBin);
    case EventKind::Restore:
      return stateSolid(PatchState::Kept);
    case EventKind::Purge:
      return {110, 110, 110};
  }
  return {};
}

QString kindLabel(EventKind k) {
  switch (k) {
    case EventKind::Evict:
      return QStringLiteral("evictions");
    case EventKind::Demote:
      return QStringLiteral("demotions");
    case EventKind::Restore:
      return QStringLiteral("restores");
    case EventKind::Purge:
      return QStringLiteral("purges");
  }
  return {};
}

}  // namespace

BinActivityPlot::BinActivityPlot(RunHistory* history, QWidget* parent) : LivePlot(history, parent) {
  plotLayout()->insertRow(0);
  plotLayout()->addElement(
      0, 0, new QCPTextElement(this, QStringLiteral("Recycle bin activity"), titleFont()));
  xAxis->setLabel(QStringLiteral("step"));
  yAxis->setLabel(QStringLiteral("events"));
  yAxis2->setVisible(true);
  yAxis2->setLabel(QStringLiteral("bin slots / layer"));

  // Stacked, one bar per step centred on its integer tick (side-by-side groups sat off the ticks).
  QCPBars* below = nullptr;
  for (int k = 0; k < 4; ++k) {
    const auto kind = static_cast<EventKind>(k);
    auto* bars = new QCPBars(xAxis, yAxis);
    bars->setName(kindLabel(kind));
    bars->setWidth(0.6);
    bars->setPen(Qt::NoPen);
    bars->setBrush(kindColour(kind));
    if (below) bars->moveAbove(below);
    below = bars;
    bars_[k] = bars;
  }
  occupancy_ = new QCPGraph(xAxis, yAxis2);
  occupancy_->setName(QStringLiteral("bin occupancy"));
  occupancy_->setPen(QPen(stateSolid(PatchState::InBin).darker(140), 2));

  // The legend gets its own row under the title: five entries would cover the bars.
  axisRect()->insetLayout()->take(legend);
  plotLayout()->insertRow(1);
  plotLayout()->addElement(1, 0, legend);
  plotLayout()->setRowStretchFactor(1, 0.01);
  legend->setVisible(true);
  legend->setBorderPen(Qt::NoPen);
  legend->setBrush(Qt::NoBrush);
  legend->setWrap(3);
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true);
  legend->setMargins(QMargins(4, 0, 4, 0));
  // Small swatches and tight entries: two columns fit a half-width plot at 1280 px.
  legend->setIconSize(18, 10);
  legend->setIconTextPadding(4);
  QFont f = legend->font();
  f.setPointSizeF(f.pointSizeF() * 0.85);
  legend->setFont(f);

  // The prefill's burst of evictions would flatten every decode step; its counts get a line
  // under the legend instead, outside the plot area, and the axis fits the decode steps.
  prefillLabel_ = new QCPTextElement(this, QString(), f);
  prefillLabel_->setTextColor(QColor(70, 70, 70));
  plotLayout()->insertRow(2);
  plotLayout()->addElement(2, 0, prefillLabel_);
  plotLayout()->setRowStretchFactor(2, 0.01);

  xAxis->setTicker(wholeNumberTicker());

  setStepAxisRect(axisRect());
  rebuild();
}

void BinActivityPlot::fitLegend() {
  // Columns of the widest entry (icon, padding, name) that the plot's width holds, at most 3.
  const QFontMetrics fm(legend->font());
  int widest = 0;
  for (int i = 0; i < legend->itemCount(); ++i)
    if (auto* item = qobject_cast<QCPPlottableLegendItem*>(legend->item(i)))
      widest = std::max(widest, fm.horizontalAdvance(item->plottable()->name()));
  if (widest == 0) return;
  QMargins itemMargins;
  for (int i = 0; i < legend->itemCount(); ++i)
    if (QCPAbstractLegendItem* item = legend->item(i)) {  // empty cells of the grid are null
      item->setMargins(QMargins(3, 1, 3, 1));
      itemMargins = item->margins();
    }
  const int entry = legend->iconSize().width() + legend->iconTextPadding() + widest +
                    itemMargins.left() + itemMargins.right() + legend->columnSpacing();
  const int columns = std::clamp((width() - 16) / entry, 1, 3);
  if (legend->wrap() != columns) {
    legend->setWrap(columns);
    legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true);
  }
}

void BinActivityPlot::resizeEvent(QResizeEvent* event) {
  fitLegend();
  LivePlot::resizeEvent(event);
}

void BinActivityPlot::clearData() {
  for (auto* bars : bars_) bars->data()->clear();
  occupancy_->data()->clear();
}

void BinActivityPlot::appendStepData(int index) {
  const StepTelemetry& s = history()->step(index);
  int counts[4] = {};
  for (const PolicyEvent& e : s.events) ++counts[static_cast<int>(e.kind)];
  for (int k = 0; k < 4; ++k) bars_[k]->addData(s.step, counts[k]);
  if (!s.layers.empty()) {
    double bin = 0;
    for (const LayerStats& l : s.layers) bin += l.bin;
    occupancy_->addData(s.step, bin / static_cast<double>(s.layers.size()));
  }
}

void BinActivityPlot::prepareReplot() {
  const bool clipPrefill = history()->stepCount() >= 3 && history()->step(0).step == 0;
  prefillText_.clear();
  prefillLabel_->setText(QString());
  if (history()->empty()) return;
  // The bars are stacked: a step's height is the sum of its kinds.
  std::map<double, double> totals;
  for (auto* bars : bars_)
    for (auto it = bars->data()->constBegin(); it != bars->data()->constEnd(); ++it)
      totals[it->key] += it->value;
  double decodeHigh = 1, all = 1;
  for (const auto& [key, total] : totals) {
    all = std::max(all, total);
    if (key > 0) decodeHigh = std::max(decodeHigh, total);
  }
  const double high = clipPrefill ? decodeHigh : all;
  if (clipPrefill && all > high * 1.15) {
    QStringList parts;
    for (int k = 0; k < 4; ++k) {
      const auto it = bars_[k]->data()->findBegin(0, false);
      if (it != bars_[k]->data()->constEnd() && it->key == 0 && it->value > 0)
        parts << QStringLiteral("%1 %2").arg(it->value).arg(bars_[k]->name());
    }
    prefillText_ = QStringLiteral("prefill (off scale): ") + parts.join(QStringLiteral(", "));
    prefillLabel_->setText(prefillText_);
  }
  if (userMovedRange()) return;
  const int first = history()->step(0).step;
  const int last = history()->step(history()->stepCount() - 1).step;
  xAxis->setRange(first - 0.6, std::max(first + 1, last) + 0.6);
  yAxis->setRange(0, high * 1.1);
  bool ok = false;
  const QCPRange r = occupancy_->getValueRange(ok);
  yAxis2->setRange(0, ok && r.upper > 0 ? r.upper * 1.1 : 1);
}

}  // namespace hae::widgets
