#pragma once
// The pinned patch's story: its state in every layer at every step up to the cursor, and the
// policy events that touched it.
#include <QTextBrowser>

#include "hae/widgets/run_history.h"

namespace hae::widgets {

class PatchHistoryPanel : public QTextBrowser {
  Q_OBJECT
 public:
  // Above this many steps the per-step grid would not fit; changes are listed instead.
  static constexpr int kMaxGridSteps = 40;

  explicit PatchHistoryPanel(RunHistory* history, QWidget* parent = nullptr);
  int visual() const { return visual_; }
  QString htmlText() const;  // what refresh() shows

 public slots:
  void setVisual(int visual);  // -1 clears
  void refresh();

 private:
  RunHistory* history_;
  int visual_ = -1;
};

}  // namespace hae::widgets
