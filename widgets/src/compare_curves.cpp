#include "hae/widgets/compare_curves.h"

#include <QSvgGenerator>
#include <algorithm>
#include <cmath>
#include <limits>

#include "hae/widgets/export_file.h"
#include "hae/widgets/live_plot.h"

namespace hae::widgets {

namespace {

const QColor kSide[2] = {QColor(52, 120, 210), QColor(225, 110, 20)};

const char* metricLabel(int m) {
  switch (m) {
    // Short: three panels share a dock's height, and a rotated label longer than its panel
    // runs into the next one. The tooltip says what each is.
    case CompareCurves::CacheMiB:
      return "MiB";
    case CompareCurves::LiveSlots:
      return "slots";
    default:
      return "ms";
  }
}

double metricValue(int m, const StepTelemetry& s) {
  switch (m) {
    case CompareCurves::CacheMiB:
      return static_cast<double>(s.totalBytes()) / (1024.0 * 1024.0);
    case CompareCurves::LiveSlots: {
      if (s.layers.empty()) return 0;
      double live = 0;
      for (int l = 0; l < static_cast<int>(s.layers.size()); ++l) live += s.liveSlots(l);
      return live / static_cast<double>(s.layers.size());
    }
    default:
      return s.model_ms + s.policy_ms;
  }
}

}  // namespace

CompareCurves::CompareCurves(RunHistory* a, RunHistory* b, QWidget* parent)
    : QCustomPlot(parent), histories_{a, b} {
  plotLayout()->clear();
  QFont bold;
  bold.setBold(true);
  setToolTip(
      tr("A (solid) and B (dashed) over the steps: KV cache MiB (top), live slots per "
         "layer, the mean over the layers (middle), step latency in ms, model and policy "
         "(bottom)"));
  // The title and the legend share one row, so a short dock leaves the panels their height.
  auto* header = new QCPLayoutGrid;
  plotLayout()->addElement(0, 0, header);
  title_ = new QCPTextElement(this, QStringLiteral("A vs B"), bold);
  header->addElement(0, 0, title_);
  legend = new QCPLegend;
  header->addElement(0, 1, legend);
  legend->setLayer(QStringLiteral("legend"));
  legend->setVisible(true);
  legend->setBorderPen(Qt::NoPen);
  legend->setBrush(Qt::NoBrush);
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setMargins(QMargins(6, 1, 6, 1));
  plotLayout()->setRowStretchFactor(0, 0.01);
  auto* margins = new QCPMarginGroup(this);
  for (int m = 0; m < kMetrics; ++m) {
    auto* rect = new QCPAxisRect(this);
    plotLayout()->addElement(1 + m, 0, rect);
    rect->axis(QCPAxis::atLeft)->ticker()->setTickCount(3);
    rect->axis(QCPAxis::atBottom)->setTicker(wholeNumberTicker());
    rect->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
    rect->axis(QCPAxis::atLeft)->setLabel(QString::fromLatin1(metricLabel(m)));
    rect->axis(QCPAxis::atBottom)->setLabel(m == kMetrics - 1 ? QStringLiteral("step") : QString());
    for (int side = 0; side < 2; ++side) {
      auto* g = new QCPGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
      g->setPen(QPen(kSide[side], 2, side == 0 ? Qt::SolidLine : Qt::DashLine));
      g->setName(side == 0 ? QStringLiteral("A") : QStringLiteral("B"));
      g->removeFromLegend();
      if (m == 0) g->addToLegend(legend);
      graphs_[m][side] = g;
    }
    auto* cursor = new QCPItemStraightLine(this);
    cursor->setClipAxisRect(rect);
    for (auto* pos : {cursor->point1, cursor->point2}) {
      pos->setAxisRect(rect);
      pos->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    }
    cursor->setPen(QPen(QColor(30, 30, 30), 1.2, Qt::DashLine));
    cursors_[m] = cursor;
    rects_[m] = rect;
  }
  timer_.setInterval(100);
  connect(&timer_, &QTimer::timeout, this, [this] {
    if (dirty_)
      flush();
    else
      timer_.stop();
  });
  for (RunHistory* h : histories_) {
    connect(h, &RunHistory::runReset, this, &CompareCurves::markDirty);
    connect(h, &RunHistory::stepAppended, this, &CompareCurves::markDirty);
    connect(h, &RunHistory::cursorChanged, this, &CompareCurves::markDirty);
  }
  flush();
}

void CompareCurves::markDirty() {
  dirty_ = true;
  if (!timer_.isActive()) timer_.start();
}

double CompareCurves::cursorKey() const {
  if (!cursors_[0]->visible()) return std::numeric_limits<double>::quiet_NaN();
  return cursors_[0]->point1->key();
}

void CompareCurves::rebuild() {
  double first = std::numeric_limits<double>::max(), last = std::numeric_limits<double>::lowest();
  for (int side = 0; side < 2; ++side) {
    const RunHistory* h = histories_[side];
    QVector<double> keys, values[kMetrics];
    for (int i = 0; i < h->stepCount(); ++i) {
      const StepTelemetry& s = h->step(i);
      first = std::min(first, static_cast<double>(s.step));
      last = std::max(last, static_cast<double>(s.step));
      keys << s.step;
      for (int m = 0; m < kMetrics; ++m) values[m] << metricValue(m, s);
    }
    for (int m = 0; m < kMetrics; ++m) {
      // The prefill is orders of magnitude slower than a decode step: latency starts at step 1.
      QVector<double> k = keys, v = values[m];
      if (m == StepMs && !k.isEmpty() && k.front() == 0) k.removeFirst(), v.removeFirst();
      graphs_[m][side]->setData(k, v, true);
    }
    const QString policy = QString::fromStdString(h->info().policy_name);
    graphs_[0][side]->setName((side == 0 ? QStringLiteral("A") : QStringLiteral("B")) +
                              (policy.isEmpty() ? QString() : QStringLiteral(": ") + policy));
  }
  const bool any = first <= last;
  // Shared axes: the same step range on every panel, each panel's values from 0 over both runs.
  for (int m = 0; m < kMetrics; ++m) {
    rects_[m]
        ->axis(QCPAxis::atBottom)
        ->setRange(any ? first - 0.5 : 0, any ? std::max(first + 1, last) + 0.5 : 1);
    double high = 0;
    for (int side = 0; side < 2; ++side) {
      bool ok = false;
      const QCPRange r = graphs_[m][side]->getValueRange(ok);
      if (ok) high = std::max(high, r.upper);
    }
    rects_[m]->axis(QCPAxis::atLeft)->setRange(0, high > 0 ? high * 1.1 : 1);
  }
  const StepTelemetry* at = histories_[0]->cursorStep();
  for (auto* c : cursors_) {
    c->setVisible(at != nullptr);
    if (at) {
      c->point1->setCoords(at->step, 0);
      c->point2->setCoords(at->step, 1);
    }
  }
  title_->setText(at ? QStringLiteral("A vs B, cursor at step %1").arg(at->step)
                     : QStringLiteral("A vs B"));
}

void CompareCurves::flush() {
  dirty_ = false;
  rebuild();
  replot(rpQueuedReplot);
}

bool CompareCurves::exportTo(const QString& path, QString* error, QSize size) {
  rebuild();
  if (!size.isValid() || size.isEmpty())
    size = testAttribute(Qt::WA_Resized) ? this->size() : QSize(800, 600);
  const QString format = exportFormat(path);
  if (format != QLatin1String("png") && format != QLatin1String("svg") &&
      format != QLatin1String("pdf")) {
    if (error) *error = QStringLiteral("%1: unknown format (use .png, .svg or .pdf)").arg(path);
    return false;
  }
  return writeFileAtomically(
      path,
      [&](const QString& temp) -> bool {
        if (format == QLatin1String("png")) return savePng(temp, size.width(), size.height(), 2.0);
        if (format == QLatin1String("pdf")) return savePdf(temp, size.width(), size.height());
        QSvgGenerator generator;
        generator.setFileName(temp);
        generator.setSize(size);
        generator.setViewBox(QRect(QPoint(0, 0), size));
        QCPPainter painter;
        if (!painter.begin(&generator)) return false;
        toPainter(&painter, size.width(), size.height());
        return painter.end();
      },
      error);
}

}  // namespace hae::widgets
