#pragma once
// The studio window: the image with its patch overlay, the token stream, the pinned patch's
// history and the live plots, all reading one RunHistory that the worker thread feeds.
#include <QImage>
#include <QMainWindow>
#include <QTimer>
#include <memory>

#include "sample_library.h"
#include "studio_types.h"

class QAction;
class QCheckBox;
class QDockWidget;
class QLabel;
class QLineEdit;
class QMenu;
class QSlider;
class QToolButton;

namespace hae::widgets {
class BinActivityPlot;
class CacheSizePlot;
class LatencyPlot;
class LivePlot;
class OccupancyHeatmap;
class PatchHistoryPanel;
class PatchOverlayView;
class PolicyForm;
class RunHistory;
class TokenStreamView;
}  // namespace hae::widgets

namespace hae::studio {

class CompareView;
class SessionController;

struct StudioOptions {
  int threads = 0;       // compute threads per worker (0: all cores)
  bool loadDemo = true;  // load the embedded demo model and the first sample at start
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(const StudioOptions& options = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Everything the menus and buttons do, callable from tests and the scripted screenshot.
  void loadModel(const QString& dir);  // empty: the embedded demo model
  bool setImage(const QString& path);  // false (and an error message) when it cannot be read
  void setPrompt(const QString& prompt);
  QString prompt() const;
  QString imagePath() const { return imagePath_; }
  void selectSample(int index);  // index into samples()
  void newRandomScene();
  void prefill();
  void step();
  void run(int maxTokens = 0);  // 0: to the end; prefills first when there is no current run
  void pause();
  void cancel();
  void resetRun();
  void compare();
  // Writes the profiling report of the current run (format by the path's ending: .html, .json,
  // .csv, .trace.json, and .pdf when a PDF writer is installed).
  bool exportReport(const QString& path, QString* error = nullptr);
  // Replots every view now (the timers do it otherwise): screenshots and tests.
  void flushViews();

  SessionController* controller() const { return main_; }
  SessionController* compareController() const { return second_; }
  widgets::RunHistory* history() const { return history_; }
  widgets::PatchOverlayView* overlay() const { return overlay_; }
  widgets::TokenStreamView* tokenStream() const { return tokens_; }
  widgets::PatchHistoryPanel* patchPanel() const { return patchPanel_; }
  widgets::PolicyForm* policyForm() const { return policy_; }
  widgets::CacheSizePlot* cachePlot() const { return cachePlot_; }
  widgets::LatencyPlot* latencyPlot() const { return latencyPlot_; }
  widgets::BinActivityPlot* binPlot() const { return binPlot_; }
  widgets::OccupancyHeatmap* heatmap() const { return heatmap_; }
  CompareView* compareView() const { return compareView_; }
  QSlider* scrubber() const { return scrubber_; }
  QSlider* layerSlider() const { return layerSlider_; }
  QCheckBox* allLayersBox() const { return allLayers_; }
  QString answer() const { return answer_; }
  const SampleLibrary& samples() const { return samples_; }
  QString statusText() const;  // the status bar's permanent fields, joined

 signals:
  // Every error the window shows (also as a non-blocking message box).
  void errorShown(const QString& title, const QString& message);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void buildCentral();
  void buildDocks();
  void buildToolbar();
  void buildMenus();
  void buildStatusBar();
  void connectController();
  void showAbout();
  void showError(const QString& title, const QString& message);
  void openModelDialog();
  void openImageDialog();
  void exportPlot(widgets::LivePlot* plot, const QString& name);
  void exportOverlay();
  void exportReportDialog();
  RunRequest currentRequest() const;
  bool currentRunMatches() const;  // the current run was made from the inputs shown now
  void startRun(bool thenGenerate, int maxTokens);
  void showPreview();  // the chosen image with no run yet
  void updateControls();
  void updateStatus();
  void updateScrubber();
  void updateLayerRange();
  void applyLayer();

  StudioOptions options_;
  SessionController* main_ = nullptr;
  SessionController* second_ = nullptr;  // created on the first comparison
  widgets::RunHistory* history_ = nullptr;
  widgets::PatchOverlayView* overlay_ = nullptr;
  widgets::TokenStreamView* tokens_ = nullptr;
  widgets::PatchHistoryPanel* patchPanel_ = nullptr;
  widgets::PolicyForm* policy_ = nullptr;
  widgets::CacheSizePlot* cachePlot_ = nullptr;
  widgets::LatencyPlot* latencyPlot_ = nullptr;
  widgets::BinActivityPlot* binPlot_ = nullptr;
  widgets::OccupancyHeatmap* heatmap_ = nullptr;
  CompareView* compareView_ = nullptr;
  QDockWidget* plotDock_ = nullptr;
  QDockWidget* compareDock_ = nullptr;

  QLabel* banner_ = nullptr;
  QLabel* answerLabel_ = nullptr;
  QLabel* modelLabel_ = nullptr;
  QLabel* imageLabel_ = nullptr;
  QLabel* hintLabel_ = nullptr;
  QLineEdit* prompt_ = nullptr;
  QSlider* layerSlider_ = nullptr;
  QCheckBox* allLayers_ = nullptr;
  QLabel* layerLabel_ = nullptr;
  QSlider* scrubber_ = nullptr;
  QLabel* stepLabel_ = nullptr;
  QAction* prefillAction_ = nullptr;
  QAction* stepAction_ = nullptr;
  QAction* runAction_ = nullptr;
  QAction* pauseAction_ = nullptr;
  QAction* resetAction_ = nullptr;
  QAction* cancelAction_ = nullptr;
  QAction* compareAction_ = nullptr;
  QMenu* samplesMenu_ = nullptr;
  QLabel* deviceLabel_ = nullptr;
  QLabel* threadsLabel_ = nullptr;
  QLabel* cacheLabel_ = nullptr;
  QLabel* speedLabel_ = nullptr;
  QLabel* stateLabel_ = nullptr;

  SampleLibrary samples_;
  QString imagePath_;
  QImage image_;
  QString answer_;
  bool demoRequested_ = false;
  QString hint_;            // the expected answer of a demo question, shown beside the prompt
  RunRequest runRequest_;   // what the current run was prefilled with
  int pendingTokens_ = -1;  // tokens to generate once the pending prefill lands (-1: none)
  // Comparison bookkeeping: B waits for its model, then prefills, then runs to the end.
  RunRequest compareRequest_;
  bool comparePending_ = false;
  QString compareAnswer_;
  QTimer statusTimer_;
};

}  // namespace hae::studio
