// The A/B comparison: policy B (Setup > "B: compare") runs in a second session on the same images
// and question as the main run (A). Both sides follow one Step cursor (the window's scrubber) and
// one Layer (the window's slider), so B always shows the step and layer A shows.
#include <QDockWidget>
#include <QLineEdit>
#include <QSpinBox>
#include <algorithm>

#include "compare_view.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "hae/widgets/run_history.h"
#include "image_set_panel.h"
#include "main_window.h"
#include "session_controller.h"

namespace hae::studio {

void MainWindow::syncCompareCursor() {
  // B's cursor is A's step index, clamped to the steps B has so far (B may still be generating,
  // or have stopped earlier at its end of answer).
  widgets::RunHistory* b = compareView_->history();
  if (b->empty() || history_->cursor() < 0) return;
  const int target = std::min(history_->cursor(), b->stepCount() - 1);
  if (b->cursor() != target) b->setCursor(target);
}

void MainWindow::createCompareSession() {
  second_ = new SessionController(options_.threads, this);
  second_->setTokenDelay(delay_->value());
  connect(second_, &SessionController::modelFailed, this,
          [this](const QString&, const QString& message) {
            showError(tr("Cannot load the model for the comparison"), message);
          });
  connect(second_, &SessionController::runStarted, this, [this](RunInfoPtr info, StepPtr first) {
    compareView_->history()->reset(*info);
    compareView_->setImages(imageSet_->images());
    compareView_->history()->appendStep(std::move(first));
    compareView_->setStatus(tr("B: generating..."));
    second_->generate(0);
  });
  connect(second_, &SessionController::stepArrived, this,
          [this](StepPtr step, const QString& answer) {
            compareView_->history()->appendStep(std::move(step));
            compareView_->setAnswerB(answer);
          });
  connect(second_, &SessionController::runStopped, this,
          [this](StopReason reason, const QString& answer) {
            compareView_->setAnswerB(answer);
            compareView_->setStatus(reason == StopReason::Finished ? tr("B: done.")
                                                                   : tr("B: stopped."));
            compareView_->refresh();
          });
  connect(second_, &SessionController::runFailed, this, [this](const QString& message) {
    // A model that failed to load has already said so.
    if (second_->modelReady()) showError(tr("The comparison run failed"), message);
    compareView_->setStatus(tr("B failed."));
  });
}

void MainWindow::compare() {
  if (imageSet_->paths().isEmpty() || prompt_->text().trimmed().isEmpty()) {
    showError(tr("Nothing to compare"), tr("Choose an image and a question first."));
    return;
  }
  if (!main_->modelReady() || main_->loading()) {
    showError(tr("No model"), tr("Wait for the model to load (or open one) before comparing."));
    return;
  }
  if (!checkPolicyForms(true)) return;
  if (!second_) createCompareSession();
  // A: the main run on the inputs shown now, to its end.
  if (!currentRunMatches())
    startRun(true, 0);
  else if (!main_->finished() && !main_->running())
    main_->generate(0);

  RunRequest b = currentRequest();
  b.policy = policyB_->policyName();
  b.knobs = policyB_->knobValues();
  compareView_->history()->reset(RunInfo{});
  compareView_->setAnswerB({});
  // Queued behind the load on the worker's thread, so no need to wait for it here.
  if (!second_->modelReady() || second_->modelDir() != main_->modelDir()) {
    compareView_->setStatus(tr("B: loading the model..."));
    second_->loadModel(main_->modelDir());
  } else {
    compareView_->setStatus(tr("B: prefilling..."));
  }
  second_->prefill(b);
  compareDock_->show();
  compareDock_->raise();
}

}  // namespace hae::studio
