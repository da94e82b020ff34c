// Run control: loading a model, Prefill / Step / Run / Pause / Reset / Cancel, watch mode (token
// limit and per-token delay), and what the window does with the worker's results.
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QScrollBar>
#include <QSpinBox>
#include <QStatusBar>
#include <QTextEdit>
#include <algorithm>

#include "compare_view.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "hae/widgets/run_history.h"
#include "image_set_panel.h"
#include "main_window.h"
#include "session_controller.h"
#include "studio_settings.h"

namespace hae::studio {

void MainWindow::setAnswerText(const QString& html) {
  answerView_->setHtml(html);
  // Long answers scroll inside the fixed-height box; keep the newest words in view.
  answerView_->verticalScrollBar()->setValue(answerView_->verticalScrollBar()->maximum());
}

void MainWindow::connectController() {
  connect(main_, &SessionController::modelLoaded, this, [this](const QString& dir) {
    modelText_ = demoRequested_ ? tr("Embedded demo model (%1)").arg(QFileInfo(dir).fileName())
                                : QFileInfo(dir).fileName();
    modelLabel_->setText(modelText_);
    modelLabel_->setToolTip(dir);
    banner_->setVisible(false);
    loadVocabulary(dir);
    if (!demoRequested_) StudioSettings::addRecent(kRecentModels, dir);
    rebuildRecentMenus();
    // The name, not the path: screenshots and screen shares should not show the user's folders
    // (the label's tooltip has the path).
    statusBar()->showMessage(tr("Model loaded: %1").arg(modelText_), 4000);
    // The old model's run went with it (unless a run on the new model is already queued).
    if (!main_->hasRun() && !main_->busy() && !replaying() && history_->stepCount() > 0)
      showPreview();
  });
  connect(main_, &SessionController::modelFailed, this,
          [this](const QString& dir, const QString& message) {
            const bool demo = demoRequested_;
            if (!main_->modelReady()) {
              modelText_.clear();
              modelLabel_->setText(tr("(none)"));
              banner_->setText(
                  (demo ? tr("<b>The embedded demo model is not available</b> (%1).<br>"
                             "<a href=\"open\">Open a model folder...</a> (a Hugging Face LLaVA "
                             "checkpoint) to start.")
                        : tr("<b>No model is loaded.</b> %1<br><a href=\"open\">Open a model "
                             "folder...</a>"))
                      // The core's message ends with advice for the CLI, which is no use here.
                      .arg(QString(message)
                               .remove(QStringLiteral("; pass --model DIR"))
                               .toHtmlEscaped()));
              banner_->setVisible(true);
              if (history_->empty()) showPreview();
            } else {
              // The old model is still loaded, and its run is still there: say so.
              modelLabel_->setText(modelText_);
            }
            if (!demo)
              showError(
                  tr("Cannot load the model"),
                  tr("%1\n\n%2%3")
                      .arg(dir, message,
                           main_->modelReady()
                               ? tr("\n\nThe previous model (%1) is still loaded.").arg(modelText_)
                               : QString()));
          });
  connect(main_, &SessionController::runStarted, this, [this](RunInfoPtr info, StepPtr first) {
    endReplay();
    history_->reset(*info);
    overlay_->setImages(imageSet_->images());
    compareView_->setImages(imageSet_->images());
    showPromptLength(*info);
    history_->appendStep(std::move(first));
    answer_.clear();
    setAnswerText(
        tr("<i>prefilled, %1 prompt tokens - press Step or Run</i>").arg(info->tokens.size()));
    compareView_->setAnswerA({});
    if (pendingTokens_ >= 0) {
      main_->generate(pendingTokens_);
      pendingTokens_ = -1;
    }
    updateStatus();
  });
  connect(main_, &SessionController::stepArrived, this,
          [this](StepPtr step, const QString& answer) {
            history_->appendStep(std::move(step));
            answer_ = answer;
            setAnswerText(answer_.toHtmlEscaped() + "<span style='color:#2e7d32'>&#9612;</span>");
            compareView_->setAnswerA(answer_);
          });
  connect(
      main_, &SessionController::runStopped, this,
      [this](StopReason reason, const QString& answer) {
        pendingTokens_ = -1;
        if (main_->hasRun()) {
          answer_ = answer;
          setAnswerText(answer_.isEmpty() ? tr("<i>(no tokens yet)</i>") : answer_.toHtmlEscaped());
          compareView_->setAnswerA(answer_);
        }
        switch (reason) {
          case StopReason::Finished:
            statusBar()->showMessage(
                tr("Answer complete: %1 tokens").arg(std::max(0, history_->stepCount() - 1)), 5000);
            break;
          case StopReason::Paused:
            statusBar()->showMessage(tr("Paused - Run or Step continues"), 5000);
            break;
          case StopReason::Cancelled:
            statusBar()->showMessage(tr("Cancelled"), 5000);
            break;
          case StopReason::StepDone:
            break;
        }
        updateStatus();
      });
  connect(main_, &SessionController::runFailed, this, [this](const QString& message) {
    pendingTokens_ = -1;
    showError(tr("The run failed"), message);
  });
  connect(main_, &SessionController::stateChanged, this, &MainWindow::updateControls);
}

void MainWindow::loadModel(const QString& dir) {
  demoRequested_ = dir.isEmpty();
  // The label says what is happening; the model in use (and its run) stays until the new one is
  // in, and the label goes back to it if the load fails.
  modelLabel_->setText(dir.isEmpty() ? tr("Loading the demo model...")
                                     : tr("Loading %1...").arg(QFileInfo(dir).fileName()));
  modelLabel_->setToolTip(dir);
  applyShadowDefaultFor(dir);
  main_->loadModel(dir);
}

RunRequest MainWindow::currentRequest() const {
  RunRequest r;
  r.prompt = prompt_->text().trimmed();
  r.images = imageSet_->paths();
  r.policy = policy_->policyName();
  r.knobs = policy_->knobValues();
  r.max_new_tokens = maxTokens_->value();
  applyRunExtras(r);
  return r;
}

bool MainWindow::currentRunMatches() const {
  if (!main_->hasRun() || main_->loading()) return false;
  const RunRequest now = currentRequest();
  return now.prompt == runRequest_.prompt && now.images == runRequest_.images &&
         now.policy == runRequest_.policy && now.knobs == runRequest_.knobs &&
         now.max_new_tokens == runRequest_.max_new_tokens &&
         now.shadow_mode == runRequest_.shadow_mode;
}

bool MainWindow::checkPolicyForms(bool withB) {
  // A field showing an error still hands out its last valid value: running would silently use
  // a value the user did not type, so nothing starts until every field is valid.
  QStringList errors;
  for (const QString& e : policy_->errors()) errors << tr("A: %1").arg(e);
  if (withB)
    for (const QString& e : policyB_->errors()) errors << tr("B: %1").arg(e);
  if (errors.isEmpty()) return true;
  showError(tr("Invalid policy settings"),
            tr("Fix these settings first (nothing was started):\n%1").arg(errors.join('\n')));
  return false;
}

void MainWindow::showPromptLength(const RunInfo& info) {
  // The forms warn when a budget is not below the prompt (the policy would evict nothing).
  const int tokens = static_cast<int>(info.tokens.size());
  const int visual = static_cast<int>(info.visual_tokens.size());
  policy_->setPromptLength(tokens, visual);
  policyB_->setPromptLength(tokens, visual);
}

void MainWindow::startRun(bool thenGenerate, int maxTokens) {
  if (!checkPolicyForms(false)) return;
  if (imageSet_->paths().isEmpty()) {
    showError(tr("No image"),
              tr("Open an image first (File > Open image, a sample, or drop one on the window)."));
    return;
  }
  if (prompt_->text().trimmed().isEmpty()) {
    showError(tr("No question"), tr("Type a question about the image first."));
    return;
  }
  if (!main_->modelReady() && !main_->loading()) {
    showError(tr("No model"), tr("Load a model first: File > Open model folder."));
    return;
  }
  runRequest_ = currentRequest();
  pendingTokens_ = thenGenerate ? std::max(0, maxTokens) : -1;
  setAnswerText(tr("<i>prefilling...</i>"));
  main_->prefill(runRequest_);
}

void MainWindow::prefill() {
  startRun(false, 0);
}

void MainWindow::step() {
  if (!checkPolicyForms(false)) return;
  if (currentRunMatches() && !main_->finished())
    main_->step();
  else
    startRun(false, 0);  // the prefill is step 0
}

void MainWindow::run(int maxTokens) {
  if (main_->running()) return;
  if (!checkPolicyForms(false)) return;
  if (currentRunMatches() && !main_->finished())
    main_->generate(maxTokens);
  else
    startRun(true, maxTokens);
}

void MainWindow::pause() {
  main_->pause();
  if (second_) second_->pause();
}

void MainWindow::cancel() {
  pendingTokens_ = -1;
  main_->cancel();
  if (second_) second_->cancel();
}

void MainWindow::resetRun() {
  pendingTokens_ = -1;
  main_->reset();
  endReplay();
  showPreview();
  updateControls();
}

void MainWindow::setMaxNewTokens(int tokens) {
  maxTokens_->setValue(tokens);
}

int MainWindow::maxNewTokens() const {
  return maxTokens_->value();
}

void MainWindow::setTokenDelayMs(int ms) {
  delay_->setValue(ms);
}

int MainWindow::tokenDelayMs() const {
  return delay_->value();
}

}  // namespace hae::studio
