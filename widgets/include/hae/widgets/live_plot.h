#pragma once
// Base of the live plots: follows a RunHistory, appends data as steps arrive, and redraws at most
// ~30 times a second (a dirty flag and a timer) however fast the steps come. Draws the shared
// step cursor and exports PNG / SVG / PDF.
#include <qcustomplot.h>
#include <QPoint>
#include <QTimer>

#include "hae/widgets/run_history.h"

namespace hae::widgets {

// Ticks on whole numbers only (steps, layers): never a tick at step 0.5.
QSharedPointer<QCPAxisTicker> wholeNumberTicker();

// A layer x step colour map in `rect` (x: step, y: layer on whole-number ticks, crisp cells),
// with its colour scale beside it at (row, 1) of the plot layout, labelled `what`, coloured by
// `stops` (position 0..1, colour).
struct LayerStepMap {
  QCPColorMap* map = nullptr;
  QCPColorScale* scale = nullptr;
};
LayerStepMap addLayerStepMap(QCustomPlot* plot, QCPAxisRect* rect, int row, const QString& what,
                             std::initializer_list<std::pair<double, QColor>> stops);

class LivePlot : public QCustomPlot {
  Q_OBJECT
 public:
  static constexpr int kFrameMs = 33;

  explicit LivePlot(RunHistory* history, QWidget* parent = nullptr);

  // Chooses the format by extension (png, svg, pdf) and writes atomically. Size defaults to the
  // widget's (or 800x500 for a widget never laid out).
  bool exportTo(const QString& path, QString* error = nullptr, QSize size = {});
  // Replots now if anything changed (screenshots and tests; the timer does it otherwise).
  void flush();
  bool isDirty() const { return dirty_; }
  QCPItemStraightLine* cursorLine() const { return cursorLine_; }
  double cursorKey() const;  // the step the cursor line marks, NaN when hidden
  RunHistory* history() const { return history_; }
  QSize sizeHint() const override { return {460, 280}; }

 protected:
  // Subclasses build their plottables in their constructor, then call rebuild().
  void rebuild();
  virtual void clearData() = 0;
  virtual void appendStepData(int index) = 0;
  virtual void cursorMoved(int /*index*/) {}
  // Once-per-frame work before the replot: axis ranges, data that is cheaper to redo whole.
  virtual void prepareReplot() {}
  void fitTickCounts();  // value-axis ticks by the panel's height
  // The axis rect whose x axis counts steps: gets the cursor line and click-to-seek.
  void setStepAxisRect(QCPAxisRect* rect);
  void markDirty(bool cursorOnly = false);
  bool userMovedRange() const { return userRange_; }
  static QFont titleFont();

  void mousePressEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;

 private:
  void tick();
  void moveCursorLine();
  void replotNow(RefreshPriority priority);

  RunHistory* history_;
  QTimer timer_;
  int phaseMs_ = 0;  // offset of this plot's frames, so plots do not all replot in one pass
  bool dirty_ = false;
  bool cursorOnlyDirty_ = false;
  bool userRange_ = false;
  QPoint pressPos_;
  QCPAxisRect* stepRect_ = nullptr;
  QCPItemStraightLine* cursorLine_ = nullptr;
};

}  // namespace hae::widgets
