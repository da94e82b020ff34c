#include "session_controller.h"

#include <QThread>

#include "session_worker.h"

namespace hae::studio {

SessionController::SessionController(int threads, QObject* parent) : QObject(parent) {
  registerStudioMetaTypes();
  thread_ = new QThread(this);
  thread_->setObjectName(QStringLiteral("hae-session"));
  worker_ = new SessionWorker(threads);
  worker_->moveToThread(thread_);
  thread_->start();
  post([w = worker_] { w->initThread(); });

  // Every connection is queued (the worker lives on another thread); results whose run id is not
  // the current one come from a run the user replaced and are dropped.
  connect(worker_, &SessionWorker::modelLoaded, this, [this](const QString& dir) {
    loading_ = false;
    modelReady_ = everLoaded_ = true;
    modelDir_ = dir;
    // The old model's run is gone with it, unless a new run was started since the load was asked
    // for (its prefill is queued behind the load, on the new model).
    if (run_ == loadRun_) {
      worker_->supersede(++run_);
      hasRun_ = running_ = finished_ = false;
    }
    emit modelLoaded(dir);
    emit stateChanged();
  });
  connect(worker_, &SessionWorker::attentionRecording, this,
          [this](bool on) { recordsAttention_ = on; });
  connect(worker_, &SessionWorker::memoryBoundKnown, this, [this](double gbPerS, qint64 bytes) {
    gbPerS_ = gbPerS;
    weightBytes_ = bytes;
    emit memoryBoundKnown(gbPerS, bytes);
  });
  connect(worker_, &SessionWorker::modelFailed, this,
          [this](const QString& dir, const QString& message) {
            loading_ = false;
            // The worker keeps the previous model (and its run) when a new one fails.
            modelReady_ = everLoaded_;
            emit modelFailed(dir, message);
            emit stateChanged();
          });
  connect(worker_, &SessionWorker::prefilled, this,
          [this](RunId run, RunInfoPtr info, StepPtr step) {
            if (run != run_) return;
            hasRun_ = true;
            finished_ = false;
            emit runStarted(std::move(info), std::move(step));
            emit stateChanged();
          });
  connect(worker_, &SessionWorker::stepped, this,
          [this](RunId run, StepPtr step, const QString& answer) {
            worker_->stepConsumed();  // every run's, a stale one's too: the worker counts them all
            if (run != run_) return;
            emit stepArrived(std::move(step), answer);
          });
  connect(worker_, &SessionWorker::stopped, this,
          [this](RunId run, StopReason reason, const QString& answer) {
            if (run != run_) return;
            running_ = false;
            if (reason == StopReason::Finished) finished_ = true;
            if (reason == StopReason::Cancelled)
              finished_ = hasRun_;  // a cancelled decode cannot resume
            emit runStopped(reason, answer);
            emit stateChanged();
          });
  connect(worker_, &SessionWorker::failed, this, [this](RunId run, const QString& message) {
    if (run != run_) return;
    running_ = false;
    emit runFailed(message);
    emit stateChanged();
  });
  connect(worker_, &SessionWorker::historyReady, this, [this](RunId run, StepList steps) {
    if (run == run_) emit historyReady(std::move(steps));
  });
  connect(worker_, &SessionWorker::busyChanged, this, [this](bool busy) {
    busy_ = busy;
    emit stateChanged();
  });
}

SessionController::~SessionController() {
  // Stop at the next layer boundary, free the model on its own thread (LibTorch state is not
  // released from another thread or by static destructors), then join.
  worker_->supersede(++run_);
  QMetaObject::invokeMethod(
      worker_, [w = worker_] { w->shutdown(); }, Qt::BlockingQueuedConnection);
  thread_->quit();
  thread_->wait();
  delete worker_;
}

template <typename F>
void SessionController::post(F&& f) {
  QMetaObject::invokeMethod(worker_, std::forward<F>(f), Qt::QueuedConnection);
}

void SessionController::loadModel(const QString& dir) {
  // The run is not dropped yet: a load that fails must leave it. A generating run is paused so
  // the load (queued on the same thread) does not wait for the whole answer.
  pause();
  loadRun_ = run_;
  loading_ = true;
  post([w = worker_, dir, mode = attentionMode_] { w->loadModel(dir, kMaxNewTokensLimit, mode); });
  emit stateChanged();
}

void SessionController::setTokenDelay(int ms) {
  worker_->setTokenDelay(ms);
}

void SessionController::prefill(const RunRequest& request) {
  const RunId run = ++run_;
  worker_->supersede(run);
  hasRun_ = running_ = finished_ = false;
  post([w = worker_, run, request] { w->prefill(run, request); });
  emit stateChanged();
}

void SessionController::step() {
  generate(1);
}

void SessionController::generate(int max_tokens) {
  // Not while a model loads: the run may belong to the model about to be replaced.
  if (!hasRun_ || finished_ || loading_) return;
  setRunning(true);
  post([w = worker_, run = run_, max_tokens] { w->generate(run, max_tokens); });
}

void SessionController::pause() {
  if (running_) worker_->requestPause(run_);
}

void SessionController::cancel() {
  worker_->requestCancel(run_);
}

void SessionController::reset() {
  const RunId run = ++run_;
  worker_->supersede(run);
  hasRun_ = running_ = finished_ = false;
  post([w = worker_, run] { w->reset(run); });
  emit stateChanged();
}

void SessionController::fetchHistory() {
  post([w = worker_, run = run_] { w->fetchHistory(run); });
}

void SessionController::setRunning(bool running) {
  running_ = running;
  emit stateChanged();
}

}  // namespace hae::studio
