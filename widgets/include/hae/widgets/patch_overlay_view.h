#pragma once
// The images of the prompt with every visual token drawn on its patch, coloured by its cache
// state (kept / in the recycle bin / evicted) at the history's cursor step, for one layer or all
// layers summarised. Global (downscaled whole-image) grids get a side strip so they never cover
// the main image. Several images sit side by side.
#include <QImage>
#include <QWidget>
#include <vector>

#include "hae/widgets/run_history.h"

namespace hae::widgets {

class PatchOverlayView : public QWidget {
  Q_OBJECT
 public:
  static constexpr int kAllLayers = RunHistory::kAllLayers;

  explicit PatchOverlayView(RunHistory* history, QWidget* parent = nullptr);

  // Pixels of the prompt's images, by index. An image left unset is loaded from
  // ImageInfo::path, or drawn as a grey placeholder of the recorded size.
  void setImages(std::vector<QImage> images);
  int layer() const { return layer_; }
  int pinnedPatch() const { return pinned_; }

  // Where visual token `visual` is drawn in widget coordinates (the main image, or the global
  // strip for a global grid); empty when it has no grid.
  QRectF patchRect(int visual) const;
  int visualAt(QPointF pos) const;  // -1 when no patch is there
  QString patchTooltip(int visual) const;
  // What the view paints, at any size: tests read pixels, exports use the same code.
  QImage renderImage(QSize size, qreal scale = 1.0) const;
  // png / svg / pdf by extension, written atomically.
  bool exportTo(const QString& path, QString* error = nullptr, QSize size = {}) const;

  QSize sizeHint() const override { return {640, 480}; }
  QSize minimumSizeHint() const override { return {240, 200}; }

 public slots:
  void setLayer(int layer);   // kAllLayers for the summary of all layers
  void pinPatch(int visual);  // -1 unpins

 signals:
  void patchClicked(int visual);
  void layerChanged(int layer);

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
  Layout computeLayout(QSizeF size) const;
  void paint(QPainter& painter, QSizeF size) const;
  void paintLegend(QPainter& painter, const QRectF& area) const;
  QColor patchFill(int visual) const;
  bool patchFullyKept(int visual) const;
  QImage imageFor(int index) const;

  RunHistory* history_;
  std::vector<QImage> images_;
  std::vector<Grid> grids_;
  std::vector<Place> places_;  // per visual token
  int layer_ = 0;
  int pinned_ = -1;
  int hovered_ = -1;
};

}  // namespace hae::widgets
