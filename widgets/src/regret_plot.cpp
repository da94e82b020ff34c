#include "hae/widgets/regret_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hae::widgets {

namespace {
const QColor kKlColour(123, 31, 162);     // purple: the divergence
const QColor kAgreeColour(46, 160, 67);   // green: the choices agree
const QColor kDifferColour(211, 47, 47);  // red: they differ
}  // namespace

RegretPlot::RegretPlot(RunHistory* history, QWidget* parent) : LivePlot(history, parent) {
  plotLayout()->insertRow(0);
  plotLayout()->addElement(
      0, 0,
      new QCPTextElement(this, QStringLiteral("Regret: policy against the full-cache shadow"),
                         titleFont()));
  QFont small;
  small.setPointSizeF(small.pointSizeF() * 0.85);
  summary_ = new QCPTextElement(this, QString(), small);
  summary_->setTextColor(QColor(70, 70, 70));
  summary_->setTextFlags(Qt::AlignCenter | Qt::TextWordWrap);  // narrow docks wrap, not clip
  plotLayout()->insertRow(1);
  plotLayout()->addElement(1, 0, summary_);

  // Top: KL on the left axis, agreement (0 / 1) on the right.
  QCPAxisRect* top = axisRect(0);
  top->axis(QCPAxis::atLeft)->setLabel(QStringLiteral("KL(full || policy)"));
  top->axis(QCPAxis::atLeft)->setLabelColor(kKlColour);
  QCPAxis* right = top->axis(QCPAxis::atRight);
  right->setVisible(true);
  right->setLabel(QStringLiteral("top-1 agrees"));
  right->setRange(-0.1, 1.1);
  auto agreeTicks = QSharedPointer<QCPAxisTickerText>::create();
  agreeTicks->addTick(0, QStringLiteral("no"));
  agreeTicks->addTick(1, QStringLiteral("yes"));
  right->setTicker(agreeTicks);
  kl_ = addGraph(top->axis(QCPAxis::atBottom), top->axis(QCPAxis::atLeft));
  kl_->setName(QStringLiteral("KL"));
  kl_->setPen(QPen(kKlColour, 2));
  kl_->setBrush(QColor(kKlColour.red(), kKlColour.green(), kKlColour.blue(), 40));
  kl_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 4));
  agree_ = addGraph(top->axis(QCPAxis::atBottom), right);
  agree_->setName(QStringLiteral("top-1 agrees"));
  agree_->setLineStyle(QCPGraph::lsStepCenter);
  agree_->setPen(QPen(kAgreeColour, 1.2));
  differ_ = addGraph(top->axis(QCPAxis::atBottom), right);
  differ_->setName(QStringLiteral("top-1 differs"));
  differ_->setLineStyle(QCPGraph::lsNone);
  differ_->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(kDifferColour, 2), kDifferColour, 7));

  // Below: missed mass per layer and step, its colour scale on the right.
  missedRect_ = new QCPAxisRect(this);
  plotLayout()->addElement(3, 0, missedRect_);
  // An inferno-like ramp (dark = nothing missed), unlike the occupancy map's viridis, so the two
  // heat maps are not read as the same quantity.
  const LayerStepMap missed =
      addLayerStepMap(this, missedRect_, 3, QStringLiteral("missed attention"),
                      {{0.0, QColor(0, 0, 4)},
                       {0.25, QColor(87, 16, 110)},
                       {0.5, QColor(188, 55, 84)},
                       {0.75, QColor(249, 142, 9)},
                       {1.0, QColor(252, 255, 164)}});
  map_ = missed.map;
  scale_ = missed.scale;
  QCPAxis* mx = missedRect_->axis(QCPAxis::atBottom);
  QCPAxis* my = missedRect_->axis(QCPAxis::atLeft);
  plotLayout()->setRowStretchFactor(0, 0.01);
  plotLayout()->setRowStretchFactor(1, 0.01);
  plotLayout()->setRowStretchFactor(2, 1);
  plotLayout()->setRowStretchFactor(3, 1);
  plotLayout()->setColumnStretchFactor(1, 0.01);
  // The two rects share their left and right edges and their step range.
  auto* margins = new QCPMarginGroup(this);
  top->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
  missedRect_->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
  connect(top->axis(QCPAxis::atBottom), qOverload<const QCPRange&>(&QCPAxis::rangeChanged), mx,
          qOverload<const QCPRange&>(&QCPAxis::setRange));
  top->axis(QCPAxis::atBottom)->setLabel(QStringLiteral("decode step"));

  setStepAxisRect(top);
  missedCursor_ = new QCPItemStraightLine(this);
  missedCursor_->setLayer(QStringLiteral("cursor"));
  missedCursor_->setPen(QPen(Qt::white, 1.5, Qt::DashLine));
  missedCursor_->setClipAxisRect(missedRect_);
  for (auto* pos : {missedCursor_->point1, missedCursor_->point2}) {
    pos->setAxisRect(missedRect_);
    pos->setAxes(mx, my);
  }
  partLine_ = new QCPItemStraightLine(this);
  partLine_->setPen(QPen(QColor(200, 30, 30), 1.2, Qt::DotLine));
  partLine_->setClipAxisRect(top);
  partLabel_ = new QCPItemText(this);
  partLabel_->setClipAxisRect(top);
  partLabel_->setText(QStringLiteral("answers part"));
  partLabel_->setColor(QColor(200, 30, 30));
  partLabel_->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
  partLabel_->position->setAxes(top->axis(QCPAxis::atBottom), top->axis(QCPAxis::atLeft));
  partLabel_->position->setAxisRect(top);
  partLabel_->position->setTypeY(QCPItemPosition::ptAxisRectRatio);  // near the top, any KL range
  for (auto* pos : {partLine_->point1, partLine_->point2})
    pos->setAxes(top->axis(QCPAxis::atBottom), top->axis(QCPAxis::atLeft));
  partLine_->setVisible(false);
  partLabel_->setVisible(false);
  rebuild();
}

double RegretPlot::missedAt(int column, int layer) const {
  if (column < 0 || column >= columnCount() || layer < 0 ||
      layer >= static_cast<int>(columns_[column].size()))
    return std::numeric_limits<double>::quiet_NaN();
  return columns_[column][layer];
}

void RegretPlot::clearData() {
  kl_->data()->clear();
  agree_->data()->clear();
  differ_->data()->clear();
  columns_.clear();
  steps_.clear();
  map_->data()->clear();
  map_->setDataRange(QCPRange(0, 1));
  mapDirty_ = true;
  parting_ = -1;
  if (partLine_) partLine_->setVisible(false), partLabel_->setVisible(false);
}

void RegretPlot::appendStepData(int index) {
  const StepTelemetry& s = history()->step(index);
  if (!s.shadow) return;
  const ShadowStep& sh = *s.shadow;
  kl_->addData(s.step, sh.kl);
  agree_->addData(s.step, sh.top1_agree ? 1.0 : 0.0);
  if (!sh.top1_agree) differ_->addData(s.step, 0.0);
  if (!sh.top1_agree && parting_ < 0) {
    parting_ = s.step;
    partLine_->point1->setCoords(s.step, 0);
    partLine_->point2->setCoords(s.step, 1);
    partLine_->setVisible(true);
    partLabel_->position->setCoords(s.step + 0.2, 0.02);
    partLabel_->setVisible(true);
  }
  std::vector<double> column(sh.layers.size());
  for (std::size_t l = 0; l < sh.layers.size(); ++l) column[l] = sh.layers[l].missed();
  columns_.push_back(std::move(column));
  steps_.push_back(s.step);
  mapDirty_ = true;
  if (kl_->dataCount() == 64) kl_->setScatterStyle(QCPScatterStyle::ssNone);
}

void RegretPlot::cursorMoved(int index) {
  const StepTelemetry* s =
      index >= 0 && index < history()->stepCount() ? &history()->step(index) : nullptr;
  missedCursor_->setVisible(s != nullptr);
  if (s) {
    missedCursor_->point1->setCoords(s->step, 0);
    missedCursor_->point2->setCoords(s->step, 1);
  }
  summary_->setText(summaryText());
  markDirty();  // the line under the title changed too, not just the cursor layer
}

QString RegretPlot::summaryText() const {
  if (columnCount() == 0)
    return history()->empty()
               ? QStringLiteral("no run yet")
               : QStringLiteral(
                     "no shadow in this run: turn on View > Full-cache shadow and run "
                     "again");
  const StepTelemetry* s = history()->cursorStep();
  if (!s || !s->shadow) return QStringLiteral("no shadow at the cursor step");
  const ShadowStep& sh = *s->shadow;
  double mean = 0, worst = 0;
  int worstLayer = 0;
  for (std::size_t l = 0; l < sh.layers.size(); ++l) {
    const double m = sh.layers[l].missed();
    mean += m;
    if (m > worst) worst = m, worstLayer = static_cast<int>(l);
  }
  if (!sh.layers.empty()) mean /= static_cast<double>(sh.layers.size());
  QString text =
      QStringLiteral("step %1: KL %2 · top-1 %3 · missed %4 (layer mean), %5 at layer %6")
          .arg(s->step)
          .arg(sh.kl, 0, 'g', 3)
          .arg(sh.top1_agree ? QStringLiteral("agrees")
                             : QStringLiteral("differs (rank %1)").arg(sh.policy_token_rank))
          .arg(mean, 0, 'g', 3)
          .arg(worst, 0, 'g', 3)
          .arg(worstLayer);
  if (!s->regrets.empty()) text += QStringLiteral(" · %1 regret events").arg(s->regrets.size());
  return text;
}

void RegretPlot::prepareReplot() {
  summary_->setText(summaryText());
  int layers = 0;
  for (const auto& c : columns_) layers = std::max(layers, static_cast<int>(c.size()));
  const int n = columnCount();
  if (mapDirty_) {
    mapDirty_ = false;
    if (n == 0 || layers == 0) {
      map_->data()->clear();
    } else {
      // As the occupancy map: a single step or layer is drawn as two identical cells.
      const int keyCells = std::max(n, 2), valueCells = std::max(layers, 2);
      const double k0 = steps_.front(), k1 = n > 1 ? steps_.back() : steps_.front() + 1;
      map_->data()->setSize(keyCells, valueCells);
      map_->data()->setRange(QCPRange(k0, k1), QCPRange(0, std::max(layers - 1, 1)));
      double high = 1e-6;
      for (int k = 0; k < keyCells; ++k) {
        const auto& column = columns_[std::min(k, n - 1)];
        for (int l = 0; l < valueCells; ++l) {
          const int layer = std::min(l, layers - 1);
          const double v = layer < static_cast<int>(column.size()) ? column[layer] : 0;
          map_->data()->setCell(k, l, v);
          high = std::max(high, v);
        }
      }
      map_->setDataRange(QCPRange(0, high));  // anchored at 0: dark is "nothing missed"
    }
  }
  if (userMovedRange()) return;
  QCPAxisRect* top = axisRect(0);
  double k0 = 0.5, k1 = 1.5;
  if (n > 0) {
    const double half = n > 1 ? (steps_.back() - steps_.front()) / (2.0 * (n - 1)) : 0.5;
    k0 = steps_.front() - half;
    k1 = (n > 1 ? steps_.back() : steps_.front()) + half;
  }
  top->axis(QCPAxis::atBottom)->setRange(k0, k1);
  missedRect_->axis(QCPAxis::atBottom)->setRange(k0, k1);
  missedRect_->axis(QCPAxis::atLeft)->setRange(-0.5, std::max(layers, 2) - 0.5);
  bool ok = false;
  const QCPRange r = kl_->getValueRange(ok);
  top->axis(QCPAxis::atLeft)->setRange(0, ok ? std::max(r.upper * 1.1, 1e-3) : 1e-3);
}

}  // namespace hae::widgets
