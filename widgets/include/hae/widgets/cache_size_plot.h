#pragma once
#include "hae/widgets/live_plot.h"

namespace hae::widgets {

// Top: live slots of every layer at the cursor step as stacked bars (visual, text and other
// modalities, recycle bin). Bottom: the history over steps, mean live slots per layer for visual
// and for text+other, and the total cache size in MiB on the right axis.
class CacheSizePlot : public LivePlot {
  Q_OBJECT
 public:
  explicit CacheSizePlot(RunHistory* history, QWidget* parent = nullptr);

  QCPBars* visualBars() const { return visualBars_; }
  QCPBars* otherBars() const { return otherBars_; }
  QCPBars* binBars() const { return binBars_; }
  QCPGraph* visualLine() const { return visualLine_; }
  QCPGraph* otherLine() const { return otherLine_; }
  QCPGraph* bytesLine() const { return bytesLine_; }

 protected:
  void clearData() override;
  void appendStepData(int index) override;
  void cursorMoved(int index) override;
  void prepareReplot() override;

 private:
  QCPAxisRect* layerRect_ = nullptr;
  QCPAxisRect* stepRect_ = nullptr;
  QCPTextElement* title_ = nullptr;
  QCPBars* visualBars_ = nullptr;
  QCPBars* otherBars_ = nullptr;
  QCPBars* binBars_ = nullptr;
  QCPGraph* visualLine_ = nullptr;
  QCPGraph* otherLine_ = nullptr;
  QCPGraph* bytesLine_ = nullptr;
};

}  // namespace hae::widgets
