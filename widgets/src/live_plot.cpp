#include "hae/widgets/live_plot.h"

#include <QSvgGenerator>
#include <algorithm>
#include <cmath>
#include <limits>

#include "hae/widgets/export_file.h"
#include "hae/widgets/run_caption.h"

namespace hae::widgets {

QSharedPointer<QCPAxisTicker> wholeNumberTicker() {
  auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
  ticker->setTickStep(1.0);
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  return ticker;
}

LayerStepMap addLayerStepMap(QCustomPlot* plot, QCPAxisRect* rect, int row, const QString& what,
                             std::initializer_list<std::pair<double, QColor>> stops) {
  QCPAxis* x = rect->axis(QCPAxis::atBottom);
  QCPAxis* y = rect->axis(QCPAxis::atLeft);
  x->setLabel(QStringLiteral("step"));
  y->setLabel(QStringLiteral("layer"));
  y->setTicker(wholeNumberTicker());  // layers sit on integer rows
  LayerStepMap out;
  out.map = new QCPColorMap(x, y);
  out.map->setInterpolate(false);  // crisp cells: one per layer and step
  out.map->setTightBoundary(false);
  out.scale = new QCPColorScale(plot);
  plot->plotLayout()->addElement(row, 1, out.scale);
  out.scale->setType(QCPAxis::atRight);
  out.scale->axis()->setLabel(what);
  out.map->setColorScale(out.scale);
  QCPColorGradient gradient;
  for (const auto& [at, colour] : stops) gradient.setColorStopAt(at, colour);
  out.map->setGradient(gradient);
  return out;
}

namespace {
int nextPhase = 0;
}  // namespace

LivePlot::LivePlot(RunHistory* history, QWidget* parent) : QCustomPlot(parent), history_(history) {
  // Plots fed by one history start their timers in the same event-loop pass; in step they would
  // replot in one pass too and add their costs into one stall of the window. Each plot gets its
  // own phase within the frame instead.
  phaseMs_ = (nextPhase++ % 4) * (kFrameMs / 4);
  timer_.setInterval(kFrameMs);
  connect(&timer_, &QTimer::timeout, this, &LivePlot::tick);
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  setNoAntialiasingOnDrag(true);
  // The cursor lives on its own buffered layer so moving it repaints only that layer.
  addLayer(QStringLiteral("cursor"), layer(QStringLiteral("main")), limAbove);
  layer(QStringLiteral("cursor"))->setMode(QCPLayer::lmBuffered);

  connect(history_, &RunHistory::runReset, this, [this] { rebuild(); });
  connect(history_, &RunHistory::stepAppended, this, [this](int index) {
    appendStepData(index);
    markDirty();
  });
  connect(history_, &RunHistory::cursorChanged, this, [this](int index) {
    cursorMoved(index);
    moveCursorLine();
    markDirty(/*cursorOnly=*/true);
  });
}

QFont LivePlot::titleFont() {
  QFont f;
  f.setBold(true);
  return f;
}

void LivePlot::setStepAxisRect(QCPAxisRect* rect) {
  stepRect_ = rect;
  if (!cursorLine_) {
    cursorLine_ = new QCPItemStraightLine(this);
    cursorLine_->setLayer(QStringLiteral("cursor"));
    cursorLine_->setPen(QPen(QColor(30, 30, 30), 1.5, Qt::DashLine));
    cursorLine_->setSelectable(false);
  }
  cursorLine_->setClipAxisRect(rect);
  for (auto* pos : {cursorLine_->point1, cursorLine_->point2}) {
    pos->setAxisRect(rect);
    pos->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
  }
  moveCursorLine();
}

void LivePlot::rebuild() {
  clearData();
  for (int i = 0; i < history_->stepCount(); ++i) appendStepData(i);
  cursorMoved(history_->cursor());
  moveCursorLine();
  userRange_ = false;
  markDirty();
}

void LivePlot::moveCursorLine() {
  if (!cursorLine_) return;
  const StepTelemetry* step = history_->cursorStep();
  cursorLine_->setVisible(step != nullptr);
  if (!step) return;
  cursorLine_->point1->setCoords(step->step, 0);
  cursorLine_->point2->setCoords(step->step, 1);
}

double LivePlot::cursorKey() const {
  if (!cursorLine_ || !cursorLine_->visible()) return std::numeric_limits<double>::quiet_NaN();
  return cursorLine_->point1->key();
}

void LivePlot::markDirty(bool cursorOnly) {
  // Only a cursor move since the last frame needs just the cursor layer redrawn.
  cursorOnlyDirty_ = cursorOnly && (cursorOnlyDirty_ || !dirty_);
  dirty_ = true;
  if (!timer_.isActive()) timer_.start(kFrameMs + phaseMs_);
}

void LivePlot::tick() {
  if (timer_.interval() != kFrameMs) timer_.setInterval(kFrameMs);  // phase set; restarts from now
  if (!dirty_) {
    timer_.stop();  // idle plots cost nothing between runs
    return;
  }
  replotNow(rpQueuedReplot);
}

void LivePlot::flush() {
  if (dirty_) replotNow(rpImmediateRefresh);
}

void LivePlot::replotNow(RefreshPriority priority) {
  if (cursorOnlyDirty_) {
    layer(QStringLiteral("cursor"))->replot();
  } else {
    prepareReplot();
    fitTickCounts();
    replot(priority);
  }
  dirty_ = false;
  cursorOnlyDirty_ = false;
}

void LivePlot::fitTickCounts() {
  // A value axis gets a tick per ~40 px of its panel, so a short panel (a 1280x720 window) does
  // not stack its labels on each other. The panel's height is the last layout's.
  for (QCPAxisRect* rect : axisRects()) {
    const int ticks = std::clamp(rect->height() / 40, 2, 5);
    for (QCPAxis* axis : rect->axes(QCPAxis::atLeft | QCPAxis::atRight)) {
      if (axis->ticker().dynamicCast<QCPAxisTickerFixed>()) continue;  // layers: every one
      axis->ticker()->setTickCount(ticks);
    }
  }
  for (QCPLayoutElement* element : plotLayout()->elements(true)) {
    if (auto* scale = dynamic_cast<QCPColorScale*>(element))
      scale->axis()->ticker()->setTickCount(std::clamp(scale->rect().height() / 40, 2, 5));
  }
}

bool LivePlot::exportTo(const QString& path, QString* error, QSize size) {
  if (dirty_) {
    prepareReplot();
    replot(rpImmediateRefresh);
    dirty_ = cursorOnlyDirty_ = false;
  }
  if (!size.isValid() || size.isEmpty())
    size = testAttribute(Qt::WA_Resized) ? this->size() : QSize(800, 500);
  const QString format = exportFormat(path);
  auto write = [&](const QString& temp) -> bool {
    if (format == QLatin1String("png")) return savePng(temp, size.width(), size.height(), 2.0);
    if (format == QLatin1String("pdf")) return savePdf(temp, size.width(), size.height());
    if (format == QLatin1String("svg")) {
      QSvgGenerator generator;
      generator.setFileName(temp);
      generator.setSize(size);
      generator.setViewBox(QRect(QPoint(0, 0), size));
      generator.setTitle(QStringLiteral("HAE Studio plot"));
      QCPPainter painter;
      if (!painter.begin(&generator)) return false;
      toPainter(&painter, size.width(), size.height());
      return painter.end();
    }
    return false;
  };
  if (format != QLatin1String("png") && format != QLatin1String("svg") &&
      format != QLatin1String("pdf")) {
    if (error) *error = QStringLiteral("%1: unknown format (use .png, .svg or .pdf)").arg(path);
    return false;
  }
  // An exported plot leaves the window: a line at the bottom says which model and policy made
  // it. It exists only for the export.
  QCPTextElement* caption = nullptr;
  const QString label = runCaption(history_->info());
  if (!label.isEmpty()) {
    QFont f;
    f.setPointSizeF(f.pointSizeF() * 0.85);
    caption = new QCPTextElement(this, label, f);
    caption->setTextColor(QColor(80, 80, 80));
    caption->setTextFlags(Qt::AlignLeft | Qt::AlignVCenter | Qt::TextWordWrap);
    caption->setLayer(QStringLiteral("main"));
    const int row = plotLayout()->rowCount();
    plotLayout()->insertRow(row);
    plotLayout()->addElement(row, 0, caption);
    plotLayout()->setRowStretchFactor(row, 0.01);
  }
  const bool ok = writeFileAtomically(path, write, error);
  if (caption) {
    plotLayout()->remove(caption);
    plotLayout()->simplify();
    replot(rpQueuedReplot);
  }
  return ok;
}

void LivePlot::mousePressEvent(QMouseEvent* event) {
  pressPos_ = event->pos();
  QCustomPlot::mousePressEvent(event);
}

void LivePlot::mouseReleaseEvent(QMouseEvent* event) {
  const bool click = (event->pos() - pressPos_).manhattanLength() < 4;
  if (!click && event->button() == Qt::LeftButton) userRange_ = true;  // the user dragged
  // A plain click on the step axis seeks there: the nearest step becomes the cursor.
  if (click && event->button() == Qt::LeftButton && stepRect_ &&
      stepRect_->rect().contains(event->pos()) && !history_->empty()) {
    const double key = stepRect_->axis(QCPAxis::atBottom)->pixelToCoord(event->pos().x());
    int best = 0;
    for (int i = 1; i < history_->stepCount(); ++i) {
      if (std::abs(history_->step(i).step - key) < std::abs(history_->step(best).step - key))
        best = i;
    }
    history_->setCursor(best);
  }
  QCustomPlot::mouseReleaseEvent(event);
}

void LivePlot::mouseDoubleClickEvent(QMouseEvent* event) {
  userRange_ = false;  // back to following the data
  markDirty();
  QCustomPlot::mouseDoubleClickEvent(event);
}

void LivePlot::wheelEvent(QWheelEvent* event) {
  userRange_ = true;
  QCustomPlot::wheelEvent(event);
}

}  // namespace hae::widgets
