#include "hae/widgets/probe_plot.h"

#include <algorithm>

#include "hae/widgets/state_colors.h"

namespace hae::widgets {

namespace {
constexpr int kVisual = static_cast<int>(Modality::Visual);
constexpr int kText = static_cast<int>(Modality::Text);
const QColor kOverlapColour(30, 30, 30);

QCPGraph* series(QCustomPlot* plot, QCPAxisRect* rect, const QString& name, QColor colour,
                 Qt::PenStyle style, QCPScatterStyle::ScatterShape shape) {
  QCPGraph* g = plot->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
  g->setName(name);
  g->setPen(QPen(colour, 2, style));
  g->setScatterStyle(QCPScatterStyle(shape, colour, colour, 6));
  return g;
}

void tidyLegend(QCPLegend* legend) {
  legend->setVisible(true);
  legend->setBorderPen(Qt::NoPen);
  legend->setBrush(QColor(255, 255, 255, 200));
  QFont f = legend->font();
  f.setPointSizeF(f.pointSizeF() * 0.8);
  legend->setFont(f);
  legend->setRowSpacing(0);
}
}  // namespace

ProbePlot::ProbePlot(RunHistory* history, QWidget* parent) : LivePlot(history, parent) {
  plotLayout()->insertRow(0);
  plotLayout()->addElement(
      0, 0, new QCPTextElement(this, QStringLiteral("Observation probes per layer"), titleFont()));
  QFont small;
  small.setPointSizeF(small.pointSizeF() * 0.85);
  status_ = new QCPTextElement(this, QString(), small);
  status_->setTextColor(QColor(70, 70, 70));
  setToolTip(QStringLiteral(
      "Low attention variance and high sparsity in a modality: its tokens can be pruned (DAP). "
      "High overlap of layer l0's kept set with a layer's own choice: broadcasting l0's "
      "indices to that layer is safe."));
  plotLayout()->insertRow(1);
  plotLayout()->addElement(1, 0, status_);

  QCPAxisRect* top = axisRect(0);
  top->axis(QCPAxis::atLeft)->setLabel(QStringLiteral("attention variance"));
  varVisual_ = series(this, top, QStringLiteral("variance, visual"), visualSeries(), Qt::SolidLine,
                      QCPScatterStyle::ssDisc);
  varText_ = series(this, top, QStringLiteral("variance, text"), textSeries(), Qt::SolidLine,
                    QCPScatterStyle::ssSquare);
  legend->setVisible(true);
  tidyLegend(legend);
  top->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);

  ratioRect_ = new QCPAxisRect(this);
  plotLayout()->addElement(3, 0, ratioRect_);
  ratioRect_->axis(QCPAxis::atBottom)->setLabel(QStringLiteral("layer"));
  ratioRect_->axis(QCPAxis::atLeft)->setLabel(QStringLiteral("share"));
  ratioRect_->axis(QCPAxis::atLeft)->setRange(-0.02, 1.05);
  sparVisual_ = series(this, ratioRect_, QStringLiteral("sparsity, visual"), visualSeries(),
                       Qt::DashLine, QCPScatterStyle::ssDisc);
  sparText_ = series(this, ratioRect_, QStringLiteral("sparsity, text"), textSeries(), Qt::DashLine,
                     QCPScatterStyle::ssSquare);
  overlap_ = series(this, ratioRect_, QStringLiteral("overlap with layer l0's kept set"),
                    kOverlapColour, Qt::SolidLine, QCPScatterStyle::ssTriangle);
  auto* ratioLegend = new QCPLegend;
  ratioRect_->insetLayout()->addElement(ratioLegend, Qt::AlignBottom | Qt::AlignRight);
  ratioLegend->setLayer(QStringLiteral("legend"));
  tidyLegend(ratioLegend);
  for (QCPGraph* g : {sparVisual_, sparText_, overlap_}) {
    g->removeFromLegend(legend);
    g->addToLegend(ratioLegend);
  }
  for (QCPAxisRect* r : {top, ratioRect_}) {
    r->axis(QCPAxis::atBottom)->setTicker(wholeNumberTicker());
  }
  auto* margins = new QCPMarginGroup(this);
  top->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
  ratioRect_->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
  plotLayout()->setRowStretchFactor(0, 0.01);
  plotLayout()->setRowStretchFactor(1, 0.01);
  connect(top->axis(QCPAxis::atBottom), qOverload<const QCPRange&>(&QCPAxis::rangeChanged),
          ratioRect_->axis(QCPAxis::atBottom), qOverload<const QCPRange&>(&QCPAxis::setRange));
  rebuild();
}

QString ProbePlot::statusText() const {
  if (history()->empty()) return QStringLiteral("no run yet");
  if (shown_ < 0)
    return history()->info().policy_name == "hae"
               ? QStringLiteral(
                     "no probes in this run: set the HAE knob probes=true (or View > "
                     "Observation probes) and run again")
               : QStringLiteral("probes come with HAE (knob probes=true); this run is %1")
                     .arg(QString::fromStdString(history()->info().policy_name));
  const StepTelemetry& s = history()->step(shown_);
  return QStringLiteral("%1 · %2 layers (hover for how to read them)")
      .arg(s.step == 0 ? QStringLiteral("prefill") : QStringLiteral("step %1").arg(s.step))
      .arg(s.probes.size());
}

void ProbePlot::clearData() {
  for (QCPGraph* g : {varVisual_, varText_, sparVisual_, sparText_, overlap_}) g->data()->clear();
  withProbes_.clear();
  shown_ = -1;
  filled_ = false;
}

void ProbePlot::appendStepData(int index) {
  if (history()->step(index).probes.empty()) return;
  withProbes_.push_back(index);
  filled_ = false;
}

int ProbePlot::probeStepFor(int cursor) const {
  if (withProbes_.empty()) return -1;
  int best = withProbes_.front();
  for (int i : withProbes_)
    if (i <= cursor) best = i;
  return best;
}

void ProbePlot::cursorMoved(int index) {
  if (probeStepFor(index) == shown_) return;
  filled_ = false;
  markDirty();  // the data changes, not just the cursor layer
}

void ProbePlot::fill() {
  filled_ = true;
  shown_ = probeStepFor(history()->cursor());
  for (QCPGraph* g : {varVisual_, varText_, sparVisual_, sparText_, overlap_}) g->data()->clear();
  if (shown_ < 0) return;
  const std::vector<LayerProbe>& probes = history()->step(shown_).probes;
  for (int l = 0; l < static_cast<int>(probes.size()); ++l) {
    const LayerProbe& p = probes[l];
    varVisual_->addData(l, p.attn_variance[kVisual]);
    varText_->addData(l, p.attn_variance[kText]);
    sparVisual_->addData(l, p.sparsity[kVisual]);
    sparText_->addData(l, p.sparsity[kText]);
    if (p.overlap_with_first >= 0) overlap_->addData(l, p.overlap_with_first);
  }
}

void ProbePlot::prepareReplot() {
  if (!filled_) fill();
  status_->setText(statusText());
  if (userMovedRange()) return;
  const int layers = shown_ >= 0 ? static_cast<int>(history()->step(shown_).probes.size())
                                 : std::max(1, history()->numLayers());
  axisRect(0)->axis(QCPAxis::atBottom)->setRange(-0.5, std::max(layers, 1) - 0.5);
  ratioRect_->axis(QCPAxis::atBottom)->setRange(-0.5, std::max(layers, 1) - 0.5);
  double high = 0;
  for (QCPGraph* g : {varVisual_, varText_}) {
    bool ok = false;
    const QCPRange r = g->getValueRange(ok);
    if (ok) high = std::max(high, r.upper);
  }
  axisRect(0)->axis(QCPAxis::atLeft)->setRange(0, high > 0 ? high * 1.15 : 1e-3);
}

}  // namespace hae::widgets
