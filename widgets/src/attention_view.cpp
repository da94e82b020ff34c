#include "hae/widgets/attention_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <map>

#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/state_colors.h"

namespace hae::widgets {

AttentionView::AttentionView(RunHistory* history, QWidget* parent)
    : QWidget(parent), history_(history) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Heads:"), this));
  headBox_ = new QComboBox(this);
  headBox_->setToolTip(tr("The mean over the query heads, or one head"));
  top->addWidget(headBox_, 1);
  layout->addLayout(top);
  status_ = new QLabel(this);
  status_->setWordWrap(true);
  layout->addWidget(status_);
  overlay_ = new PatchOverlayView(history_, this);
  layout->addWidget(overlay_, 1);
  connect(headBox_, &QComboBox::currentIndexChanged, this, [this](int index) {
    if (index >= 0) setHead(index - 1);  // item 0 is the mean
  });
  // Attention belongs to one step: moving the cursor elsewhere makes it stale.
  connect(history_, &RunHistory::cursorChanged, this, [this] {
    if (follow_)
      pull();
    else
      refresh();
  });
  connect(history_, &RunHistory::runReset, this, [this] { setAttention({}); });
  refresh();
}

void AttentionView::setFollowHistory(bool follow) {
  follow_ = follow;
  if (follow_) pull();
}

void AttentionView::setLayer(int layer) {
  layer_ = std::max(0, layer);
  if (follow_) pull();
}

void AttentionView::setEmptyText(const QString& text) {
  emptyText_ = text;
  refresh();
}

VisualAttention AttentionView::attentionAt(const RunHistory& history, int index, int layer) {
  if (index < 0 || index >= history.stepCount()) return {};
  const StepTelemetry& s = history.step(index);
  if (layer < 0 || layer >= static_cast<int>(s.attention.size())) return {};
  const StepAttention& a = s.attention[layer];
  return {s.step, layer, a.heads, a.weights};
}

void AttentionView::pull() {
  // While a run streams in, the cursor moves at every token: a hidden tab copies nothing.
  if (!isVisible()) {
    stalePull_ = true;
    return;
  }
  stalePull_ = false;
  setAttention(attentionAt(*history_, history_->cursor(), layer_));
}

void AttentionView::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (follow_ && stalePull_) pull();
}

void AttentionView::setImages(std::vector<QImage> images) {
  overlay_->setImages(std::move(images));
}

void AttentionView::setAttention(VisualAttention attention) {
  attention_ = std::move(attention);
  const QSignalBlocker block(headBox_);
  headBox_->clear();
  headBox_->addItem(tr("mean over heads"));
  for (int h = 0; h < attention_.heads; ++h) headBox_->addItem(tr("head %1").arg(h));
  if (head_ >= attention_.heads) head_ = kHeadMean;
  headBox_->setCurrentIndex(head_ + 1);
  refresh();
}

void AttentionView::setHead(int head) {
  head = head < 0 || head >= attention_.heads ? kHeadMean : head;
  if (head == head_) return;
  head_ = head;
  const QSignalBlocker block(headBox_);
  headBox_->setCurrentIndex(head_ + 1);
  refresh();
}

std::vector<float> AttentionView::shownValues() const {
  const int heads = attention_.heads;
  const int visuals = heads > 0 ? static_cast<int>(attention_.weights.size()) / heads : 0;
  std::vector<float> out(visuals, 0.0f);
  if (visuals == 0) return out;
  for (int v = 0; v < visuals; ++v) {
    if (head_ >= 0) {
      out[v] = attention_.weights[static_cast<std::size_t>(head_) * visuals + v];
    } else {
      double sum = 0;
      for (int h = 0; h < heads; ++h)
        sum += attention_.weights[static_cast<std::size_t>(h) * visuals + v];
      out[v] = static_cast<float>(sum / heads);
    }
  }
  return out;
}

void AttentionView::refresh() {
  const StepTelemetry* at = history_->cursorStep();
  const bool valid =
      attention_.heads > 0 && !attention_.weights.empty() &&
      static_cast<int>(attention_.weights.size()) == attention_.heads * history_->visualCount();
  if (!valid) {
    overlay_->setPatchValues({}, {});
    status_->setText(attention_.weights.empty()
                         ? (emptyText_.isEmpty() ? tr("No attention recorded for this step.")
                                                 : emptyText_)
                         : tr("The attention does not match this prompt's %1 visual tokens.")
                               .arg(history_->visualCount()));
    return;
  }
  const bool stale = !at || at->step != attention_.step;
  overlay_->setLayer(attention_.layer);
  overlay_->setPatchValues(shownValues(),
                           tr("Layer %1 attention of the step-%2 token, %3")
                               .arg(attention_.layer)
                               .arg(attention_.step)
                               .arg(head_ < 0 ? tr("mean of %1 heads").arg(attention_.heads)
                                              : tr("head %1").arg(head_)));
  status_->setText(stale ? tr("Shown: step %1 (the cursor is at step %2).")
                               .arg(attention_.step)
                               .arg(at ? at->step : -1)
                         : QString());
}

std::vector<std::vector<PatchState>> headStates(const RunHistory& history, int layer, int upTo) {
  const RunInfo& info = history.info();
  upTo = std::min(upTo, history.stepCount() - 1);
  if (upTo < 0) return {};
  std::map<int, int> visualOf;  // original position -> visual index
  for (int v = 0; v < static_cast<int>(info.visual_tokens.size()); ++v) {
    const int t = info.visual_tokens[v];
    if (t >= 0 && t < static_cast<int>(info.tokens.size())) visualOf[info.tokens[t].position] = v;
  }
  int heads = 0;
  for (int i = 0; i <= upTo; ++i)
    for (const PolicyEvent& e : history.step(i).events)
      if (e.head >= 0 && (e.layer == layer || e.layer < 0)) heads = std::max(heads, e.head + 1);
  if (heads == 0) return {};
  const int visuals = history.visualCount();
  std::vector<std::vector<PatchState>> out(heads,
                                           std::vector<PatchState>(visuals, PatchState::Kept));
  for (int i = 0; i <= upTo; ++i) {
    for (const PolicyEvent& e : history.step(i).events) {
      if (e.head < 0 || e.head >= heads || (e.layer != layer && e.layer >= 0)) continue;
      const auto it = visualOf.find(e.position);
      if (it == visualOf.end()) continue;
      PatchState& s = out[e.head][it->second];
      switch (e.kind) {
        case EventKind::Evict:
        case EventKind::Purge:
          s = PatchState::Evicted;
          break;
        case EventKind::Demote:
          s = PatchState::InBin;
          break;
        case EventKind::Restore:
          s = PatchState::Kept;
          break;
      }
    }
  }
  // What the layer drops for every head at once is gone for each head too.
  for (int v = 0; v < visuals; ++v)
    if (history.patchState(v, layer, upTo) == PatchState::Evicted)
      for (auto& head : out) head[v] = PatchState::Evicted;
  return out;
}

HeadKeepView::HeadKeepView(RunHistory* history, QWidget* parent)
    : QWidget(parent), history_(history) {
  connect(history_, &RunHistory::cursorChanged, this, qOverload<>(&QWidget::update));
  connect(history_, &RunHistory::runReset, this, qOverload<>(&QWidget::update));
  connect(history_, &RunHistory::stepAppended, this, qOverload<>(&QWidget::update));
}

void HeadKeepView::setLayer(int layer) {
  layer_ = std::max(0, layer);
  update();
}

int HeadKeepView::headCount() const {
  return static_cast<int>(headStates(*history_, layer_, history_->cursor()).size());
}

std::vector<int> HeadKeepView::keptPerHead() const {
  std::vector<int> out;
  for (const auto& head : headStates(*history_, layer_, history_->cursor()))
    out.push_back(static_cast<int>(std::count(head.begin(), head.end(), PatchState::Kept)));
  return out;
}

int HeadKeepView::keptByAnyHead() const {
  const auto states = headStates(*history_, layer_, history_->cursor());
  if (states.empty()) return 0;
  int n = 0;
  for (std::size_t v = 0; v < states[0].size(); ++v) {
    bool any = false;
    for (const auto& head : states) any = any || head[v] == PatchState::Kept;
    n += any;
  }
  return n;
}

QString HeadKeepView::summary() const {
  const StepTelemetry* at = history_->cursorStep();
  if (!at) return tr("No run yet.");
  const std::vector<int> kept = keptPerHead();
  if (kept.empty())
    return tr("Layer %1: this run keeps one set per layer (no per-head decisions).").arg(layer_);
  QStringList counts;
  for (int k : kept) counts << QString::number(k);
  return tr("Layer %1 · step %2 · visual tokens kept per KV head: %3 · kept by at least one head "
            "(what a per-layer count shows): %4")
      .arg(layer_)
      .arg(at->step)
      .arg(counts.join(QStringLiteral(", ")))
      .arg(keptByAnyHead());
}

void HeadKeepView::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  paint(painter, size());
}

QImage HeadKeepView::renderImage(QSize size) const {
  QImage image(size, QImage::Format_ARGB32_Premultiplied);
  QPainter painter(&image);
  paint(painter, size);
  return image;
}

void HeadKeepView::paint(QPainter& painter, QSizeF size) const {
  painter.fillRect(QRectF(QPointF(0, 0), size), palette().window());
  painter.setPen(palette().color(QPalette::WindowText));
  const QRectF header(6, 4, size.width() - 12, 40);
  painter.drawText(header, Qt::AlignLeft | Qt::AlignTop | Qt::TextWordWrap, summary());
  const auto states = headStates(*history_, layer_, history_->cursor());
  if (states.empty()) return;
  // Each head's map: every non-global grid of the prompt side by side as cells.
  const RunInfo& info = history_->info();
  struct Cell {
    int grid, row, col;
  };
  std::vector<const CropGrid*> grids;
  for (const ImageInfo& im : info.images)
    for (const CropGrid& g : im.grids)
      if (!g.global) grids.push_back(&g);
  std::vector<Cell> cells(history_->visualCount(), Cell{-1, 0, 0});
  for (int v = 0; v < history_->visualCount(); ++v) {
    const TokenInfo& t = info.tokens.at(info.visual_tokens[v]);
    for (int g = 0; g < static_cast<int>(grids.size()); ++g)
      if (grids[g]->image == t.image && grids[g]->crop == t.crop) cells[v] = {g, t.row, t.col};
  }
  int totalCols = 0, maxRows = 1;
  for (const CropGrid* g : grids) totalCols += g->cols + 1, maxRows = std::max(maxRows, g->rows);
  const int heads = static_cast<int>(states.size());
  const QRectF area(6, header.bottom() + 4, size.width() - 12,
                    size.height() - header.bottom() - 10);
  const int perRow =
      std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(heads) * area.width() /
                                                       std::max(1.0, area.height())))));
  const int rows = (heads + perRow - 1) / perRow;
  const double tileW = area.width() / perRow, tileH = area.height() / rows;
  const double cell =
      std::max(1.0, std::min((tileW - 8) / std::max(1, totalCols), (tileH - 20) / maxRows));
  for (int h = 0; h < heads; ++h) {
    const QPointF origin(area.x() + (h % perRow) * tileW, area.y() + (h / perRow) * tileH);
    const int kept =
        static_cast<int>(std::count(states[h].begin(), states[h].end(), PatchState::Kept));
    painter.setPen(palette().color(QPalette::WindowText));
    painter.drawText(QRectF(origin.x(), origin.y(), tileW, 16), Qt::AlignLeft | Qt::AlignVCenter,
                     tr("head %1: %2 kept").arg(h).arg(kept));
    std::vector<double> gridX(grids.size());
    double x = origin.x();
    for (std::size_t g = 0; g < grids.size(); ++g) gridX[g] = x, x += (grids[g]->cols + 1) * cell;
    for (int v = 0; v < static_cast<int>(cells.size()); ++v) {
      if (cells[v].grid < 0) continue;
      const QRectF r(gridX[cells[v].grid] + cells[v].col * cell,
                     origin.y() + 18 + cells[v].row * cell, cell, cell);
      const PatchState s = states[h][v];
      painter.fillRect(r, s == PatchState::Kept ? QColor(200, 230, 205) : stateSolid(s));
    }
  }
}

}  // namespace hae::widgets
