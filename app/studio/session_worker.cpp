#include "session_worker.h"

#include <QDir>
#include <QThread>
#include <algorithm>
#include <chrono>
#include <exception>
#include <mutex>

#include "hae/build_info.h"
#include "hae/profile.h"
#include "hae/session.h"

namespace hae::studio {

namespace {

// Marks the worker busy for the duration of a command, whichever way it leaves.
class BusyScope {
 public:
  explicit BusyScope(SessionWorker* worker) : worker_(worker) { emit worker_->busyChanged(true); }
  ~BusyScope() { emit worker_->busyChanged(false); }

 private:
  SessionWorker* worker_;
};

std::vector<std::string> toStdList(const QStringList& list) {
  std::vector<std::string> out;
  for (const QString& s : list) out.push_back(s.toStdString());
  return out;
}

}  // namespace

qint64 modelWeightFileBytes(const QString& dir) {
  qint64 bytes = 0;
  for (const QFileInfo& f :
       QDir(dir).entryInfoList({"*.safetensors", "*.bin", "*.pt"}, QDir::Files))
    bytes += f.size();
  return bytes;
}

SessionWorker::SessionWorker(int threads, QObject* parent) : QObject(parent), threads_(threads) {}

SessionWorker::~SessionWorker() = default;

void SessionWorker::requestPause(RunId run) {
  pause_ = run;
}

void SessionWorker::requestCancel(RunId run) {
  cancel_ = run;
  std::lock_guard lock(mutex_);
  if (session_ && run == latest_.load()) session_->cancel();
}

void SessionWorker::supersede(RunId latest) {
  latest_ = latest;
  std::lock_guard lock(mutex_);
  // Interrupts a long prefill of the replaced run; the next prefill clears the flag.
  if (session_) session_->cancel();
}

void SessionWorker::setTokenDelay(int ms) {
  tokenDelayMs_ = std::clamp(ms, 0, 1000);
}

void SessionWorker::initThread() {
  setThreads(threads_);
}

void SessionWorker::loadModel(const QString& dir, int max_new_tokens, int attention) {
  BusyScope busy(this);
  SessionOptions options;
  options.max_new_tokens = max_new_tokens;
  QString shown = dir;
  try {
    options.model_dir = dir.isEmpty() ? demoModelDir() : dir.toStdString();
    shown = QString::fromStdString(options.model_dir);
    options.record_attention = attention == kAttentionAuto
                                   ? modelWeightFileBytes(shown) < kAttentionAutoBytes
                                   : attention == kAttentionOn;
    // Built before the swap: a folder that fails to load leaves the previous model working.
    auto fresh = std::make_unique<Session>(options);
    built_ = options;
    std::unique_ptr<Session> old;
    {
      std::lock_guard lock(mutex_);
      old = std::move(session_);
      session_ = std::move(fresh);
    }
    old.reset();
    emit attentionRecording(options.record_attention);
    emit modelLoaded(shown);
    reportMemoryBound();
  } catch (const std::exception& e) {
    emit modelFailed(shown, QString::fromUtf8(e.what()));
  }
}

void SessionWorker::prefill(RunId run, const RunRequest& request) {
  if (stale(run)) return;
  if (!session_) {
    emit failed(run, tr("No model is loaded. Open a model folder first."));
    return;
  }
  BusyScope busy(this);
  try {
    applyRunOptions(request);
    {
      std::lock_guard lock(mutex_);
      session_->setPolicy(request.policy, request.knobs);
    }
    if (cancel_ == run || stale(run)) {
      emit stopped(run, StopReason::Cancelled, {});
      return;
    }
    runLimit_ = request.max_new_tokens;
    const StepTelemetry& first =
        session_->prefill(request.prompt.toStdString(), toStdList(request.images));
    auto info = std::make_shared<const RunInfo>(session_->runInfo());
    emit prefilled(run, std::move(info), std::make_shared<const StepTelemetry>(first));
  } catch (const SessionCancelled&) {
    emit stopped(run, StopReason::Cancelled, {});
  } catch (const std::exception& e) {
    emit failed(run, QString::fromUtf8(e.what()));
  }
}

void SessionWorker::generate(RunId run, int max_tokens) {
  if (stale(run) || !session_) return;
  BusyScope busy(this);
  try {
    for (int produced = 0; max_tokens <= 0 || produced < max_tokens; ++produced) {
      // Checked between tokens; the Session checks its own cancel flag between layers.
      if (stale(run)) return;
      if (cancel_ == run) {
        emit stopped(run, StopReason::Cancelled, answerText());
        return;
      }
      RunId expected = run;
      if (pause_.compare_exchange_strong(expected, 0)) {
        emit stopped(run, StopReason::Paused, answerText());
        return;
      }
      std::optional<StepTelemetry> step;
      if (!runFinished()) step = session_->step();
      if (!step) {
        emit stopped(run, StopReason::Finished, answerText());
        return;
      }
      waitForWindow(run);
      if (stale(run)) return;  // a step paused or cancelled meanwhile is still the run's: sent
      ++unconsumed_;
      emit stepped(run, std::make_shared<const StepTelemetry>(std::move(*step)), answerText());
      // Watch mode: the pause comes after the token, so the next check sees a Pause or Cancel
      // pressed while the user watched.
      if (!runFinished() && (max_tokens <= 0 || produced + 1 < max_tokens)) waitTokenDelay(run);
    }
    RunId expected = run;
    pause_.compare_exchange_strong(expected, 0);  // a pause that came too late has nothing to stop
    emit stopped(run, runFinished() ? StopReason::Finished : StopReason::StepDone, answerText());
  } catch (const SessionCancelled&) {
    emit stopped(run, StopReason::Cancelled, answerText());
  } catch (const std::exception& e) {
    emit failed(run, QString::fromUtf8(e.what()));
  }
}

void SessionWorker::reset(RunId run) {
  (void)run;
  std::lock_guard lock(mutex_);
  if (session_) session_->reset();
}

void SessionWorker::fetchHistory(RunId run) {
  if (stale(run) || !session_) return;
  emit historyReady(run, std::make_shared<const std::vector<StepTelemetry>>(session_->history()));
}

void SessionWorker::shutdown() {
  std::unique_ptr<Session> old;
  {
    std::lock_guard lock(mutex_);
    old = std::move(session_);
  }
}

void SessionWorker::reportMemoryBound() {
  // The bandwidth is the machine's, not the model's: measured once per process (the comparison's
  // worker reuses it), on a worker thread so the window never waits for it. 256 MiB over 4
  // passes is larger than any cache and takes a fraction of a second.
  static std::once_flag measured;
  static double gbPerS = 0;
  std::call_once(measured, [this] { gbPerS = measureReadBandwidth(threads_, 256, 4); });
  std::int64_t weights = 0;
  {
    std::lock_guard lock(mutex_);
    if (session_) weights = session_->decodeWeightBytes();
  }
  emit memoryBoundKnown(gbPerS, static_cast<qint64>(weights));
}

bool SessionWorker::runFinished() const {
  if (session_->finished()) return true;
  // history() holds the prefill (step 0) and one entry per generated token.
  return runLimit_ > 0 && static_cast<int>(session_->history().size()) - 1 >= runLimit_;
}

void SessionWorker::waitForWindow(RunId run) {
  while (unconsumed_.load() >= kStepsInFlight) {
    if (stale(run) || cancel_ == run || pause_ == run) return;
    QThread::msleep(1);
  }
}

bool SessionWorker::waitTokenDelay(RunId run) {
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::milliseconds(tokenDelayMs_.load());
  while (Clock::now() < end) {
    if (stale(run) || cancel_ == run || pause_ == run) return false;
    QThread::msleep(static_cast<unsigned long>(std::clamp<long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count(), 1, 10)));
  }
  return true;
}

QString SessionWorker::answerText() const {
  return QString::fromStdString(session_->answer());
}

}  // namespace hae::studio
