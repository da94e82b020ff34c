#pragma once
// The images of the prompt with every visual token drawn on its patch, coloured by its cache
// state (kept / in the recycle bin / evicted) at the history's cursor step, for one layer or all
// layers summarised. Global (downscaled whole-image) grids get a side strip so they never cover
// the main image. Several images sit side by side. Parts of an image outside every grid (what a
// centre crop cuts away) are hatched grey: the model never saw them. Evicted patches are a dark
// red tint, or, to tell them from a red object, a hatch or an outline.
#include <QImage>
#include <QPainterPath>
#include <QWidget>
#include <vector>

#include "hae/widgets/run_history.h"

namespace hae::widgets {

class PatchOverlayView : public QWidget {
  Q_OBJECT
 public:
  static constexpr int kAllLayers = RunHistory::kAllLayers;
  enum class EvictedStyle { Tint, Hatch, Outline };
  // Diff mode: which run still holds a patch (live or in the recycle bin) at the layer shown.
  enum class DiffClass { Both, AOnly, BOnly, Neither };

  explicit PatchOverlayView(RunHistory* history, QWidget* parent = nullptr);

  // Pixels of the prompt's images, by index. An image left unset is loaded from
  // ImageInfo::path, or drawn as a grey placeholder of the recorded size.
  void setImages(std::vector<QImage> images);
  int layer() const { return layer_; }
  int pinnedPatch() const { return pinned_; }

  // Where visual token `visual` is drawn in widget coordinates (the main image, or the global
  // strip for a global grid); empty when it has no grid.
  QRectF patchRect(int visual) const;
  // Of a view of size `room`, the height the images use, header and legend included (the legend
  // sits under the lowest image): what a splitter can give the view so no blank band is left
  // under the legend. 0 before the first prefill, when the images' sizes are not known yet.
  int neededHeight(QSize room) const;
  int visualAt(QPointF pos) const;  // -1 when no patch is there
  QString patchTooltip(int visual) const;
  // What the view paints, at any size: tests read pixels, exports use the same code.
  QImage renderImage(QSize size, qreal scale = 1.0) const;
  // The export rendering: no hover or pin marks and no UI hints, a caption naming the model and
  // the policy instead (what exportTo and the PDF report draw).
  QImage exportImage(QSize size, qreal scale = 2.0) const;
  // png / svg / pdf by extension, written atomically, drawn as exportImage.
  bool exportTo(const QString& path, QString* error = nullptr, QSize size = {}) const;
  // The part of image `image` no grid covers, in widget coordinates (empty when all is seen).
  QPainterPath unseenArea(int image) const;
  QString headerText() const;  // the line(s) above the images
  // A short header (the step and the counts only) for narrow views such as Compare's columns,
  // where the full one wraps over several lines and leaves the image little room.
  void setCompactHeader(bool compact);
  EvictedStyle evictedStyle() const { return evictedStyle_; }
  // Diff mode: this view's history is A, `other` is B (same prompt), each at its own cursor;
  // patches are coloured by which run holds them. nullptr leaves diff mode.
  void setDiffAgainst(RunHistory* other);
  RunHistory* diffAgainst() const { return other_; }
  DiffClass diffClass(int visual) const;
  // Value mode: one number per visual token (e.g. attention), drawn as a heat ramp from clear
  // (0) to hot (the largest value), instead of the cache states. An empty vector leaves it.
  void setPatchValues(std::vector<float> values, const QString& what);
  const std::vector<float>& patchValues() const { return values_; }

  // Missed-attention mode (issue 16): each patch the policy's cache could not show the step's
  // query (evicted or in the recycle bin in the state that step's forward saw: the previous
  // step's, the prefill's own at step 0) is coloured by the full-cache shadow's attention on it
  // (ShadowStep::visual_attention) at the cursor step; kept patches stay clear. All layers: the
  // mean over layers of the attention missed in each. Needs a run with a shadow.
  enum class ColorMode { States, MissedAttention };
  void setColorMode(ColorMode mode);
  ColorMode colorMode() const { return colorMode_; }
  // The missed attention drawn for `visual` at the cursor (-1: not missed: kept, or no shadow).
  float missedValue(int visual) const;
  bool hasShadowAtCursor() const;

  // What-if edits: with editing on, shift-click marks a patch "force keep", ctrl-click "force
  // evict", the same click again clears it. Marks are by visual index; positions() gives the
  // original token positions SessionOptions::overrides takes. They survive a new run of the same
  // prompt layout (same visual token count) and are dropped otherwise.
  enum class EditMark { None, ForceKeep, ForceEvict };
  void setEditable(bool editable) { editable_ = editable; }
  bool editable() const { return editable_; }
  EditMark editMark(int visual) const;
  void setEditMark(int visual, EditMark mark);
  void toggleEditMark(int visual, EditMark mark);  // mark, or clear when it has that mark
  void clearEditMarks();
  int editMarkCount() const;
  std::vector<int> forceKeepPositions() const;  // original positions, ascending
  std::vector<int> forceEvictPositions() const;

  QSize sizeHint() const override { return {640, 480}; }
  QSize minimumSizeHint() const override { return {240, 200}; }

 public slots:
  void setLayer(int layer);   // kAllLayers for the summary of all layers
  void pinPatch(int visual);  // -1 unpins
  void setEvictedStyle(hae::widgets::PatchOverlayView::EvictedStyle style);

 signals:
  void patchClicked(int visual);
  void layerChanged(int layer);
  void editMarksChanged();

 protected:
  void paintEvent(QPaintEvent* event) override;
  bool event(QEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  struct Grid {
    int image = 0;
    CropGrid spec;
    std::vector<int> cells;  // rows * cols -> visual index, -1 where no token sits
  };
  struct Place {
    int grid = -1, row = 0, col = 0;
  };
  struct Layout {
    QRectF header, legend;
    std::vector<QRectF> captions;  // per image
    std::vector<QRectF> images;    // per image: main image rect
    std::vector<QRectF> thumbs;    // per grid: the thumbnail a global grid sits on
    std::vector<QRectF> targets;   // per grid: where its patches are drawn
    QRectF stripLabel;
  };

  void rebuildIndex();
  Layout computeLayout(QSizeF size, bool exporting = false) const;
  void paint(QPainter& painter, QSizeF size, bool exporting = false) const;
  void paintLegend(QPainter& painter, const QRectF& area, bool exporting, bool anyUnseen) const;
  QPainterPath unseenArea(int image, const Layout& layout) const;
  QString exportCaption() const;
  QColor patchFill(int visual) const;
  bool patchFullyKept(int visual) const;
  bool patchGone(int visual) const;  // evicted (in every layer, when all are summarised)
  QImage imageFor(int index) const;

  RunHistory* history_;
  std::vector<QImage> images_;
  std::vector<Grid> grids_;
  std::vector<Place> places_;  // per visual token
  int layer_ = 0;
  int pinned_ = -1;
  int hovered_ = -1;
  EvictedStyle evictedStyle_ = EvictedStyle::Tint;
  bool compactHeader_ = false;
  RunHistory* other_ = nullptr;
  std::vector<float> values_;
  QString valuesLabel_;
  ColorMode colorMode_ = ColorMode::States;
  bool editable_ = false;
  std::vector<EditMark> marks_;  // per visual token
  float missedHigh() const;      // the largest missed value at the cursor (the ramp's top)
  float computeMissed(int visual) const;
  struct MissedKey {
    int cursor = -2, layer = -3;
    const StepTelemetry* step = nullptr;
    int resets = -1;
    bool operator==(const MissedKey&) const = default;
  };
  int resets_ = 0;  // runs seen: a new run's steps may reuse an old one's addresses
  mutable MissedKey missedKey_;
  mutable std::vector<float> missed_;
  mutable float missedTop_ = 0;
  int shadowStateIndex() const;  // the step index whose states the cursor step's forward saw
  std::vector<int> markPositions(EditMark mark) const;
  QMetaObject::Connection otherConnections_[2];
};

}  // namespace hae::widgets
