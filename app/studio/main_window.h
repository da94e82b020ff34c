#pragma once
// The studio window: the prompt's images with their patch overlays, the token stream, the pinned
// patch's history and the live plots, all reading one RunHistory that the worker thread feeds.
//
// The class is one window, but its code is split by what it does:
//   main_window.cpp          construction, the view-state updates (controls, status, cursors)
//   main_window_layout.cpp   the widgets: central area, docks, toolbar, status bar
//   main_window_menus.cpp    menus, recent files, keyboard shortcuts and their Help list
//   main_window_run.cpp      run control: model load, prefill / step / run / pause / reset,
//                            watch mode, and the worker's results
//   main_window_images.cpp   the prompt's image set, samples, drag and drop
//   main_window_compare.cpp  the A/B comparison: B's session, one shared Step and Layer cursor
//   main_window_report.cpp   File > Open run report: a saved run replayed without a model
//   main_window_export.cpp   plot, overlay and report exports
//   main_window_shadow.cpp   issue 16: the full-cache shadow toggle, the Regret and Probes tabs,
//                            the missed-attention overlay mode and the what-if edits
#include <QImage>
#include <QMainWindow>
#include <QTimer>
#include <memory>
#include <vector>

#include "sample_library.h"
#include "studio_types.h"

class QAction;
class QCheckBox;
class QDockWidget;
class QLabel;
class QLineEdit;
class QMenu;
class QSlider;
class QSplitter;
class QSpinBox;
class QTabWidget;
class QTextEdit;
class QToolBar;
class QToolButton;

namespace hae::widgets {
class BinActivityPlot;
class CacheSizePlot;
class LatencyPlot;
class LivePlot;
class OccupancyHeatmap;
class PatchHistoryPanel;
class AttentionView;
class HeadKeepView;
class PatchOverlayView;
class PolicyForm;
class ProbePlot;
class RegretPlot;
class RunHistory;
class TokenStreamView;
}  // namespace hae::widgets

namespace hae {
class Tokenizer;
}

namespace hae::studio {

class CompareView;
class ImageSetPanel;
class SessionController;

struct StudioOptions {
  int threads = 0;       // compute threads per worker (0: all cores)
  bool loadDemo = true;  // load the embedded demo model and the first sample at start
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  // The smallest window that still shows every control and plot unclipped.
  static constexpr int kMinimumWidth = 1000;
  static constexpr int kMinimumHeight = 660;

  explicit MainWindow(const StudioOptions& options = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Everything the menus and buttons do, callable from tests and the scripted screenshot.
  void loadModel(const QString& dir);  // empty: the embedded demo model
  // The prompt's images. setImage replaces them all with one; false (and an error message) when
  // a file cannot be read, the set unchanged.
  bool setImage(const QString& path);
  bool setImages(const QStringList& paths);
  bool addImage(const QString& path);
  void removeImage(int index);
  void moveImage(int from, int to);
  QStringList imagePaths() const;
  QString imagePath() const;  // the first image; empty when there is none
  void setPrompt(const QString& prompt);
  QString prompt() const;
  void insertImageMarker();      // "<image>" at the question's cursor
  void selectSample(int index);  // index into samples()
  void newRandomScene();
  void twoImageSample();  // the "what changed" demo prompt: two scenes, before and after
  void prefill();
  void step();
  void run(int maxTokens = 0);  // 0: to the run's token limit; prefills first when needed
  void pause();
  void cancel();
  void resetRun();
  void compare();
  // Watch mode: the answer's token limit (1 to SessionController::kMaxNewTokensLimit) for the
  // next run, and the wait after each token (0 to 1000 ms, applies at once).
  void setMaxNewTokens(int tokens);
  int maxNewTokens() const;
  void setTokenDelayMs(int ms);
  int tokenDelayMs() const;
  // Replays a JSON run report (hae run --report x.json, or Export > Profiling report) in the
  // window: overlay, tokens, plots and the Step scrubber, with no model. False (and a dialog)
  // when the file is refused; the window keeps what it showed.
  bool openRunReport(const QString& path);
  bool replaying() const { return !replayPath_.isEmpty(); }
  // Writes the profiling report of the current run (format by the path's ending: .html, .json,
  // .csv, .trace.json, and .pdf when a PDF writer is installed).
  bool exportReport(const QString& path, QString* error = nullptr);
  // Replots every view now (the timers do it otherwise): screenshots and tests.
  void flushViews();
  void showShortcuts();

  SessionController* controller() const { return main_; }
  SessionController* compareController() const { return second_; }
  widgets::RunHistory* history() const { return history_; }
  widgets::PatchOverlayView* overlay() const { return overlay_; }
  widgets::TokenStreamView* tokenStream() const { return tokens_; }
  widgets::PatchHistoryPanel* patchPanel() const { return patchPanel_; }
  widgets::PolicyForm* policyForm() const { return policy_; }
  widgets::PolicyForm* policyFormB() const { return policyB_; }  // the comparison's policy
  widgets::CacheSizePlot* cachePlot() const { return cachePlot_; }
  widgets::LatencyPlot* latencyPlot() const { return latencyPlot_; }
  widgets::BinActivityPlot* binPlot() const { return binPlot_; }
  widgets::OccupancyHeatmap* heatmap() const { return heatmap_; }
  std::vector<widgets::LivePlot*> plots() const;
  CompareView* compareView() const { return compareView_; }
  widgets::HeadKeepView* headKeepView() const { return headKeep_; }
  QDockWidget* headDock() const { return headDock_; }
  // The Attention tab (main_window_attention.cpp): the step cursor's recorded attention at the
  // Layer slider's layer. Recording is set per model load: View > Record attention (auto: for
  // models whose weight files are under kAttentionAutoBytes).
  widgets::AttentionView* attentionView() const { return attention_; }
  QDockWidget* attentionDock() const { return attentionDock_; }
  QAction* recordAttentionAction() const { return recordAttentionAction_; }
  // Turns recording on or off from now on (reloads the loaded model: the setting is the
  // Session's).
  void setRecordAttention(bool on);
  // View > Evicted patches: how the main and the comparison overlays draw evicted patches.
  void setEvictedStyle(int style);  // a widgets::PatchOverlayView::EvictedStyle
  QList<QAction*> evictedStyleActions() const { return evictedStyleActions_; }
  // Issue 16 (main_window_shadow.cpp). The full-cache shadow of the next runs: on by default for
  // models whose decode weights are under kShadowAutoBytes, until the user sets it.
  static constexpr qint64 kShadowAutoBytes = qint64(1) << 30;
  void setShadowEnabled(bool on);
  bool shadowEnabled() const;
  widgets::RegretPlot* regretPlot() const { return regretPlot_; }
  widgets::ProbePlot* probePlot() const { return probePlot_; }
  QDockWidget* regretDock() const { return regretDock_; }
  QDockWidget* probeDock() const { return probeDock_; }
  QAction* shadowAction() const { return shadowAction_; }
  QAction* probesAction() const { return probesAction_; }  // HAE runs fill the probes
  QAction* clearMarksAction() const { return clearMarksAction_; }
  QAction* rerunEditsAction() const { return rerunEditsAction_; }
  // View > Overlay colours: a widgets::PatchOverlayView::ColorMode, for the main overlay and the
  // comparison's A and B.
  void setOverlayColorMode(int mode);
  // Runs A's policy again from the prefill with the overlay's force-keep / force-evict marks as
  // B, beside the run before the edits (A) in the Compare tab.
  void rerunWithEdits();
  QLabel* shadowLabel() const { return shadowLabel_; }
  ImageSetPanel* imageSet() const { return imageSet_; }
  QToolBar* runToolBar() const { return toolBar_; }
  QDockWidget* setupDock() const { return setupDock_; }
  QDockWidget* plotDock() const { return plotDock_; }
  QDockWidget* compareDock() const { return compareDock_; }
  QSlider* scrubber() const { return scrubber_; }
  QSlider* layerSlider() const { return layerSlider_; }
  QCheckBox* allLayersBox() const { return allLayers_; }
  QSpinBox* maxTokensBox() const { return maxTokens_; }
  QSpinBox* delayBox() const { return delay_; }
  QLineEdit* promptEdit() const { return prompt_; }
  QList<QAction*> runActions() const;  // Prefill, Step, Run, Pause, Reset, Cancel, Compare
  QString answer() const { return answer_; }
  QString modelText() const;  // the Model box's label
  const SampleLibrary& samples() const { return samples_; }
  QString statusText() const;  // the status bar's permanent fields, joined
  // The question's words the loaded model's tokenizer reads as its unknown token (none when the
  // model has no tokenizer or no unknown token); shown beside the question as the user types.
  QStringList unknownWords() const;
  QLabel* unknownWordsLabel() const { return unknownLabel_; }
  // "decode 12.3 ms/token, 1.4x the memory bound (60 GB/s measured)" once a live run on the
  // loaded model has decode steps; empty otherwise.
  QString memoryBoundText() const;
  QLabel* memoryBoundLabel() const { return boundLabel_; }

 signals:
  // Every error the window shows (also as a non-blocking message box).
  void errorShown(const QString& title, const QString& message);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;
  void showEvent(QShowEvent* event) override;

 private:
  // main_window_layout.cpp
  void buildCentral();
  void buildDocks();
  void buildToolbar();
  void buildStatusBar();
  void fitDocks();          // shares the width between setup, centre and plots by the window's size
  void fitOverlayHeight();  // gives the overlay the height its images need, the tokens the rest
  // main_window_menus.cpp
  void buildMenus();
  void buildShortcuts();
  void rebuildRecentMenus();
  void showAbout();
  // main_window_run.cpp
  void connectController();
  RunRequest currentRequest() const;
  bool currentRunMatches() const;  // the current run was made from the inputs shown now
  void startRun(bool thenGenerate, int maxTokens);
  // False (and a dialog naming the knobs) when policy form A (or B, with withB) shows errors.
  bool checkPolicyForms(bool withB);
  void showPromptLength(const RunInfo& info);  // the forms' "budget exceeds the prompt" check
  void setAnswerText(const QString& html);
  // main_window_images.cpp
  void openImageDialog();
  void addImageDialog();
  void imagesChanged();
  void useSample(const SampleImage& sample, int question);
  void checkImageMarkers();
  // main_window_vocabulary.cpp
  void loadVocabulary(const QString& modelDir);  // the loaded model's tokenizer, if any
  void checkVocabulary();                        // updates the "not in the vocabulary" line
  // main_window_compare.cpp
  void createCompareSession();
  void syncCompareCursor();
  // main_window_report.cpp
  void openReportDialog();
  void endReplay();
  // main_window_export.cpp
  void exportPlot(widgets::LivePlot* plot, const QString& name);
  void exportOverlay();
  void exportReportDialog();
  QString saveFileName(const QString& title, const QString& name, const QString& filters,
                       QString* filter);
  // main_window_shadow.cpp
  void buildShadowViews();
  void buildShadowMenus(QMenu* view);
  void applyShadowDefault(qint64 decodeWeightBytes);
  void applyShadowDefaultFor(const QString& modelDir);  // from the folder's weight files
  void applyRunExtras(RunRequest& request) const;       // shadow mode, HAE probes
  void updateShadowStatus();
  // main_window_attention.cpp
  void buildAttentionTab();
  void buildAttentionMenu(QMenu* view);
  void updateAttentionNote();  // what the tab says when a step has no attention
  // main_window.cpp
  void showError(const QString& title, const QString& message);
  void openModelDialog();
  void showPreview();  // the chosen images with no run yet
  void updateControls();
  void updateStatus();
  void updateScrubber();
  void updateLayerRange();
  void applyLayer();
  void stepLayer(int delta);
  void stepCursor(int delta);

  StudioOptions options_;
  SessionController* main_ = nullptr;
  SessionController* second_ = nullptr;  // created on the first comparison
  widgets::RunHistory* history_ = nullptr;
  widgets::PatchOverlayView* overlay_ = nullptr;
  QSplitter* centerSplit_ = nullptr;  // the overlay and its sliders over the tokens
  bool centerSplitDragged_ = false;   // once the user drags it, their split stays
  widgets::TokenStreamView* tokens_ = nullptr;
  widgets::PatchHistoryPanel* patchPanel_ = nullptr;
  widgets::PolicyForm* policy_ = nullptr;
  widgets::PolicyForm* policyB_ = nullptr;
  QTabWidget* policyTabs_ = nullptr;
  widgets::CacheSizePlot* cachePlot_ = nullptr;
  widgets::LatencyPlot* latencyPlot_ = nullptr;
  widgets::BinActivityPlot* binPlot_ = nullptr;
  widgets::OccupancyHeatmap* heatmap_ = nullptr;
  CompareView* compareView_ = nullptr;
  ImageSetPanel* imageSet_ = nullptr;
  QToolBar* toolBar_ = nullptr;
  QDockWidget* setupDock_ = nullptr;
  QDockWidget* plotDock_ = nullptr;
  QDockWidget* compareDock_ = nullptr;
  QDockWidget* headDock_ = nullptr;
  widgets::HeadKeepView* headKeep_ = nullptr;
  widgets::AttentionView* attention_ = nullptr;
  QDockWidget* attentionDock_ = nullptr;
  QAction* recordAttentionAction_ = nullptr;
  QList<QAction*> evictedStyleActions_;  // tint, hatch, outline
  widgets::RegretPlot* regretPlot_ = nullptr;
  widgets::ProbePlot* probePlot_ = nullptr;
  QDockWidget* regretDock_ = nullptr;
  QDockWidget* probeDock_ = nullptr;
  QAction* shadowAction_ = nullptr;
  QAction* probesAction_ = nullptr;
  QAction* clearMarksAction_ = nullptr;
  QAction* rerunEditsAction_ = nullptr;
  QList<QAction*> overlayModeActions_;
  QLabel* shadowLabel_ = nullptr;
  bool shadowUserSet_ = false;  // the user chose; the size default no longer applies

  QLabel* banner_ = nullptr;
  QTextEdit* answerView_ = nullptr;
  QLabel* modelLabel_ = nullptr;
  QLabel* markerLabel_ = nullptr;   // says when the <image> markers and the images disagree
  QLabel* unknownLabel_ = nullptr;  // the question's words outside the vocabulary
  QTimer vocabularyTimer_;          // debounces the vocabulary check while the user types
  std::shared_ptr<const Tokenizer> vocabulary_;
  int unknownId_ = -1;
  QLineEdit* prompt_ = nullptr;
  QSlider* layerSlider_ = nullptr;
  QCheckBox* allLayers_ = nullptr;
  QLabel* layerLabel_ = nullptr;
  QSlider* scrubber_ = nullptr;
  QLabel* stepLabel_ = nullptr;
  QSpinBox* maxTokens_ = nullptr;
  QSpinBox* delay_ = nullptr;
  QAction* prefillAction_ = nullptr;
  QAction* stepAction_ = nullptr;
  QAction* runAction_ = nullptr;
  QAction* pauseAction_ = nullptr;
  QAction* resetAction_ = nullptr;
  QAction* cancelAction_ = nullptr;
  QAction* compareAction_ = nullptr;
  // Actions with a shortcut, for the Help list (the list is built from them, so never stale).
  QList<QAction*> shortcutActions_;
  QMenu* samplesMenu_ = nullptr;
  QMenu* recentReportsMenu_ = nullptr;
  QMenu* recentModelsMenu_ = nullptr;
  QMenu* recentImagesMenu_ = nullptr;
  QLabel* deviceLabel_ = nullptr;
  QLabel* threadsLabel_ = nullptr;
  QLabel* cacheLabel_ = nullptr;
  QLabel* speedLabel_ = nullptr;
  QLabel* stateLabel_ = nullptr;
  QLabel* boundLabel_ = nullptr;

  SampleLibrary samples_;
  QString answer_;
  bool demoRequested_ = false;
  QString modelText_;       // the label of the model in use, restored when a load fails
  QString replayPath_;      // the report shown now; empty during live runs
  RunRequest runRequest_;   // what the current run was prefilled with
  int pendingTokens_ = -1;  // tokens to generate once the pending prefill lands (-1: none)
  int changeSamples_ = 0;   // two-image samples drawn so far (the first is a fixed scene)
  QTimer statusTimer_;
};

}  // namespace hae::studio
