#include "hae/widgets/cache_size_plot.h"

#include <algorithm>

#include "hae/widgets/state_colors.h"

namespace hae::widgets {

namespace {

QCPBars* makeBars(QCPAxisRect* rect, const QString& name, QColor colour) {
  auto* bars = new QCPBars(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
  bars->setName(name);
  bars->setWidth(0.75);
  bars->setPen(QPen(colour.darker(130)));
  bars->setBrush(colour);
  return bars;
}

QCPGraph* makeLine(QCPAxis* x, QCPAxis* y, const QString& name, QPen pen) {
  auto* graph = new QCPGraph(x, y);
  graph->setName(name);
  graph->setPen(pen);
  return graph;
}

}  // namespace

CacheSizePlot::CacheSizePlot(RunHistory* history, QWidget* parent) : LivePlot(history, parent) {
  plotLayout()->clear();
  title_ = new QCPTextElement(this, QStringLiteral("Cache per layer"), titleFont());
  layerRect_ = new QCPAxisRect(this);
  stepRect_ = new QCPAxisRect(this);
  plotLayout()->addElement(0, 0, title_);
  plotLayout()->addElement(1, 0, layerRect_);
  plotLayout()->addElement(2, 0, stepRect_);
  plotLayout()->setRowStretchFactor(0, 0.01);
  // Both rects share a left margin so their y axes line up.
  auto* margins = new QCPMarginGroup(this);
  layerRect_->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
  stepRect_->setMarginGroup(QCP::msLeft | QCP::msRight, margins);

  layerRect_->axis(QCPAxis::atBottom)->setLabel(QStringLiteral("layer"));
  layerRect_->axis(QCPAxis::atLeft)->setLabel(QStringLiteral("slots"));
  layerRect_->axis(QCPAxis::atBottom)->setTicker(wholeNumberTicker());

  visualBars_ = makeBars(layerRect_, QStringLiteral("visual"), visualSeries());
  otherBars_ = makeBars(layerRect_, QStringLiteral("text + other"), textSeries());
  binBars_ = makeBars(layerRect_, QStringLiteral("recycle bin"), stateSolid(PatchState::InBin));
  otherBars_->moveAbove(visualBars_);
  binBars_->moveAbove(otherBars_);

  auto* stepX = stepRect_->axis(QCPAxis::atBottom);
  auto* stepY = stepRect_->axis(QCPAxis::atLeft);
  auto* mibY = stepRect_->axis(QCPAxis::atRight);
  mibY->setVisible(true);
  stepX->setLabel(QStringLiteral("step"));
  stepY->setLabel(QStringLiteral("live slots / layer"));
  mibY->setLabel(QStringLiteral("cache MiB"));
  visualLine_ = makeLine(stepX, stepY, QStringLiteral("visual"), QPen(visualSeries(), 2));
  otherLine_ = makeLine(stepX, stepY, QStringLiteral("text + other"), QPen(textSeries(), 2));
  bytesLine_ = makeLine(stepX, mibY, QStringLiteral("total MiB"),
                        QPen(QColor(60, 60, 60), 1.5, Qt::DashLine));

  // One legend row under the title serves both rects: the lines reuse the bars' colours.
  legend = new QCPLegend;
  plotLayout()->insertRow(1);
  plotLayout()->addElement(1, 0, legend);
  plotLayout()->setRowStretchFactor(1, 0.01);
  legend->setLayer(QStringLiteral("legend"));
  legend->setVisible(true);
  legend->setBorderPen(Qt::NoPen);
  legend->setBrush(Qt::NoBrush);
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setMargins(QMargins(4, 0, 4, 0));
  for (auto* bars : {visualBars_, otherBars_, binBars_}) bars->addToLegend(legend);
  bytesLine_->addToLegend(legend);
  QFont f = legend->font();
  f.setPointSizeF(f.pointSizeF() * 0.85);
  legend->setFont(f);

  setStepAxisRect(stepRect_);
  rebuild();
}

void CacheSizePlot::clearData() {
  for (auto* bars : {visualBars_, otherBars_, binBars_}) bars->data()->clear();
  for (auto* g : {visualLine_, otherLine_, bytesLine_}) g->data()->clear();
}

void CacheSizePlot::appendStepData(int index) {
  const StepTelemetry& s = history()->step(index);
  const int layers = static_cast<int>(s.layers.size());
  if (layers == 0) return;
  double visual = 0, other = 0;
  for (const LayerStats& l : s.layers) {
    const int v = l.live[static_cast<int>(Modality::Visual)];
    int all = 0;
    for (int c : l.live) all += c;
    visual += v;
    other += all - v;
  }
  visualLine_->addData(s.step, visual / layers);
  otherLine_->addData(s.step, other / layers);
  bytesLine_->addData(s.step, static_cast<double>(s.totalBytes()) / (1024.0 * 1024.0));
}

void CacheSizePlot::cursorMoved(int index) {
  for (auto* bars : {visualBars_, otherBars_, binBars_}) bars->data()->clear();
  const StepTelemetry* s = history()->cursorStep();
  title_->setText(s ? QStringLiteral("Cache per layer at step %1").arg(s->step)
                    : QStringLiteral("Cache per layer"));
  if (s) {
    QVector<double> keys, visual, other, bin;
    for (int layer = 0; layer < static_cast<int>(s->layers.size()); ++layer) {
      const LayerStats& l = s->layers[layer];
      const int v = l.live[static_cast<int>(Modality::Visual)];
      int all = 0;
      for (int c : l.live) all += c;
      keys << layer;
      visual << v;
      other << all - v;
      bin << l.bin;
    }
    visualBars_->setData(keys, visual, true);
    otherBars_->setData(keys, other, true);
    binBars_->setData(keys, bin, true);
  }
  (void)index;
  markDirty();  // the bars changed, not just the cursor line
}

void CacheSizePlot::prepareReplot() {
  if (userMovedRange()) return;
  const int layers = std::max(1, history()->numLayers());
  layerRect_->axis(QCPAxis::atBottom)->setRange(-0.7, layers - 0.3);
  double top = 1;
  bool found = false;
  const QCPRange stack = binBars_->getValueRange(found);  // stacked: includes the bars below
  if (found) top = std::max(top, stack.upper);
  layerRect_->axis(QCPAxis::atLeft)->setRange(0, top * 1.08);

  if (history()->empty()) return;
  stepRect_->axis(QCPAxis::atBottom)
      ->setRange(history()->step(0).step - 0.5,
                 std::max(history()->step(0).step + 1.5,
                          history()->step(history()->stepCount() - 1).step + 0.5));
  double high = 1;
  for (auto* g : {visualLine_, otherLine_}) {
    bool ok = false;
    const QCPRange r = g->getValueRange(ok);
    if (ok) high = std::max(high, r.upper);
  }
  stepRect_->axis(QCPAxis::atLeft)->setRange(0, high * 1.1);
  bool ok = false;
  const QCPRange mib = bytesLine_->getValueRange(ok);
  stepRect_->axis(QCPAxis::atRight)->setRange(0, ok && mib.upper > 0 ? mib.upper * 1.1 : 1);
}

}  // namespace hae::widgets
