// Issue 16 in the window: the full-cache shadow of each run (View > Full-cache shadow, on by
// default for small models), the Regret and Probes tabs beside the live plots, the overlay's
// missed-attention colours, HAE's observation probes, and the what-if edits (shift/ctrl-click in
// the overlay, then What-if > Re-run with edits: A = the run before the edits, B = A's policy with
// them, side by side in the Compare tab).
#include <QAction>
#include <QActionGroup>
#include <QDir>
#include <QDockWidget>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QStatusBar>
#include <algorithm>

#include "compare_view.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/probe_plot.h"
#include "hae/widgets/regret_plot.h"
#include "hae/widgets/run_history.h"
#include "image_set_panel.h"
#include "main_window.h"
#include "session_controller.h"

namespace hae::studio {

namespace {

// The weights a folder holds on disk: what a second KV cache and a second forward per token cost
// scales with. The shadow's default follows it before the model is even loaded, so a run started
// at once (the scripted screenshot) already gets it.
qint64 modelFolderBytes(const QString& dir) {
  qint64 bytes = 0;
  for (const QFileInfo& f : QDir(dir).entryInfoList({"*.safetensors", "*.bin", "*.pt"}, QDir::Files))
    bytes += f.size();
  return bytes;
}

}  // namespace

void MainWindow::buildShadowViews() {
  regretPlot_ = new widgets::RegretPlot(history_, this);
  regretPlot_->setMinimumSize(210, 200);
  regretPlot_->setToolTip(
      tr("What eviction cost at each step, against a full-cache shadow of the same run: KL and "
         "top-1 agreement of the next-token distributions, and the full model's attention on "
         "tokens the policy's cache no longer shows, per layer"));
  regretDock_ = new QDockWidget(tr("Regret"), this);
  regretDock_->setObjectName("regretDock");
  regretDock_->setWidget(regretPlot_);
  addDockWidget(Qt::RightDockWidgetArea, regretDock_);
  tabifyDockWidget(headDock_, regretDock_);

  probePlot_ = new widgets::ProbePlot(history_, this);
  probePlot_->setMinimumSize(210, 200);
  probeDock_ = new QDockWidget(tr("Probes"), this);
  probeDock_->setObjectName("probeDock");
  probeDock_->setToolTip(tr("HAE's observation probes per layer (knob probes=true)"));
  probeDock_->setWidget(probePlot_);
  addDockWidget(Qt::RightDockWidgetArea, probeDock_);
  tabifyDockWidget(regretDock_, probeDock_);
  plotDock_->raise();

  // What-if marks go on the main overlay only; the comparison's overlays show runs.
  overlay_->setEditable(true);
  connect(overlay_, &widgets::PatchOverlayView::editMarksChanged, this, [this] {
    const int keep = static_cast<int>(overlay_->forceKeepPositions().size());
    const int evict = static_cast<int>(overlay_->forceEvictPositions().size());
    if (rerunEditsAction_) rerunEditsAction_->setEnabled(keep + evict > 0);
    if (clearMarksAction_) clearMarksAction_->setEnabled(keep + evict > 0);
    if (keep + evict > 0)
      statusBar()->showMessage(
          tr("What-if: %1 force keep, %2 force evict · What-if > Re-run with edits (Ctrl+Shift+R)")
              .arg(keep)
              .arg(evict),
          6000);
  });

  shadowLabel_ = new QLabel(this);
  shadowLabel_->setObjectName("shadowLabel");
  shadowLabel_->setMinimumWidth(40);  // gives way rather than widening the window
  shadowLabel_->setContentsMargins(6, 0, 6, 0);
  shadowLabel_->setVisible(false);
  statusBar()->addPermanentWidget(shadowLabel_);
  connect(&statusTimer_, &QTimer::timeout, this, &MainWindow::updateShadowStatus);
  connect(history_, &widgets::RunHistory::cursorChanged, this, &MainWindow::updateShadowStatus);
  connect(main_, &SessionController::memoryBoundKnown, this,
          [this](double, qint64 weightBytes) { applyShadowDefault(weightBytes); });
}

void MainWindow::buildShadowMenus(QMenu* view) {
  view->addSeparator();
  QMenu* colours = view->addMenu(tr("Overlay &colours"));
  auto* group = new QActionGroup(this);
  const QString names[] = {tr("Cache &states (kept / bin / evicted)"),
                           tr("&Missed attention (full-cache shadow)")};
  for (int i = 0; i < 2; ++i) {
    QAction* a = colours->addAction(names[i], this, [this, i] { setOverlayColorMode(i); });
    a->setCheckable(true);
    a->setChecked(i == 0);
    group->addAction(a);
    overlayModeActions_ << a;
  }
  overlayModeActions_[1]->setToolTip(
      tr("Colour each evicted or binned patch by how much the full model attended to it at the "
         "cursor step (needs a run with the full-cache shadow)"));
  colours->setToolTipsVisible(true);

  shadowAction_ = view->addAction(tr("Full-cache &shadow (regret)"));
  shadowAction_->setCheckable(true);
  shadowAction_->setChecked(true);  // the demo model; applyShadowDefault decides per model
  shadowAction_->setToolTip(
      tr("Run a full-cache shadow beside each run (a second KV cache over the same weights, fed "
         "the same tokens) to measure what eviction cost: applies to the next run. On by default "
         "for models under %1 GiB.")
          .arg(kShadowAutoBytes >> 30));
  connect(shadowAction_, &QAction::triggered, this, [this] { shadowUserSet_ = true; });
  probesAction_ = view->addAction(tr("Observation &probes (HAE)"));
  probesAction_->setCheckable(true);
  probesAction_->setChecked(true);
  probesAction_->setToolTip(
      tr("HAE runs fill the per-layer probes (knob probes=true, whatever the form says): prefill "
         "statistics only, the decisions are the same"));
  view->setToolTipsVisible(true);

  QMenu* whatIf = menuBar()->addMenu(tr("W&hat-if"));
  whatIf->addAction(tr("Shift-click a patch: force keep · Ctrl-click: force evict"))
      ->setEnabled(false);
  rerunEditsAction_ = whatIf->addAction(tr("&Re-run with edits"),
                                        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R), this,
                                        &MainWindow::rerunWithEdits);
  rerunEditsAction_->setToolTip(
      tr("Run A's policy again from the prefill with the marked patches force-kept / "
         "force-evicted, beside the run before the edits (Compare tab)"));
  clearMarksAction_ = whatIf->addAction(tr("&Clear marks"),
                                        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_X), overlay_,
                                        &widgets::PatchOverlayView::clearEditMarks);
  rerunEditsAction_->setEnabled(false);
  clearMarksAction_->setEnabled(false);
  whatIf->setToolTipsVisible(true);
}

void MainWindow::setShadowEnabled(bool on) {
  shadowUserSet_ = true;
  shadowAction_->setChecked(on);
}

bool MainWindow::shadowEnabled() const {
  return shadowAction_ && shadowAction_->isChecked();
}

void MainWindow::applyShadowDefault(qint64 decodeWeightBytes) {
  if (shadowUserSet_ || !shadowAction_ || decodeWeightBytes <= 0) return;
  shadowAction_->setChecked(decodeWeightBytes < kShadowAutoBytes);
}

void MainWindow::applyShadowDefaultFor(const QString& modelDir) {
  if (shadowUserSet_ || !shadowAction_) return;
  // The embedded demo model is a few MiB: always under the threshold.
  shadowAction_->setChecked(modelDir.isEmpty() || modelFolderBytes(modelDir) < kShadowAutoBytes);
}

void MainWindow::applyRunExtras(RunRequest& request) const {
  request.shadow_mode = shadowEnabled() ? "forced" : "off";
  // Only where the policy has the knob (the form lists every knob, defaults included).
  if (request.policy == "hae" && probesAction_ && probesAction_->isChecked() &&
      request.knobs.count("probes"))
    request.knobs["probes"] = "true";
}

void MainWindow::setOverlayColorMode(int mode) {
  const auto m = static_cast<widgets::PatchOverlayView::ColorMode>(mode);
  for (widgets::PatchOverlayView* o :
       {overlay_, compareView_->overlayA(), compareView_->overlayB()})
    o->setColorMode(m);
  for (int i = 0; i < overlayModeActions_.size(); ++i)
    overlayModeActions_[i]->setChecked(i == mode);
}

void MainWindow::updateShadowStatus() {
  // The shadow's own time per token, apart from the tokens/s figure (model and policy only).
  double ms = 0;
  int n = 0;
  for (int i = std::max(0, history_->cursor()); i >= 1 && n < 16; --i) {
    const StepTelemetry& s = history_->step(i);
    if (!s.shadow) continue;
    ms += s.shadow->ms;
    ++n;
  }
  const bool show = n > 0;
  shadowLabel_->setVisible(show);
  if (!show) return;
  const QString text = tr("shadow %1 ms/token").arg(ms / n, 0, 'f', 1);
  if (shadowLabel_->text() != text) shadowLabel_->setText(text);
  shadowLabel_->setToolTip(
      tr("The full-cache shadow's own time per token (mean of the last %1 tokens up to the Step "
         "cursor), not counted in tokens/s or the latency plot")
          .arg(n));
}

void MainWindow::rerunWithEdits() {
  const std::vector<int> keep = overlay_->forceKeepPositions();
  const std::vector<int> evict = overlay_->forceEvictPositions();
  if (keep.empty() && evict.empty()) {
    showError(tr("No what-if edits"),
              tr("Shift-click patches in the overlay to force-keep them, ctrl-click to "
                 "force-evict them, then re-run."));
    return;
  }
  if (!main_->modelReady() || main_->loading()) {
    showError(tr("No model"), tr("Wait for the model to load (or open one) before re-running."));
    return;
  }
  // The marks name positions of the run shown: inputs changed since then would make them
  // another prompt's.
  if (!currentRunMatches()) {
    showError(tr("The marks belong to the run shown"),
              tr("The image, question or policy changed since that run: run it again, mark the "
                 "patches on it, then re-run with edits."));
    return;
  }
  if (!checkPolicyForms(false)) return;
  if (!second_) createCompareSession();
  if (!main_->finished() && !main_->running()) main_->generate(0);  // A to its end

  RunRequest b = runRequest_;  // A's inputs and policy, exactly
  b.force_keep = keep;
  b.force_evict = evict;
  compareView_->history()->reset(RunInfo{});
  compareView_->setAnswerB({});
  const QString what = tr("B: A's policy with %1 force keep, %2 force evict")
                           .arg(keep.size())
                           .arg(evict.size());
  if (!second_->modelReady() || second_->modelDir() != main_->modelDir()) {
    compareView_->setStatus(what + tr(" · loading the model..."));
    second_->loadModel(main_->modelDir());
  } else {
    compareView_->setStatus(what + tr(" · prefilling..."));
  }
  second_->prefill(b);
  compareDock_->show();
  compareDock_->raise();
}

}  // namespace hae::studio
