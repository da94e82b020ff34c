#include "hae/widgets/patch_overlay_view.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QSvgGenerator>
#include <QToolTip>
#include <algorithm>
#include <cmath>

#include "hae/widgets/export_file.h"
#include "hae/widgets/image_view.h"
#include "hae/widgets/run_caption.h"
#include "hae/widgets/state_colors.h"

namespace hae::widgets {

namespace {

constexpr double kMargin = 6, kGap = 10, kHeaderH = 20, kLegendH = 20, kCaptionH = 16;

// Grey hatch over what the model never saw (outside a centre crop).
QBrush unseenBrush() {
  return QBrush(QColor(90, 90, 90, 200), Qt::DiagCrossPattern);
}
QColor unseenShade() {
  return {60, 60, 60, 110};
}

QFont boldOf(QFont f) {
  f.setBold(true);
  return f;
}

const char* stateName(PatchState s) {
  switch (s) {
    case PatchState::Kept:
      return "kept";
    case PatchState::InBin:
      return "in bin";
    case PatchState::Evicted:
      return "evicted";
  }
  return "?";
}

QRectF mapRegion(const PatchRect& r, QSizeF imageSize, const QRectF& drawn) {
  const double sx = drawn.width() / imageSize.width(), sy = drawn.height() / imageSize.height();
  return {drawn.x() + r.x * sx, drawn.y() + r.y * sy, r.w * sx, r.h * sy};
}

// Colour for "all layers summarised": clear when every layer keeps the patch, then more opaque
// the more layers drop it, shading from amber (in bin) to dark red (evicted).
QColor summaryFill(const StateCounts& c) {
  const int dropped = c.in_bin + c.evicted;
  if (dropped == 0 || c.total() == 0) return stateFill(PatchState::Kept);
  const double e = static_cast<double>(c.evicted) / dropped;
  const QColor bin = stateFill(PatchState::InBin), gone = stateFill(PatchState::Evicted);
  const double share = static_cast<double>(dropped) / c.total();
  auto mix = [e](int a, int b) { return static_cast<int>(std::lround(a + (b - a) * e)); };
  return QColor(mix(bin.red(), gone.red()), mix(bin.green(), gone.green()),
                mix(bin.blue(), gone.blue()), static_cast<int>(std::lround(50 + 150 * share)));
}

}  // namespace

PatchOverlayView::PatchOverlayView(RunHistory* history, QWidget* parent)
    : QWidget(parent), history_(history) {
  setMouseTracking(true);
  setMinimumSize(minimumSizeHint());
  connect(history_, &RunHistory::runReset, this, [this] {
    ++resets_;
    rebuildIndex();
    pinned_ = hovered_ = -1;
    // What-if marks stay for a re-run of the same prompt layout, not for another prompt.
    if (static_cast<int>(marks_.size()) != history_->visualCount()) {
      const bool had = editMarkCount() > 0;
      marks_.assign(history_->visualCount(), EditMark::None);
      if (had) emit editMarksChanged();
    }
    update();
  });
  connect(history_, &RunHistory::cursorChanged, this, qOverload<>(&QWidget::update));
  rebuildIndex();
}

void PatchOverlayView::setImages(std::vector<QImage> images) {
  images_ = std::move(images);
  update();
}

void PatchOverlayView::setLayer(int layer) {
  layer = layer < 0 ? kAllLayers : std::min(layer, std::max(0, history_->numLayers() - 1));
  if (layer == layer_) return;
  layer_ = layer;
  emit layerChanged(layer_);
  update();
}

void PatchOverlayView::setDiffAgainst(RunHistory* other) {
  if (other == other_) return;
  for (auto& c : otherConnections_) disconnect(c);
  other_ = other;
  if (other_) {
    otherConnections_[0] =
        connect(other_, &RunHistory::cursorChanged, this, qOverload<>(&QWidget::update));
    otherConnections_[1] =
        connect(other_, &RunHistory::runReset, this, qOverload<>(&QWidget::update));
  }
  update();
}

namespace {
// Held = still stored (live or in the bin); for all layers, held by at least one layer.
bool heldBy(const RunHistory& h, int visual, int layer) {
  const int cursor = h.cursor();
  if (cursor < 0) return true;
  if (layer != RunHistory::kAllLayers)
    return h.patchState(visual, std::min(layer, std::max(0, h.numLayers() - 1)), cursor) !=
           PatchState::Evicted;
  const StateCounts c = h.patchCounts(visual, cursor);
  return c.total() == 0 || c.evicted < c.total();
}

QColor diffFill(PatchOverlayView::DiffClass d) {
  switch (d) {
    case PatchOverlayView::DiffClass::Both:
      return {0, 0, 0, 0};
    case PatchOverlayView::DiffClass::AOnly:
      return {40, 110, 230, 170};  // blue, as A's curves
    case PatchOverlayView::DiffClass::BOnly:
      return {240, 120, 10, 170};  // orange, as B's curves
    case PatchOverlayView::DiffClass::Neither:
      return {30, 30, 30, 190};
  }
  return {};
}
}  // namespace

PatchOverlayView::DiffClass PatchOverlayView::diffClass(int visual) const {
  const bool a = heldBy(*history_, visual, layer_);
  const bool b = other_ && visual < other_->visualCount() ? heldBy(*other_, visual, layer_) : a;
  return a && b ? DiffClass::Both
         : a    ? DiffClass::AOnly
         : b    ? DiffClass::BOnly
                : DiffClass::Neither;
}

void PatchOverlayView::setPatchValues(std::vector<float> values, const QString& what) {
  values_ = std::move(values);
  valuesLabel_ = what;
  update();
}

namespace {
// Transparent at 0, then yellow to red as the share of the largest value grows.
QColor heatFill(float value, float high) {
  if (!(high > 0) || !(value > 0)) return {0, 0, 0, 0};
  const double t = std::clamp(static_cast<double>(value) / high, 0.0, 1.0);
  return QColor(255, static_cast<int>(std::lround(230 - 200 * t)), 0,
                static_cast<int>(std::lround(40 + 180 * t)));
}
}  // namespace

namespace {
// Missed attention: a plasma-like ramp from dim blue (dropped, barely wanted) to yellow (the
// largest attention the cache could not show at this step), opaque enough to read on any image.
QColor missedFill(float value, float high) {
  const double t =
      high > 0 ? std::clamp(static_cast<double>(std::max(0.0f, value)) / high, 0.0, 1.0) : 0.0;
  struct Stop {
    double at;
    int r, g, b;
  };
  static const Stop stops[] = {
      {0.0, 13, 8, 135}, {0.35, 126, 3, 168}, {0.65, 220, 90, 100}, {1.0, 240, 249, 33}};
  int i = 0;
  while (i + 2 < 4 && t > stops[i + 1].at) ++i;
  const Stop& a = stops[i];
  const Stop& b = stops[i + 1];
  const double u = std::clamp((t - a.at) / (b.at - a.at), 0.0, 1.0);
  auto mix = [u](int x, int y) { return static_cast<int>(std::lround(x + (y - x) * u)); };
  return QColor(mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b),
                static_cast<int>(std::lround(110 + 120 * t)));
}

QColor markColour(PatchOverlayView::EditMark m) {
  return m == PatchOverlayView::EditMark::ForceKeep ? QColor(0, 200, 83) : QColor(230, 20, 20);
}
}  // namespace

void PatchOverlayView::setColorMode(ColorMode mode) {
  if (mode == colorMode_) return;
  colorMode_ = mode;
  update();
}

int PatchOverlayView::shadowStateIndex() const {
  const int cursor = history_->cursor();
  if (cursor <= 0) return cursor;
  // A decode step's forward saw the cache as the step before left it; the prefill's query saw
  // the prefill's own decisions.
  return history_->step(cursor).step > 0 ? cursor - 1 : cursor;
}

bool PatchOverlayView::hasShadowAtCursor() const {
  const StepTelemetry* s = history_->cursorStep();
  return s && s->shadow && !s->shadow->visual_attention.empty();
}

float PatchOverlayView::missedValue(int visual) const {
  if (!hasShadowAtCursor() || visual < 0 || visual >= history_->visualCount()) return -1;
  // Every patch at once, once per cursor, layer and run: a paint asks for each patch and the
  // ramp's top, which would be quadratic in the patch count otherwise.
  const MissedKey key{history_->cursor(), layer_, history_->cursorStep(), resets_};
  if (!(key == missedKey_)) {
    missedKey_ = key;
    missed_.assign(history_->visualCount(), -1.0f);
    missedTop_ = 0;
    for (int v = 0; v < history_->visualCount(); ++v) {
      missed_[v] = computeMissed(v);
      missedTop_ = std::max(missedTop_, missed_[v]);
    }
  }
  return missed_[visual];
}

float PatchOverlayView::computeMissed(int visual) const {
  const ShadowStep& sh = *history_->cursorStep()->shadow;
  const int at = shadowStateIndex();
  auto attention = [&](int layer) {
    return layer < static_cast<int>(sh.visual_attention.size()) &&
                   visual < static_cast<int>(sh.visual_attention[layer].size())
               ? sh.visual_attention[layer][visual]
               : 0.0f;
  };
  const int layers = std::max(1, history_->numLayers());
  if (layer_ != kAllLayers) {
    const int layer = std::min(layer_, layers - 1);
    if (history_->patchState(visual, layer, at) == PatchState::Kept) return -1;
    return attention(layer);
  }
  double sum = 0;
  bool dropped = false;
  for (int l = 0; l < layers; ++l) {
    if (history_->patchState(visual, l, at) == PatchState::Kept) continue;
    dropped = true;
    sum += attention(l);
  }
  return dropped ? static_cast<float>(sum / layers) : -1.0f;
}

float PatchOverlayView::missedHigh() const {
  if (history_->visualCount() == 0 || missedValue(0) < -1) return 0;  // fills the cache
  return hasShadowAtCursor() ? missedTop_ : 0;
}

PatchOverlayView::EditMark PatchOverlayView::editMark(int visual) const {
  return visual >= 0 && visual < static_cast<int>(marks_.size()) ? marks_[visual] : EditMark::None;
}

void PatchOverlayView::setEditMark(int visual, EditMark mark) {
  if (visual < 0 || visual >= history_->visualCount()) return;
  if (static_cast<int>(marks_.size()) != history_->visualCount())
    marks_.assign(history_->visualCount(), EditMark::None);
  if (marks_[visual] == mark) return;
  marks_[visual] = mark;
  emit editMarksChanged();
  update();
}

void PatchOverlayView::toggleEditMark(int visual, EditMark mark) {
  setEditMark(visual, editMark(visual) == mark ? EditMark::None : mark);
}

void PatchOverlayView::clearEditMarks() {
  if (editMarkCount() == 0) return;
  marks_.assign(marks_.size(), EditMark::None);
  emit editMarksChanged();
  update();
}

int PatchOverlayView::editMarkCount() const {
  return static_cast<int>(
      std::count_if(marks_.begin(), marks_.end(), [](EditMark m) { return m != EditMark::None; }));
}

std::vector<int> PatchOverlayView::markPositions(EditMark mark) const {
  const RunInfo& info = history_->info();
  std::vector<int> out;
  for (int v = 0; v < static_cast<int>(marks_.size()); ++v) {
    if (marks_[v] != mark || v >= static_cast<int>(info.visual_tokens.size())) continue;
    const int t = info.visual_tokens[v];
    if (t >= 0 && t < static_cast<int>(info.tokens.size())) out.push_back(info.tokens[t].position);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> PatchOverlayView::forceKeepPositions() const {
  return markPositions(EditMark::ForceKeep);
}

std::vector<int> PatchOverlayView::forceEvictPositions() const {
  return markPositions(EditMark::ForceEvict);
}

void PatchOverlayView::setEvictedStyle(EvictedStyle style) {
  if (style == evictedStyle_) return;
  evictedStyle_ = style;
  update();
}

void PatchOverlayView::pinPatch(int visual) {
  pinned_ = visual >= 0 && visual < history_->visualCount() ? visual : -1;
  update();
}

void PatchOverlayView::rebuildIndex() {
  const RunInfo& info = history_->info();
  grids_.clear();
  for (int i = 0; i < static_cast<int>(info.images.size()); ++i) {
    for (const CropGrid& g : info.images[i].grids) {
      grids_.push_back({i, g, std::vector<int>(std::max(0, g.rows * g.cols), -1)});
    }
  }
  places_.assign(info.visual_tokens.size(), Place{});
  for (int v = 0; v < static_cast<int>(info.visual_tokens.size()); ++v) {
    const int t = info.visual_tokens[v];
    if (t < 0 || t >= static_cast<int>(info.tokens.size())) continue;
    const TokenInfo& tok = info.tokens[t];
    for (int g = 0; g < static_cast<int>(grids_.size()); ++g) {
      Grid& grid = grids_[g];
      if (grid.image != tok.image || grid.spec.crop != tok.crop) continue;
      if (tok.row < 0 || tok.row >= grid.spec.rows || tok.col < 0 || tok.col >= grid.spec.cols)
        break;
      places_[v] = {g, tok.row, tok.col};
      grid.cells[tok.row * grid.spec.cols + tok.col] = v;
      break;
    }
  }
  // Images loaded from disk once per run; the caller's setImages() wins over these.
  images_.resize(info.images.size());
  for (int i = 0; i < static_cast<int>(info.images.size()); ++i) {
    if (images_[i].isNull() && !info.images[i].path.empty())
      images_[i] = QImage(QString::fromStdString(info.images[i].path));
  }
}

QImage PatchOverlayView::imageFor(int index) const {
  if (index < static_cast<int>(images_.size()) && !images_[index].isNull()) return images_[index];
  const ImageInfo& info = history_->info().images[index];
  QImage placeholder(std::max(1, info.width), std::max(1, info.height), QImage::Format_RGB32);
  placeholder.fill(QColor(150, 150, 150));
  return placeholder;
}

PatchOverlayView::Layout PatchOverlayView::computeLayout(QSizeF size, bool exporting) const {
  Layout out;
  const RunInfo& info = history_->info();
  const QRectF all = QRectF(QPointF(0, 0), size).adjusted(kMargin, kMargin, -kMargin, -kMargin);
  // The header wraps onto as many lines as it needs instead of being cut off at the edge.
  QString header = headerText();
  if (exporting && !exportCaption().isEmpty()) header += QLatin1Char('\n') + exportCaption();
  const QRectF need =
      QFontMetricsF(boldOf(font()))
          .boundingRect(QRectF(0, 0, std::max(40.0, all.width()), 1e4), Qt::TextWordWrap, header);
  out.header = QRectF(all.x(), all.y(), all.width(), std::max(kHeaderH, need.height() + 4));
  out.legend = QRectF(all.x(), all.bottom() - kLegendH, all.width(), kLegendH);
  const QRectF content(all.x(), out.header.bottom() + 4, all.width(),
                       out.legend.top() - 4 - (out.header.bottom() + 4));
  const int n = static_cast<int>(info.images.size());
  out.thumbs.assign(grids_.size(), QRectF());
  out.targets.assign(grids_.size(), QRectF());
  if (n == 0 || content.height() < 20) return out;

  std::vector<QSizeF> sizes(n);
  std::vector<bool> hasGlobal(n, false);
  for (int i = 0; i < n; ++i) {
    sizes[i] = QSizeF(info.images[i].width, info.images[i].height);
    if (sizes[i].isEmpty()) sizes[i] = imageFor(i).size();
  }
  for (const Grid& g : grids_) {
    if (g.spec.global && g.image >= 0 && g.image < n) hasGlobal[g.image] = true;
  }
  auto stripWidth = [](double cellW) { return std::max(60.0, cellW * 0.24); };
  // Images go in a grid of cells; pick the column count that draws the smallest image largest,
  // so a tall panel stacks images and a wide one puts them side by side.
  int columns = 1;
  double bestScale = -1;
  for (int c = 1; c <= n; ++c) {
    const int rows = (n + c - 1) / c;
    const double cellW = (content.width() - (c - 1) * kGap) / c;
    const double cellH = (content.height() - (rows - 1) * kGap) / rows;
    double worst = 1e9;
    for (int i = 0; i < n; ++i) {
      const double mainW = cellW - (hasGlobal[i] ? stripWidth(cellW) + kGap : 0);
      const double mainH = cellH - kCaptionH - 2;
      worst = std::min(worst, std::min(mainW / sizes[i].width(), mainH / sizes[i].height()));
    }
    if (worst > bestScale * 1.01) bestScale = worst, columns = c;
  }
  const int rows = (n + columns - 1) / columns;
  const double cellW = (content.width() - (columns - 1) * kGap) / columns;
  const double cellH = (content.height() - (rows - 1) * kGap) / rows;
  double lowest = content.top();
  for (int i = 0; i < n; ++i) {
    const QRectF cell(content.x() + (i % columns) * (cellW + kGap),
                      content.y() + (i / columns) * (cellH + kGap), cellW, cellH);
    out.captions.push_back(QRectF(cell.x(), cell.y(), cell.width(), kCaptionH));
    const QRectF body = cell.adjusted(0, kCaptionH + 2, 0, 0);
    const QSizeF imageSize = sizes[i];

    std::vector<int> globals;
    for (int g = 0; g < static_cast<int>(grids_.size()); ++g) {
      if (grids_[g].image == i && grids_[g].spec.global) globals.push_back(g);
    }
    QRectF main = body;
    QRectF strip;
    if (!globals.empty()) {
      const double stripW = stripWidth(body.width());
      main.setRight(body.right() - stripW - kGap);
      strip = QRectF(main.right() + kGap, body.y(), stripW, body.height());
    }
    QRectF drawn = ImageView::fitRect(imageSize, main);
    drawn.moveTop(main.top());  // top-aligned, so captions stay next to their image
    out.images.push_back(drawn);
    lowest = std::max(lowest, drawn.bottom());

    for (int g = 0; g < static_cast<int>(grids_.size()); ++g) {
      if (grids_[g].image == i && !grids_[g].spec.global)
        out.targets[g] = mapRegion(grids_[g].spec.region, imageSize, drawn);
    }
    // Global views stack down the strip, each under a small "global view" label.
    double y = strip.y();
    for (int g : globals) {
      const double slotH = std::min(strip.width() * imageSize.height() / imageSize.width(),
                                    strip.bottom() - (y + kCaptionH));
      if (slotH < 8) break;
      QRectF thumb =
          ImageView::fitRect(imageSize, QRectF(strip.x(), y + kCaptionH, strip.width(), slotH));
      thumb.moveTop(y + kCaptionH);
      out.thumbs[g] = thumb;
      out.targets[g] = mapRegion(grids_[g].spec.region, imageSize, thumb);
      y = thumb.bottom() + kGap;
      lowest = std::max(lowest, thumb.bottom());
    }
  }
  // The legend sits right under the images rather than at the far bottom of a tall panel.
  out.legend.moveTop(std::min(out.legend.top(), lowest + 6));
  return out;
}

bool PatchOverlayView::patchGone(int visual) const {
  const int cursor = history_->cursor();
  if (layer_ != kAllLayers)
    return history_->patchState(visual, layer_, cursor) == PatchState::Evicted;
  const StateCounts c = history_->patchCounts(visual, cursor);
  return c.total() > 0 && c.evicted == c.total();
}

bool PatchOverlayView::patchFullyKept(int visual) const {
  const int cursor = history_->cursor();
  if (layer_ != kAllLayers) return history_->patchState(visual, layer_, cursor) == PatchState::Kept;
  const StateCounts c = history_->patchCounts(visual, cursor);
  return c.in_bin + c.evicted == 0;
}

QColor PatchOverlayView::patchFill(int visual) const {
  const int cursor = history_->cursor();
  if (!values_.empty()) {
    const float high = *std::max_element(values_.begin(), values_.end());
    return visual < static_cast<int>(values_.size()) ? heatFill(values_[visual], high)
                                                     : QColor(0, 0, 0, 0);
  }
  if (cursor < 0) return stateFill(PatchState::Kept);
  if (other_) return diffFill(diffClass(visual));
  if (colorMode_ == ColorMode::MissedAttention) {
    const float value = missedValue(visual);
    return value < 0 ? stateFill(PatchState::Kept) : missedFill(value, missedHigh());
  }
  if (layer_ != kAllLayers) return stateFill(history_->patchState(visual, layer_, cursor));
  return summaryFill(history_->patchCounts(visual, cursor));
}

QString PatchOverlayView::headerText() const {
  const RunInfo& info = history_->info();
  const StepTelemetry* step = history_->cursorStep();
  const int layers = history_->numLayers();
  // Header: what is shown, and the counts at this layer and step.
  QString header;
  if (!values_.empty()) {
    const float high = *std::max_element(values_.begin(), values_.end());
    double sum = 0;
    for (float v : values_) sum += v;
    return tr("%1 · sum over the visual patches %2 · largest %3 (full red)")
        .arg(valuesLabel_)
        .arg(sum, 0, 'g', 3)
        .arg(high, 0, 'g', 3);
  }
  if (colorMode_ == ColorMode::MissedAttention && !other_ && step) {
    const QString where = layer_ == kAllLayers ? tr("all %1 layers (mean)").arg(layers)
                                               : tr("layer %1 of %2").arg(layer_).arg(layers);
    const QString when = step->step == 0 ? tr("prefill") : tr("step %1").arg(step->step);
    if (!hasShadowAtCursor())
      return tr("Missed attention · %1 · %2: no full-cache shadow at this step (View > Full-cache "
                "shadow, then run again)")
          .arg(where, when);
    double sum = 0;
    int dropped = 0;
    for (int v = 0; v < history_->visualCount(); ++v) {
      const float m = missedValue(v);
      if (m < 0) continue;
      sum += m;
      ++dropped;
    }
    return tr("Missed attention · %1 · %2 · the full model's attention on the %3 dropped patches: "
              "%4 in all, largest %5")
        .arg(where, when)
        .arg(dropped)
        .arg(sum, 0, 'g', 3)
        .arg(missedHigh(), 0, 'g', 3);
  }
  if (other_ && step) {
    int counts[4] = {};
    for (int v = 0; v < history_->visualCount(); ++v) ++counts[static_cast<int>(diffClass(v))];
    const StepTelemetry* b = other_->cursorStep();
    const QString where = layer_ == kAllLayers ? tr("All %1 layers").arg(layers)
                                               : tr("Layer %1 of %2").arg(layer_).arg(layers);
    header = compactHeader_
                 ? tr("%1 both · %2 A only · %3 B only · %4 neither")
                 : tr("A vs B · %1 · A at step %2, B at %3 · %4 both · %5 A only · %6 B only · "
                      "%7 neither")
                       .arg(where)
                       .arg(step->step)
                       .arg(b ? QString::number(b->step) : tr("none"));
    header = header.arg(counts[0]).arg(counts[1]).arg(counts[2]).arg(counts[3]);
    if (other_->visualCount() != history_->visualCount())
      header += tr(" · B's prompt has %1 visual tokens, A's %2: not comparable")
                    .arg(other_->visualCount())
                    .arg(history_->visualCount());
    return header;
  }
  if (!step) {
    header = info.images.empty() ? tr("No image yet") : tr("Waiting for the prefill");
  } else {
    int counts[3] = {};
    for (int v = 0; v < history_->visualCount(); ++v) {
      if (layer_ != kAllLayers) {
        ++counts[static_cast<int>(history_->patchState(v, layer_, history_->cursor()))];
      } else {
        const StateCounts c = history_->patchCounts(v, history_->cursor());
        ++counts[c.evicted == c.total() && c.total() > 0 ? 2 : c.kept > 0 ? 0 : 1];
      }
    }
    const QString where = layer_ == kAllLayers ? tr("All %1 layers").arg(layers)
                                               : tr("Layer %1 of %2").arg(layer_).arg(layers);
    const QString when = step->step == 0 ? tr("prefill") : tr("step %1").arg(step->step);
    if (compactHeader_)
      return tr("%1 · %2 kept · %3 in bin · %4 evicted")
          .arg(when)
          .arg(counts[0])
          .arg(counts[1])
          .arg(counts[2]);
    header = tr("%1 · %2 · %3 kept · %4 in bin · %5 evicted")
                 .arg(where, when)
                 .arg(counts[0])
                 .arg(counts[1])
                 .arg(counts[2]);
    if (layer_ == kAllLayers) header += tr(" (kept in some layer / only binned / gone everywhere)");
  }
  return header;
}

void PatchOverlayView::setCompactHeader(bool compact) {
  compactHeader_ = compact;
  update();
}

QString PatchOverlayView::exportCaption() const {
  return runCaption(history_->info());
}

void PatchOverlayView::paint(QPainter& painter, QSizeF size, bool exporting) const {
  const Layout layout = computeLayout(size, exporting);
  const RunInfo& info = history_->info();
  painter.fillRect(QRectF(QPointF(0, 0), size), palette().window());
  const StepTelemetry* step = history_->cursorStep();
  QString header = headerText();
  if (exporting && !exportCaption().isEmpty()) header += QLatin1Char('\n') + exportCaption();

  painter.setFont(boldOf(font()));
  painter.setPen(palette().color(QPalette::WindowText));
  painter.drawText(layout.header, Qt::AlignLeft | Qt::AlignVCenter | Qt::TextWordWrap, header);
  QFont small = font();
  small.setPointSizeF(small.pointSizeF() * 0.9);
  painter.setFont(small);

  for (int i = 0; i < static_cast<int>(layout.images.size()); ++i) {
    const ImageInfo& im = info.images[i];
    int patches = 0;
    for (const Grid& g : grids_) patches += g.image == i ? g.spec.rows * g.spec.cols : 0;
    painter.setPen(palette().color(QPalette::WindowText));
    painter.drawText(
        layout.captions[i], Qt::AlignLeft | Qt::AlignVCenter,
        tr("image %1 · %2×%3 px · %4 patches").arg(i).arg(im.width).arg(im.height).arg(patches));
    const QImage pixels = imageFor(i);
    painter.setRenderHint(QPainter::SmoothPixmapTransform, true);
    painter.drawImage(layout.images[i], pixels);
    for (int g = 0; g < static_cast<int>(grids_.size()); ++g) {
      if (grids_[g].image == i && !layout.thumbs[g].isEmpty()) {
        painter.drawImage(layout.thumbs[g], pixels);
        painter.setPen(palette().color(QPalette::WindowText));
        painter.drawText(QRectF(layout.thumbs[g].x(), layout.thumbs[g].y() - kCaptionH,
                                layout.thumbs[g].width(), kCaptionH),
                         Qt::AlignLeft | Qt::AlignVCenter, tr("global view"));
      }
    }
  }

  // What the model never saw (outside a centre crop) is shaded and hatched, so it cannot pass
  // for "kept".
  bool anyUnseen = false;
  for (int i = 0; i < static_cast<int>(layout.images.size()); ++i) {
    const QPainterPath unseen = unseenArea(i, layout);
    if (unseen.isEmpty()) continue;
    anyUnseen = true;
    painter.save();
    painter.setPen(Qt::NoPen);
    painter.fillPath(unseen, unseenShade());
    painter.fillPath(unseen, unseenBrush());
    painter.restore();
  }

  // One pixel per patch, scaled up without smoothing: crisp cells whatever the zoom.
  painter.setRenderHint(QPainter::SmoothPixmapTransform, false);
  painter.setRenderHint(QPainter::Antialiasing, false);
  for (int g = 0; g < static_cast<int>(grids_.size()); ++g) {
    const Grid& grid = grids_[g];
    const QRectF target = layout.targets[g];
    if (target.isEmpty() || grid.spec.rows <= 0 || grid.spec.cols <= 0) continue;
    QImage cells(grid.spec.cols, grid.spec.rows, QImage::Format_ARGB32_Premultiplied);
    cells.fill(Qt::transparent);
    QVector<QRectF> keptRects, goneRects;
    const double pw = target.width() / grid.spec.cols, ph = target.height() / grid.spec.rows;
    for (int r = 0; r < grid.spec.rows; ++r) {
      for (int c = 0; c < grid.spec.cols; ++c) {
        const int v = grid.cells[r * grid.spec.cols + c];
        if (v < 0) continue;
        const QRectF cell(target.x() + c * pw, target.y() + r * ph, pw, ph);
        // In hatch or outline mode an evicted patch keeps the image's own colours underneath,
        // so a red object is not mistaken for an eviction (nor the reverse).
        if (step && !other_ && values_.empty() && colorMode_ == ColorMode::States &&
            evictedStyle_ != EvictedStyle::Tint && patchGone(v)) {
          goneRects.append(cell);
          continue;
        }
        cells.setPixelColor(c, r, patchFill(v));
        if (step && !other_ && values_.empty() && patchFullyKept(v)) keptRects.append(cell);
      }
    }
    // Cells over padding (Phi-3.5-V pads the resized image to whole crops) lie outside the
    // picture: clip to it so only what covers the image is drawn.
    painter.save();
    painter.setClipRect(grid.spec.global ? layout.thumbs[g] : layout.images[grid.image]);
    painter.drawImage(target, cells);
    // Kept patches get a light green outline where the cells are big enough to tell apart.
    if (std::min(pw, ph) >= 6 && !keptRects.isEmpty()) {
      QPen pen(keptOutline());
      pen.setCosmetic(true);
      painter.setPen(pen);
      painter.setBrush(Qt::NoBrush);
      painter.drawRects(keptRects);
    }
    if (!goneRects.isEmpty()) {
      const QColor gone = stateSolid(PatchState::Evicted);
      if (evictedStyle_ == EvictedStyle::Hatch) {
        painter.setPen(Qt::NoPen);
        painter.setBrush(
            QBrush(QColor(gone.red(), gone.green(), gone.blue(), 230), Qt::BDiagPattern));
        painter.drawRects(goneRects);
      }
      QPen pen(QColor(255, 255, 255, 220), evictedStyle_ == EvictedStyle::Outline ? 2 : 1);
      pen.setCosmetic(true);
      painter.setBrush(Qt::NoBrush);
      // Outline: a white-then-dark double edge reads on light and dark images alike.
      for (const QRectF& r : goneRects) {
        painter.setPen(pen);
        painter.drawRect(r.adjusted(1, 1, -1, -1));
        QPen dark(gone, pen.widthF());
        dark.setCosmetic(true);
        painter.setPen(dark);
        painter.drawRect(r.adjusted(2, 2, -2, -2));
      }
    }
    QPen border(QColor(255, 255, 255, 160));
    border.setCosmetic(true);
    painter.setPen(border);
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(target);
    painter.restore();
  }

  // Pinned patch in cyan, hovered in white, drawn last so nothing covers them.
  auto highlight = [&](int visual, QColor colour) {
    if (visual < 0 || visual >= static_cast<int>(places_.size())) return;
    const Place& p = places_[visual];
    if (p.grid < 0 || layout.targets[p.grid].isEmpty()) return;
    const QRectF t = layout.targets[p.grid];
    const double pw = t.width() / grids_[p.grid].spec.cols,
                 ph = t.height() / grids_[p.grid].spec.rows;
    painter.setPen(QPen(colour, 2));
    painter.drawRect(QRectF(t.x() + p.col * pw, t.y() + p.row * ph, pw, ph).adjusted(-1, -1, 1, 1));
  };
  // What-if marks: a green (force keep) or red (force evict) frame with a dark inner edge, so it
  // reads on light and dark patches alike.
  for (int v = 0; v < static_cast<int>(marks_.size()); ++v) {
    if (marks_[v] == EditMark::None || v >= static_cast<int>(places_.size())) continue;
    const Place& p = places_[v];
    if (p.grid < 0 || layout.targets[p.grid].isEmpty()) continue;
    const QRectF t = layout.targets[p.grid];
    const double pw = t.width() / grids_[p.grid].spec.cols,
                 ph = t.height() / grids_[p.grid].spec.rows;
    const QRectF r(t.x() + p.col * pw, t.y() + p.row * ph, pw, ph);
    painter.setBrush(Qt::NoBrush);
    painter.setPen(QPen(markColour(marks_[v]), 3));
    painter.drawRect(r.adjusted(1.5, 1.5, -1.5, -1.5));
    painter.setPen(QPen(QColor(20, 20, 20, 200), 1));
    painter.drawRect(r.adjusted(3.5, 3.5, -3.5, -3.5));
  }
  if (!exporting) {  // hover and pin are the window's state, not the run's
    highlight(hovered_, Qt::white);
    highlight(pinned_, QColor(0, 220, 255));
  }

  paintLegend(painter, layout.legend, exporting, anyUnseen);
}

void PatchOverlayView::paintLegend(QPainter& painter, const QRectF& area, bool exporting,
                                   bool anyUnseen) const {
  painter.setRenderHint(QPainter::Antialiasing, false);
  double x = area.x();
  const double box = 12, y = area.center().y() - box / 2;
  const QFontMetricsF fm(painter.font());
  auto label = [&](const QString& text) {
    painter.setPen(palette().color(QPalette::WindowText));
    const QRectF r(x + box + 4, area.y(), fm.horizontalAdvance(text) + 2, area.height());
    painter.drawText(r, Qt::AlignLeft | Qt::AlignVCenter, text);
    x = r.right() + 14;
  };
  auto item = [&](PatchState s, const QString& text) {
    const QRectF swatch(x, y, box, box);
    painter.fillRect(swatch, QColor(150, 150, 150));  // on grey, as on a typical image
    if (s == PatchState::Evicted && evictedStyle_ == EvictedStyle::Hatch)
      painter.fillRect(swatch, QBrush(stateSolid(s), Qt::BDiagPattern));
    else if (!(s == PatchState::Evicted && evictedStyle_ == EvictedStyle::Outline))
      painter.fillRect(swatch, stateFill(s));
    painter.setPen(s == PatchState::Kept ? QPen(keptOutline().darker(150), 1)
                                         : QPen(stateSolid(s), 1));
    painter.drawRect(swatch);
    label(text);
  };
  if (!values_.empty()) {
    for (auto [t, text] : {std::pair{0.25f, tr("low")}, std::pair{1.0f, tr("high")}}) {
      const QRectF swatch(x, y, box, box);
      painter.fillRect(swatch, QColor(150, 150, 150));
      painter.fillRect(swatch, heatFill(t, 1.0f));
      painter.setPen(QPen(QColor(70, 70, 70), 1));
      painter.drawRect(swatch);
      label(text);
    }
  } else if (colorMode_ == ColorMode::MissedAttention && !other_) {
    item(PatchState::Kept, tr("kept (not missed)"));
    const float high = missedHigh();
    for (auto [t, text] : {std::pair{0.0f, tr("dropped, 0")},
                           std::pair{1.0f, tr("dropped, %1 (largest)").arg(high, 0, 'g', 3)}}) {
      // A small ramp from low to high, so the scale reads as a continuum.
      const QRectF swatch(x, y, box * (t > 0 ? 2 : 1), box);
      painter.fillRect(swatch, QColor(150, 150, 150));
      if (t > 0) {
        for (int i = 0; i < 8; ++i)
          painter.fillRect(QRectF(x + i * box * 2 / 8, y, box * 2 / 8 + 0.5, box),
                           missedFill(static_cast<float>(i + 1) / 8, 1.0f));
      } else {
        painter.fillRect(swatch, missedFill(0, 1.0f));
      }
      painter.setPen(QPen(QColor(70, 70, 70), 1));
      painter.drawRect(swatch);
      x += swatch.width() - box;
      label(text);
    }
  } else if (other_) {
    for (auto [d, text] :
         {std::pair{DiffClass::Both, tr("held by both")}, std::pair{DiffClass::AOnly, tr("A only")},
          std::pair{DiffClass::BOnly, tr("B only")},
          std::pair{DiffClass::Neither, tr("neither")}}) {
      const QRectF swatch(x, y, box, box);
      painter.fillRect(swatch, QColor(150, 150, 150));
      painter.fillRect(swatch, diffFill(d));
      painter.setPen(QPen(QColor(70, 70, 70), 1));
      painter.drawRect(swatch);
      label(text);
    }
  } else {
    item(PatchState::Kept, tr("kept"));
    item(PatchState::InBin, tr("in recycle bin"));
    item(PatchState::Evicted, tr("evicted"));
  }
  for (EditMark m : {EditMark::ForceKeep, EditMark::ForceEvict}) {
    if (std::find(marks_.begin(), marks_.end(), m) == marks_.end()) continue;
    const QRectF swatch(x, y, box, box);
    painter.fillRect(swatch, QColor(150, 150, 150));
    painter.setPen(QPen(markColour(m), 2));
    painter.drawRect(swatch.adjusted(1, 1, -1, -1));
    label(m == EditMark::ForceKeep ? tr("force keep") : tr("force evict"));
  }
  if (anyUnseen) {
    const QRectF swatch(x, y, box, box);
    painter.fillRect(swatch, QColor(150, 150, 150));
    painter.fillRect(swatch, unseenShade());
    painter.fillRect(swatch, unseenBrush());
    painter.setPen(QPen(QColor(70, 70, 70), 1));
    painter.drawRect(swatch);
    label(tr("not seen by the model"));
  }
  if (exporting) return;  // hints are for the window, not for a picture of the run
  painter.setPen(palette().color(QPalette::PlaceholderText));
  const QString hint =
      editable_ && editMarkCount() == 0 ? tr("shift-click: force keep · ctrl-click: force evict")
      : layer_ == kAllLayers ? tr("more opaque = dropped by more layers · click a patch to pin it")
                             : tr("hover a patch for details · click to pin its history");
  painter.drawText(QRectF(x, area.y(), std::max(0.0, area.right() - x), area.height()),
                   Qt::AlignLeft | Qt::AlignVCenter,
                   fm.elidedText(hint, Qt::ElideRight, std::max(0.0, area.right() - x)));
}

QPainterPath PatchOverlayView::unseenArea(int image) const {
  return unseenArea(image, computeLayout(size()));
}

QPainterPath PatchOverlayView::unseenArea(int image, const Layout& layout) const {
  if (image < 0 || image >= static_cast<int>(layout.images.size())) return {};
  QPainterPath all;
  all.addRect(layout.images[image]);
  QPainterPath seen;
  bool anyGrid = false;
  for (int g = 0; g < static_cast<int>(grids_.size()); ++g) {
    if (grids_[g].image != image || grids_[g].spec.global || layout.targets[g].isEmpty()) continue;
    anyGrid = true;
    seen.addRect(layout.targets[g]);
  }
  if (!anyGrid) return {};  // no grid on the image itself: nothing to tell apart
  QPainterPath unseen = all.subtracted(seen.simplified());
  // Sub-pixel slivers from rounding the regions are not worth a hatch.
  if (unseen.boundingRect().width() < 1.5 || unseen.boundingRect().height() < 1.5) return {};
  return unseen;
}

void PatchOverlayView::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  paint(painter, size());
}

QImage PatchOverlayView::exportImage(QSize size, qreal scale) const {
  QImage image(size * scale, QImage::Format_ARGB32_Premultiplied);
  image.setDevicePixelRatio(scale);
  QPainter painter(&image);
  paint(painter, size, /*exporting=*/true);
  return image;
}

QImage PatchOverlayView::renderImage(QSize size, qreal scale) const {
  QImage image(size * scale, QImage::Format_ARGB32_Premultiplied);
  image.setDevicePixelRatio(scale);
  QPainter painter(&image);
  paint(painter, size);
  return image;
}

bool PatchOverlayView::exportTo(const QString& path, QString* error, QSize size) const {
  if (!size.isValid() || size.isEmpty())
    size = testAttribute(Qt::WA_Resized) ? this->size() : sizeHint();
  const QString format = exportFormat(path);
  if (format != QLatin1String("png") && format != QLatin1String("svg") &&
      format != QLatin1String("pdf")) {
    if (error) *error = QStringLiteral("%1: unknown format (use .png, .svg or .pdf)").arg(path);
    return false;
  }
  return writeFileAtomically(
      path,
      [&](const QString& temp) -> bool {
        if (format == QLatin1String("png")) return exportImage(size, 2.0).save(temp, "PNG");
        if (format == QLatin1String("svg")) {
          QSvgGenerator generator;
          generator.setFileName(temp);
          generator.setSize(size);
          generator.setViewBox(QRect(QPoint(0, 0), size));
          generator.setTitle(QStringLiteral("HAE Studio patch overlay"));
          QPainter painter;
          if (!painter.begin(&generator)) return false;
          paint(painter, size, true);
          return painter.end();
        }
        QPdfWriter writer(temp);
        writer.setResolution(72);  // one painter unit per point, so the page is the widget's size
        writer.setPageSize(QPageSize(QSizeF(size), QPageSize::Point));
        writer.setPageMargins(QMarginsF(0, 0, 0, 0));
        QPainter painter;
        if (!painter.begin(&writer)) return false;
        paint(painter, size, true);
        return painter.end();
      },
      error);
}

QRectF PatchOverlayView::patchRect(int visual) const {
  if (visual < 0 || visual >= static_cast<int>(places_.size()) || places_[visual].grid < 0)
    return {};
  const Place& p = places_[visual];
  const QRectF t = computeLayout(size()).targets[p.grid];
  if (t.isEmpty()) return {};
  const double pw = t.width() / grids_[p.grid].spec.cols,
               ph = t.height() / grids_[p.grid].spec.rows;
  return {t.x() + p.col * pw, t.y() + p.row * ph, pw, ph};
}

int PatchOverlayView::neededHeight(QSize room) const {
  if (history_->info().images.empty()) return 0;
  const Layout layout = computeLayout(QSizeF(room));
  return static_cast<int>(std::ceil(layout.legend.bottom() + kMargin));
}

int PatchOverlayView::visualAt(QPointF pos) const {
  const Layout layout = computeLayout(size());
  for (int g = 0; g < static_cast<int>(grids_.size()); ++g) {
    const QRectF t = layout.targets[g];
    if (t.isEmpty() || !t.contains(pos)) continue;
    const Grid& grid = grids_[g];
    const int c = std::clamp(static_cast<int>((pos.x() - t.x()) / t.width() * grid.spec.cols), 0,
                             grid.spec.cols - 1);
    const int r = std::clamp(static_cast<int>((pos.y() - t.y()) / t.height() * grid.spec.rows), 0,
                             grid.spec.rows - 1);
    const int v = grid.cells[r * grid.spec.cols + c];
    if (v >= 0) return v;
  }
  return -1;
}

QString PatchOverlayView::patchTooltip(int visual) const {
  const RunInfo& info = history_->info();
  if (visual < 0 || visual >= history_->visualCount()) return {};
  const int t = info.visual_tokens[visual];
  const TokenInfo& tok = info.tokens.at(t);
  const int cursor = history_->cursor();
  QString html = tr("<b>Visual token %1</b> (prompt token %2, position %3)<br>image %4 · crop %5 · "
                    "row %6, col %7")
                     .arg(visual)
                     .arg(t)
                     .arg(tok.position)
                     .arg(tok.image)
                     .arg(tok.crop)
                     .arg(tok.row)
                     .arg(tok.col);
  if (places_[visual].grid >= 0 && grids_[places_[visual].grid].spec.global)
    html += tr(" (global view)");
  // Merged tokens (VisionZip's contextual tokens, SparseVLM's recycled ones), from the prefill.
  if (history_->stepCount() > 0)
    for (const MergedToken& m : history_->step(0).merged) {
      if (std::find(m.members.begin(), m.members.end(), tok.position) == m.members.end()) continue;
      html += m.position == tok.position
                  ? tr("<br>A merged token standing for %1 patches").arg(m.members.size())
                  : tr("<br>Merged into the token at position %1 (with %2 other patches)")
                        .arg(m.position)
                        .arg(m.members.size() - 1);
    }
  if (cursor < 0) return html;
  const int stepNo = history_->step(cursor).step;
  if (layer_ != kAllLayers)
    html += tr("<br>Layer %1 at step %2: <b>%3</b>")
                .arg(layer_)
                .arg(stepNo)
                .arg(stateName(history_->patchState(visual, layer_, cursor)));
  const StateCounts c = history_->patchCounts(visual, cursor);
  html += tr("<br>All layers: %1 kept · %2 in bin · %3 evicted")
              .arg(c.kept)
              .arg(c.in_bin)
              .arg(c.evicted);

  // When it changed: the first step each kind of drop appeared, in any layer.
  int firstBin = -1, firstBinLayer = -1, firstGone = -1, firstGoneLayer = -1;
  for (const PatchChange& ch : history_->patchChanges(visual, RunHistory::kAllLayers, cursor)) {
    if (ch.to == PatchState::InBin && firstBin < 0) firstBin = ch.step, firstBinLayer = ch.layer;
    if (ch.to == PatchState::Evicted && firstGone < 0)
      firstGone = ch.step, firstGoneLayer = ch.layer;
  }
  html += firstBin < 0
              ? tr("<br>Never in the bin")
              : tr("<br>First in bin: step %1 (layer %2)").arg(firstBin).arg(firstBinLayer);
  html += firstGone < 0
              ? tr("<br>Never evicted")
              : tr("<br>First evicted: step %1 (layer %2)").arg(firstGone).arg(firstGoneLayer);
  if (hasShadowAtCursor()) {
    const ShadowStep& sh = *history_->cursorStep()->shadow;
    const int layer = layer_ == kAllLayers ? -1 : std::min(layer_, history_->numLayers() - 1);
    if (layer >= 0 && layer < static_cast<int>(sh.visual_attention.size()) &&
        visual < static_cast<int>(sh.visual_attention[layer].size()))
      html += tr("<br>Full model's attention on it (layer %1): %2")
                  .arg(layer)
                  .arg(sh.visual_attention[layer][visual], 0, 'g', 3);
    const float missed = missedValue(visual);
    if (missed >= 0)
      html += tr("<br><b>Missed</b> by the policy's cache: %1%2")
                  .arg(missed, 0, 'g', 3)
                  .arg(layer < 0 ? tr(" (mean over layers)") : QString());
  }
  if (editMark(visual) != EditMark::None)
    html += editMark(visual) == EditMark::ForceKeep ? tr("<br>Marked <b>force keep</b>")
                                                    : tr("<br>Marked <b>force evict</b>");
  const std::vector<PolicyEvent> events = history_->eventsFor(tok.position, cursor);
  if (!events.empty()) {
    const PolicyEvent& e = events.back();
    html += tr("<br>Last event: %1 at step %2, %3, score %4")
                .arg(eventKindName(e.kind))
                .arg(e.step)
                .arg(e.layer < 0 ? tr("all layers") : tr("layer %1").arg(e.layer))
                .arg(e.score, 0, 'g', 4);
  }
  return html;
}

bool PatchOverlayView::event(QEvent* event) {
  if (event->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(event);
    const int v = visualAt(help->pos());
    if (v >= 0) {
      QToolTip::showText(help->globalPos(), patchTooltip(v), this, patchRect(v).toAlignedRect());
    } else {
      QToolTip::hideText();
      event->ignore();
    }
    return true;
  }
  return QWidget::event(event);
}

void PatchOverlayView::mouseMoveEvent(QMouseEvent* event) {
  const int v = visualAt(event->position());
  if (v != hovered_) {
    hovered_ = v;
    update();
  }
  QWidget::mouseMoveEvent(event);
}

void PatchOverlayView::mousePressEvent(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton) {
    const int v = visualAt(event->position());
    const Qt::KeyboardModifiers mods = event->modifiers();
    if (v >= 0 && editable_ && (mods & (Qt::ShiftModifier | Qt::ControlModifier))) {
      toggleEditMark(v, (mods & Qt::ShiftModifier) ? EditMark::ForceKeep : EditMark::ForceEvict);
      QWidget::mousePressEvent(event);
      return;
    }
    if (v >= 0) {
      pinPatch(v);
      emit patchClicked(v);
    }
  }
  QWidget::mousePressEvent(event);
}

void PatchOverlayView::leaveEvent(QEvent* event) {
  if (hovered_ >= 0) {
    hovered_ = -1;
    update();
  }
  QWidget::leaveEvent(event);
}

}  // namespace hae::widgets
