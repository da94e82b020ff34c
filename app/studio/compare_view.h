#pragma once
// Two runs side by side: the window's run (A) and a second policy on the same image and prompt
// (B, computed by a second worker). Each gets an overlay and its answer; a table puts memory and
// latency next to each other.
#include <QTimer>
#include <QWidget>

#include "hae/widgets/run_history.h"

class QLabel;
class QPushButton;
class QTableWidget;

namespace hae::widgets {
class PatchOverlayView;
class PolicyForm;
}  // namespace hae::widgets

namespace hae::studio {

class CompareView : public QWidget {
  Q_OBJECT
 public:
  explicit CompareView(widgets::RunHistory* primary, QWidget* parent = nullptr);

  widgets::RunHistory* history() const { return second_; }
  widgets::PolicyForm* policyForm() const { return form_; }
  QPushButton* runButton() const { return runButton_; }
  widgets::PatchOverlayView* overlayA() const { return overlayA_; }
  widgets::PatchOverlayView* overlayB() const { return overlayB_; }
  QTableWidget* table() const { return table_; }

  void setImage(const QImage& image);
  void setAnswerA(const QString& answer);
  void setAnswerB(const QString& answer);
  void setStatus(const QString& text);
  void setLayer(int layer);
  void refresh();  // rebuilds the table now (a timer does it while runs stream in)

 signals:
  void compareRequested();

 private:
  void markDirty() { dirty_ = true; }

  widgets::RunHistory* primary_;
  widgets::RunHistory* second_;
  widgets::PolicyForm* form_ = nullptr;
  QPushButton* runButton_ = nullptr;
  QLabel* status_ = nullptr;
  widgets::PatchOverlayView* overlayA_ = nullptr;
  widgets::PatchOverlayView* overlayB_ = nullptr;
  QLabel* answerA_ = nullptr;
  QLabel* answerB_ = nullptr;
  QTableWidget* table_ = nullptr;
  QTimer timer_;
  bool dirty_ = true;
};

}  // namespace hae::studio
