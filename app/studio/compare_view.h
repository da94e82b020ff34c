#pragma once
// Two runs side by side: the window's run (A) and a second policy on the same image and prompt
// (B, computed by a second worker). Each gets an overlay and its answer; a diff overlay colours
// the patches held by A only, B only, both or neither; A-vs-B curves (cache bytes, live slots,
// step latency) share their axes; a table puts the summary numbers next to each other. Every
// view reads each run at its own history's cursor: the window moves B's cursor with A's.
#include <QTimer>
#include <QWidget>
#include <vector>

#include "hae/widgets/run_history.h"

class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSplitter;
class QStackedWidget;
class QTabWidget;
class QTableWidget;

namespace hae::widgets {
class CompareCurves;
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
  // Shows or hides B's own policy form (the window hides it: its Setup dock has B's form).
  void setFormVisible(bool visible);
  bool formVisible() const;
  QPushButton* runButton() const { return runButton_; }
  widgets::PatchOverlayView* overlayA() const { return overlayA_; }
  widgets::PatchOverlayView* overlayB() const { return overlayB_; }
  widgets::PatchOverlayView* diffView() const { return diff_; }
  widgets::CompareCurves* curves() const { return curves_; }
  QTableWidget* table() const { return table_; }
  QTabWidget* bottomTabs() const { return bottomTabs_; }  // shown in a narrow dock

  void setImage(const QImage& image);
  void setImages(const std::vector<QImage>& images);  // A, B and the diff overlay
  void setAnswerA(const QString& answer);
  void setAnswerB(const QString& answer);
  void setStatus(const QString& text);
  void setLayer(int layer);
  void refresh();  // rebuilds the table now (a timer does it while runs stream in)

 signals:
  void compareRequested();

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  void markDirty() { dirty_ = true; }
  void shareSplits();
  void arrangeBottom(bool tabbed);

  widgets::RunHistory* primary_;
  widgets::RunHistory* second_;
  widgets::PolicyForm* form_ = nullptr;
  QWidget* formBox_ = nullptr;
  QPushButton* runButton_ = nullptr;
  QLabel* status_ = nullptr;
  widgets::PatchOverlayView* overlayA_ = nullptr;
  widgets::PatchOverlayView* overlayB_ = nullptr;
  widgets::PatchOverlayView* diff_ = nullptr;
  widgets::CompareCurves* curves_ = nullptr;
  QPlainTextEdit* answerA_ = nullptr;
  QPlainTextEdit* answerB_ = nullptr;
  QTableWidget* table_ = nullptr;
  QSplitter* bottom_ = nullptr;            // the curves beside the table, in a wide dock
  QTabWidget* bottomTabs_ = nullptr;       // the curves and the table as tabs, in a narrow one
  QStackedWidget* bottomStack_ = nullptr;  // shows one of the two
  QSplitter* vertical_ = nullptr;          // the overlays over the curves and table
  bool splitDragged_ = false;  // the user's split stays; until then shareSplits() sets it
  QTimer timer_;
  bool dirty_ = true;
};

}  // namespace hae::studio
