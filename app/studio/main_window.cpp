// The window's construction and the view state every part shares: which controls are enabled,
// the status bar, the Step scrubber and the Layer slider.
#include "main_window.h"

#include <QAction>
#include <QCheckBox>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QSlider>
#include <QStatusBar>
#include <QTextEdit>
#include <QThread>
#include <algorithm>

#include "compare_view.h"
#include "hae/build_info.h"
#include "hae/policy_catalog.h"
#include "hae/report.h"
#include "hae/widgets/attention_view.h"
#include "hae/widgets/bin_activity_plot.h"
#include "hae/widgets/cache_size_plot.h"
#include "hae/widgets/latency_plot.h"
#include "hae/widgets/occupancy_heatmap.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "hae/widgets/probe_plot.h"
#include "hae/widgets/regret_plot.h"
#include "hae/widgets/report_pdf.h"
#include "hae/widgets/run_history.h"
#include "hae/widgets/token_stream_view.h"
#include "image_set_panel.h"
#include "session_controller.h"
#include "studio_settings.h"

namespace hae::studio {

namespace {

std::vector<widgets::PolicyDescription> formPolicies() {
  std::vector<widgets::PolicyDescription> out;
  for (const PolicyDescription& p : availablePolicies()) out.push_back({p.name, p.knobs});
  return out;
}

QString formatBytes(std::int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024.0) return QObject::tr("%1 MiB").arg(b / (1024.0 * 1024.0), 0, 'f', 2);
  if (b >= 1024.0) return QObject::tr("%1 KiB").arg(b / 1024.0, 0, 'f', 1);
  return QObject::tr("%1 B").arg(bytes);
}

}  // namespace

MainWindow::MainWindow(const StudioOptions& options, QWidget* parent)
    : QMainWindow(parent), options_(options) {
  registerStudioMetaTypes();
  setWindowTitle(tr("HAE Studio"));
  setMinimumSize(kMinimumWidth, kMinimumHeight);
  resize(1280, 720);
  setAcceptDrops(true);
  setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowTabbedDocks);

  // The PDF report paints with the studio's own widgets, so core leaves PDF to the Qt side. It is
  // only ever called from this (the GUI) thread.
  if (!hasPdfReportWriter())
    setPdfReportWriter(
        [](const std::string& path, const RunInfo& info, const std::vector<StepTelemetry>& steps,
           const std::string& answer) { widgets::writePdfReport(path, info, steps, answer); });

  history_ = new widgets::RunHistory(this);
  main_ = new SessionController(options_.threads, this);

  buildCentral();
  buildDocks();
  buildShadowViews();
  buildToolbar();
  buildMenus();
  buildShortcuts();
  buildStatusBar();
  connectController();

  policy_->setPolicies(formPolicies(), "full");
  // B defaults to the first policy that evicts something, so Compare shows a difference at once.
  std::string other = "full";
  for (const PolicyDescription& p : availablePolicies())
    if (p.name != "full") {
      other = p.name;
      if (p.name == "hae") break;
    }
  policyB_->setPolicies(formPolicies(), other);
  for (widgets::PolicyForm* form : {policy_, policyB_})
    connect(form, &widgets::PolicyForm::validityChanged, this, &MainWindow::updateControls);
  fitDocks();

  statusTimer_.setInterval(250);
  connect(&statusTimer_, &QTimer::timeout, this, &MainWindow::updateStatus);
  statusTimer_.start();

  if (options_.loadDemo) {
    loadModel({});
    if (!samples_.samples().empty())
      selectSample(0);
    else
      newRandomScene();
  } else {
    showPreview();
  }
  updateControls();
  updateStatus();
}

MainWindow::~MainWindow() {
  // Join the worker threads while every view they feed still exists.
  delete second_;
  second_ = nullptr;
  delete main_;
  main_ = nullptr;
}

std::vector<widgets::LivePlot*> MainWindow::plots() const {
  return {cachePlot_, latencyPlot_, binPlot_, heatmap_};
}

QList<QAction*> MainWindow::runActions() const {
  return {prefillAction_, stepAction_,   runAction_,    pauseAction_,
          resetAction_,   cancelAction_, compareAction_};
}

QString MainWindow::modelText() const {
  return modelLabel_->text();
}

void MainWindow::flushViews() {
  for (widgets::LivePlot* p : plots()) p->flush();
  for (widgets::LivePlot* p : std::initializer_list<widgets::LivePlot*>{regretPlot_, probePlot_})
    p->flush();
  tokens_->flush();
  compareView_->refresh();
  updateStatus();
}

void MainWindow::showPreview() {
  RunInfo info;
  const QStringList paths = imageSet_->paths();
  for (int i = 0; i < paths.size(); ++i)
    info.images.push_back({paths[i].toStdString(),
                           imageSet_->images()[i].width(),
                           imageSet_->images()[i].height(),
                           {}});
  history_->reset(info);
  overlay_->setImages(imageSet_->images());
  compareView_->history()->reset(RunInfo{});
  compareView_->setImages(imageSet_->images());
  answer_.clear();
  if (!main_->modelReady() && !main_->loading())
    setAnswerText(tr("<i>No model is loaded: open a model folder to start.</i>"));
  else if (paths.isEmpty())
    setAnswerText(tr("<i>Open an image and ask a question.</i>"));
  else
    setAnswerText(tr("<i>Press <b>Run</b> to ask the question.</i>"));
  compareView_->setAnswerA({});
}

// ---------------------------------------------------------------------------------------------
// View state

void MainWindow::updateControls() {
  const bool running = main_->running();
  const bool busy = main_->busy();
  // A knob field showing an error blocks the run buttons (its inline error says why).
  const bool formsValid = !policy_->hasErrors();
  const bool canAsk = !running && formsValid && !imageSet_->paths().isEmpty() &&
                      !prompt_->text().trimmed().isEmpty() &&
                      (main_->modelReady() || main_->loading());
  prefillAction_->setEnabled(canAsk);
  stepAction_->setEnabled(canAsk);
  runAction_->setEnabled(canAsk);
  pauseAction_->setEnabled(running);
  resetAction_->setEnabled(main_->hasRun() || busy || replaying());
  cancelAction_->setEnabled(busy || running);
  compareAction_->setEnabled(formsValid && !policyB_->hasErrors() && main_->modelReady() &&
                             !main_->loading() && !imageSet_->paths().isEmpty());
  compareView_->runButton()->setEnabled(compareAction_->isEnabled());

  QString state;
  if (main_->loading())
    state = tr("Loading the model...");
  else if (running)
    state = tr("Generating...");
  else if (busy)
    state = tr("Prefilling...");
  else if (replaying())
    state = tr("Replaying a saved run (no model needed)");
  else if (main_->finished())
    state = tr("Answer complete");
  else if (main_->hasRun())
    state = tr("Ready: Step or Run continues");
  else if (main_->modelReady())
    state = tr("Ready");
  else
    state = tr("No model");
  stateLabel_->setText(state);
}

void MainWindow::updateStatus() {
  const widgets::RunHistory& h = *history_;
  const QString device =
      h.info().device.empty() ? QStringLiteral("cpu") : QString::fromStdString(h.info().device);
  deviceLabel_->setText(tr("Device: %1").arg(device));
  const int threads = options_.threads > 0 ? options_.threads : QThread::idealThreadCount();
  threadsLabel_->setText(tr("Threads: %1").arg(threads));
  const StepTelemetry* at = h.cursorStep();
  cacheLabel_->setText(
      tr("KV cache: %1").arg(at ? formatBytes(at->totalBytes()) : QStringLiteral("-")));
  // From the engine's own timings over the last few tokens, so the figure means compute speed,
  // not how fast the window happened to receive the steps (or the watch-mode delay).
  double ms = 0;
  int n = 0;
  const int end = std::max(0, h.cursor());
  for (int i = end; i >= 1 && n < 16; --i, ++n) ms += h.step(i).model_ms + h.step(i).policy_ms;
  const QString bound = memoryBoundText();
  boundLabel_->setText(bound);
  boundLabel_->setToolTip(
      bound.isEmpty() ? QString()
                      : tr("%1.\nThe bound: the decoder's weights plus the live cache slots, read "
                           "once per token, over the read bandwidth measured when the model "
                           "loaded (mean of the last 16 tokens up to the Step cursor).")
                            .arg(bound));
  speedLabel_->setText(n > 0 && ms > 0 ? tr("%1 tokens/s").arg(1000.0 * n / ms, 0, 'f', 1)
                                       : tr("- tokens/s"));
}

QString MainWindow::memoryBoundText() const {
  // Decode reads every weight and the cache once per token: the floor is those bytes over the
  // measured read bandwidth. Only for a live run on the loaded model (a replayed report's model
  // may be another, on another machine).
  const double gbPerS = main_->readBandwidthGBs();
  const std::int64_t weights = main_->decodeWeightBytes();
  const RunInfo& info = history_->info();
  if (replaying() || gbPerS <= 0 || weights <= 0 || info.num_layers <= 0) return {};
  double measuredMs = 0, boundMs = 0;
  int n = 0;
  for (int i = std::max(0, history_->cursor()); i >= 1 && n < 16; --i, ++n) {
    const StepTelemetry& s = history_->step(i);
    // The cache bytes the step read: every live slot of every layer.
    double cacheBytes = 0;
    for (int l = 0; l < static_cast<int>(s.layers.size()); ++l)
      cacheBytes += static_cast<double>(s.liveSlots(l)) *
                    static_cast<double>(info.kv_bytes_per_token) / info.num_layers;
    boundMs += (static_cast<double>(weights) + cacheBytes) / (gbPerS * 1e9) * 1e3;
    measuredMs += s.model_ms + s.policy_ms;
  }
  if (n == 0 || boundMs <= 0) return {};
  return tr("decode %1 ms/token, %2x the memory bound (%3 GB/s measured)")
      .arg(measuredMs / n, 0, 'f', 1)
      .arg(measuredMs / boundMs, 0, 'f', 1)
      .arg(gbPerS, 0, 'f', 0);
}

QString MainWindow::statusText() const {
  return QStringList{deviceLabel_->text(), threadsLabel_->text(), cacheLabel_->text(),
                     speedLabel_->text()}
      .join(QStringLiteral(" | "));
}

void MainWindow::updateScrubber() {
  const int n = history_->stepCount();
  const QSignalBlocker block(scrubber_);
  scrubber_->setRange(0, std::max(0, n - 1));
  scrubber_->setValue(std::max(0, history_->cursor()));
  scrubber_->setEnabled(n > 1);
  if (n == 0) {
    stepLabel_->setText(tr("no steps"));
  } else {
    const StepTelemetry* s = history_->cursorStep();
    const int stepNo = s ? s->step : 0;
    stepLabel_->setText(stepNo == 0 ? tr("prefill (of %1)").arg(n - 1)
                                    : tr("token %1 of %2").arg(stepNo).arg(n - 1));
  }
}

void MainWindow::updateLayerRange() {
  const int layers = history_->numLayers();
  const QSignalBlocker block(layerSlider_);
  layerSlider_->setRange(0, std::max(0, layers - 1));
  layerSlider_->setEnabled(layers > 0 && !allLayers_->isChecked());
  applyLayer();
}

void MainWindow::applyLayer() {
  const int layers = history_->numLayers();
  const bool all = allLayers_->isChecked();
  layerSlider_->setEnabled(layers > 0 && !all);
  const int layer = all ? widgets::PatchOverlayView::kAllLayers : layerSlider_->value();
  overlay_->setLayer(layer);
  tokens_->setLayer(layer);
  compareView_->setLayer(layer);               // B shows the same layer as A
  headKeep_->setLayer(layerSlider_->value());  // per head needs one layer, even under "all"
  attention_->setLayer(layerSlider_->value());  // attention too is one layer's
  if (layers == 0)
    layerLabel_->setText(all ? tr("all layers") : tr("layer -"));
  else
    layerLabel_->setText(all ? tr("all %1 layers").arg(layers)
                             : tr("layer %1 / %2").arg(layer).arg(layers - 1));
}

void MainWindow::setEvictedStyle(int style) {
  const auto s = static_cast<widgets::PatchOverlayView::EvictedStyle>(style);
  for (widgets::PatchOverlayView* o :
       {overlay_, compareView_->overlayA(), compareView_->overlayB()})
    o->setEvictedStyle(s);
  for (int i = 0; i < evictedStyleActions_.size(); ++i)
    evictedStyleActions_[i]->setChecked(i == style);
}

void MainWindow::stepLayer(int delta) {
  // The Layer shortcuts leave the all-layers summary for one layer, then move through them.
  if (allLayers_->isChecked()) {
    allLayers_->setChecked(false);
    return;
  }
  layerSlider_->setValue(layerSlider_->value() + delta);
}

void MainWindow::stepCursor(int delta) {
  if (history_->empty()) return;
  history_->setCursor(std::clamp(history_->cursor() + delta, 0, history_->stepCount() - 1));
}

// ---------------------------------------------------------------------------------------------
// Dialogs

void MainWindow::showError(const QString& title, const QString& message) {
  // Non-blocking: the window (and any run) keeps going while the message is up.
  auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->setModal(false);
  box->show();
  statusBar()->showMessage(title, 6000);
  emit errorShown(title, message);
}

void MainWindow::openModelDialog() {
  const QString dir = QFileDialog::getExistingDirectory(
      this, tr("Open a model folder (config.json, *.safetensors, tokenizer.json)"),
      StudioSettings::lastFolder(kModelDialog));
  if (dir.isEmpty()) return;
  // The parent of the checkpoint: the next dialog opens beside it, ready for a sibling model.
  StudioSettings::rememberFolder(kModelDialog, QFileInfo(dir).absolutePath());
  loadModel(dir);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  // Stop at the next layer boundary; the controllers join their threads when they are destroyed.
  main_->cancel();
  if (second_) second_->cancel();
  QMainWindow::closeEvent(event);
}

void MainWindow::showAbout() {
  const BuildInfo info = buildInfo();
  QMessageBox::about(
      this, tr("About HAE Studio"),
      tr("HAE Studio %1\nKV-cache eviction visualizer and profiler.\n%2")
          .arg(QString::fromStdString(info.version), QString::fromStdString(describeRuntime())));
}

}  // namespace hae::studio
