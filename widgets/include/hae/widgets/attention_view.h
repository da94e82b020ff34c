#pragma once
// Why a patch was kept, in two views beside the kept / bin / evicted overlay:
// - AttentionView: for the token at the step cursor, one layer's attention over the visual
//   patches as a heat map on the image, the mean over heads or one head.
// - HeadKeepView: for per-head policies (SnapKV, H2O, Ada-KV per head), what each KV head keeps
//   at the layer, one small map per head, replayed from the policy's per-head events, so "43 kept
//   with a budget of 40" shows as 40 per head whose union is 43.
#include <QWidget>
#include <vector>

#include "hae/widgets/run_history.h"

class QComboBox;
class QLabel;

namespace hae::widgets {

class PatchOverlayView;

// One layer's attention of one query token over the prompt's visual tokens.
struct VisualAttention {
  int step = -1;  // StepTelemetry::step of the query token
  int layer = 0;
  int heads = 0;               // query heads
  std::vector<float> weights;  // heads x visual tokens, row-major (softmax probabilities)
};

class AttentionView : public QWidget {
  Q_OBJECT
 public:
  static constexpr int kHeadMean = -1;
  explicit AttentionView(RunHistory* history, QWidget* parent = nullptr);

  // The attention to show (replaces the last); an empty one clears the view.
  void setAttention(VisualAttention attention);
  const VisualAttention& attention() const { return attention_; }
  int head() const { return head_; }
  // What the map shows: per visual token, the chosen head's weight or the mean over heads.
  std::vector<float> shownValues() const;
  PatchOverlayView* overlay() const { return overlay_; }
  QComboBox* headBox() const { return headBox_; }
  QLabel* statusLabel() const { return status_; }

  // The live mode (the studio's Attention tab): the view shows the step cursor's recorded
  // attention (StepTelemetry::attention) at layer(), again at each cursor move, new step or
  // layer change. Off (the default), it shows what setAttention gave it.
  void setFollowHistory(bool follow);
  bool followsHistory() const { return follow_; }
  int layer() const { return layer_; }
  // What the view says when the cursor's step carries no attention (e.g. "recording is off").
  void setEmptyText(const QString& text);
  // One layer of step index `index`'s recorded attention; empty when it has none there.
  static VisualAttention attentionAt(const RunHistory& history, int index, int layer);

 public slots:
  void setHead(int head);  // kHeadMean or 0..heads-1
  void setImages(std::vector<QImage> images);
  void setLayer(int layer);

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  void refresh();
  void pull();  // follow mode: takes the cursor step's attention (deferred while hidden)

  RunHistory* history_;
  VisualAttention attention_;
  int head_ = kHeadMean;
  int layer_ = 0;
  bool follow_ = false;
  bool stalePull_ = false;  // a pull skipped while hidden, done at the next show
  QString emptyText_;
  PatchOverlayView* overlay_ = nullptr;
  QComboBox* headBox_ = nullptr;
  QLabel* status_ = nullptr;
};

// Per KV head, the state of every visual token in `layer` at step index `upTo`: the layer's own
// state (patch_states) where it drops a token for all heads, otherwise replayed from the events
// a policy recorded for that head (head >= 0). Empty when the run has no per-head events there.
std::vector<std::vector<PatchState>> headStates(const RunHistory& history, int layer, int upTo);

class HeadKeepView : public QWidget {
  Q_OBJECT
 public:
  explicit HeadKeepView(RunHistory* history, QWidget* parent = nullptr);
  int layer() const { return layer_; }
  int headCount() const;
  std::vector<int> keptPerHead() const;  // visual tokens each head keeps (live) at the cursor
  int keptByAnyHead() const;             // the union: what a per-layer count shows
  QString summary() const;               // the line above the maps
  QImage renderImage(QSize size) const;
  QSize sizeHint() const override { return {520, 360}; }

 public slots:
  void setLayer(int layer);

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  void paint(QPainter& painter, QSizeF size) const;

  RunHistory* history_;
  int layer_ = 0;
};

}  // namespace hae::widgets
