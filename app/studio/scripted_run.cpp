#include "scripted_run.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDockWidget>
#include <QSlider>
#include <QTimer>

#include "hae/error.h"
#include "hae/policy_catalog.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "hae/widgets/run_history.h"
#include "main_window.h"
#include "session_controller.h"

namespace hae::studio {

ScriptedRun::ScriptedRun(MainWindow* window, ScriptOptions options, QObject* parent)
    : QObject(parent), window_(window), options_(std::move(options)) {}

bool ScriptedRun::checkOptions() {
  if (!options_.scripted || checked_) return !done_;
  checked_ = true;
  // The knobs go through the same validation as `hae run --set` first, so the message is the
  // CLI's; start() then fails on any value the form refuses as well.
  widgets::PolicyForm* form = window_->policyForm();
  QString message;
  if (!options_.policy.isEmpty() && form->policyBox()->findText(options_.policy) < 0) {
    message = tr("unknown policy '%1'").arg(options_.policy);
  } else if (!options_.comparePolicy.isEmpty() &&
             form->policyBox()->findText(options_.comparePolicy) < 0) {
    message = tr("--compare: unknown policy '%1'").arg(options_.comparePolicy);
  } else {
    try {
      checkPolicyKnobs(
          options_.policy.isEmpty() ? form->policyName() : options_.policy.toStdString(),
          options_.knobs);
      if (!options_.comparePolicy.isEmpty())
        checkPolicyKnobs(options_.comparePolicy.toStdString(), options_.compareKnobs);
    } catch (const Error& e) {
      message = QString::fromStdString(e.what());
    }
  }
  if (message.isEmpty() && !options_.overlayColors.isEmpty() &&
      options_.overlayColors != QLatin1String("states") &&
      options_.overlayColors != QLatin1String("missed"))
    message = tr("--overlay-colors: expected states or missed, got '%1'").arg(options_.overlayColors);
  if (message.isEmpty() && !options_.tab.isEmpty()) {
    QStringList tabs;
    for (const QDockWidget* d : window_->findChildren<QDockWidget*>()) tabs << d->windowTitle();
    if (!tabs.contains(options_.tab))
      message = tr("--tab: no tab '%1' (one of: %2)").arg(options_.tab, tabs.join(", "));
  }
  if (message.isEmpty()) return true;
  done_ = true;
  qCritical("hae-studio: %s", qPrintable(message));
  return false;
}

void ScriptedRun::start() {
  if (!options_.scripted) {
    QTimer::singleShot(300, this, &ScriptedRun::finish);
    return;
  }
  if (!checkOptions()) {
    QTimer::singleShot(0, qApp, [] { QApplication::exit(1); });
    return;
  }
  SessionController* c = window_->controller();
  connect(c, &SessionController::modelFailed, this,
          [this](const QString& dir, const QString& message) {
            fail(tr("cannot load model %1: %2").arg(dir, message));
          });
  connect(window_, &MainWindow::errorShown, this,
          [this](const QString& title, const QString& message) { fail(title + ": " + message); });
  connect(c, &SessionController::runStarted, this, [this] {
    if (options_.steps <= 0) afterRun();
  });
  connect(c, &SessionController::runStopped, this, [this] { afterRun(); });

  if (!options_.size.isEmpty()) window_->resize(options_.size);
  window_->loadModel(options_.model);
  if (options_.twoImageSample) {
    window_->twoImageSample();
  } else if (!options_.image.isEmpty()) {
    if (!window_->setImages(QStringList{options_.image} + options_.images)) return;
  } else if (!window_->samples().samples().empty()) {
    window_->selectSample(0);
  }
  if (!options_.prompt.isEmpty()) window_->setPrompt(options_.prompt);
  widgets::PolicyForm* form = window_->policyForm();
  if (!options_.policy.isEmpty()) form->selectPolicy(options_.policy.toStdString());
  // checkOptions() ran the knobs through `hae run`'s checks; the form's own (the knob's range as
  // the window shows it) may still refuse one, and a screenshot of other settings than asked for
  // would be a false picture.
  const QStringList refused = form->setKnobValues(options_.knobs);
  if (!refused.isEmpty()) return fail(tr("refused knob values: %1").arg(refused.join("; ")));
  // The prefill queues behind the model load on the worker thread.
  if (options_.steps > 0)
    window_->run(options_.steps);
  else
    window_->prefill();
}

void ScriptedRun::fail(const QString& message) {
  if (done_) return;
  done_ = true;
  qCritical("hae-studio: %s", qPrintable(message));
  QTimer::singleShot(0, qApp, [] { QApplication::exit(1); });
}

void ScriptedRun::afterRun() {
  if (done_) return;
  if (!options_.whatIfKeep.empty()) {
    SessionController* b = window_->compareController();
    if (!b || !editsSent_) {
      // A has its answer: mark the patches on its overlay, then What-if > Re-run with edits.
      for (int v : options_.whatIfKeep) {
        if (v >= window_->history()->visualCount())
          return fail(tr("--what-if-keep: the prompt has %1 visual tokens, not %2")
                          .arg(window_->history()->visualCount())
                          .arg(v + 1));
        window_->overlay()->setEditMark(v, widgets::PatchOverlayView::EditMark::ForceKeep);
      }
      editsSent_ = true;
      window_->rerunWithEdits();
      b = window_->compareController();
      if (!b) return fail(tr("the re-run with edits did not start"));
      connect(b, &SessionController::runStopped, this, &ScriptedRun::afterRun);
      connect(b, &SessionController::runFailed, this,
              [this](const QString& message) { fail(tr("re-run with edits: %1").arg(message)); });
      return;
    }
    if (!b->finished() || window_->controller()->running()) return;
  }
  if (!options_.comparePolicy.isEmpty()) {
    SessionController* b = window_->compareController();
    if (!b) {
      // A has its answer: now B, with the same images and question (A is finished, so only B
      // runs).
      window_->policyFormB()->selectPolicy(options_.comparePolicy.toStdString());
      const QStringList refused = window_->policyFormB()->setKnobValues(options_.compareKnobs);
      if (!refused.isEmpty())
        return fail(tr("--compare: refused knob values: %1").arg(refused.join("; ")));
      window_->compare();
      b = window_->compareController();
      if (!b) return fail(tr("the comparison did not start"));
      connect(b, &SessionController::runStopped, this, &ScriptedRun::afterRun);
      connect(b, &SessionController::runFailed, this,
              [this](const QString& message) { fail(tr("comparison: %1").arg(message)); });
      return;
    }
    if (!b->finished() || window_->controller()->running()) return;
  }
  if (options_.layer >= 0) {
    window_->allLayersBox()->setChecked(false);
    window_->layerSlider()->setValue(options_.layer);
  }
  if (options_.cursor >= 0) window_->history()->setCursor(options_.cursor);
  if (options_.overlayColors == QLatin1String("missed")) window_->setOverlayColorMode(1);
  for (QDockWidget* d : window_->findChildren<QDockWidget*>())
    if (!options_.tab.isEmpty() && d->windowTitle() == options_.tab) {
      d->show();
      d->raise();
    }
  finish();
}

void ScriptedRun::finish() {
  if (done_) return;
  done_ = true;
  window_->flushViews();
  // One more pass of the event loop lets the queued repaints land before the grab.
  QTimer::singleShot(150, this, [this] {
    window_->flushViews();
    const bool saved = window_->grab().save(options_.screenshot, "PNG");
    if (!saved)
      qCritical("hae-studio: could not write screenshot to %s", qPrintable(options_.screenshot));
    QApplication::exit(saved ? 0 : 1);
  });
}

}  // namespace hae::studio
