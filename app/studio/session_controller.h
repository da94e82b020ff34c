#pragma once
// The window's handle on one worker thread: owns the QThread and the SessionWorker, turns button
// presses into queued commands tagged with the current run id, and passes on only the results of
// the current run (a replaced run's late results are dropped here).
#include <QObject>
#include <QString>

#include "studio_types.h"

class QThread;

namespace hae::studio {

class SessionWorker;

class SessionController : public QObject {
  Q_OBJECT
 public:
  static constexpr int kMaxNewTokens = 64;  // a run's default answer length
  // The most tokens a run may ask for (the Session's own limit; each run sets its own below it).
  static constexpr int kMaxNewTokensLimit = 1024;

  explicit SessionController(int threads, QObject* parent = nullptr);
  // Cancels what runs, then frees the model on the worker thread and joins it.
  ~SessionController() override;

  // Empty: the embedded demo model. The current run stays (a generating one is paused) until the
  // new model is in: a folder that fails to load leaves the old model and its run as they were.
  void loadModel(const QString& dir);
  // Starts a new run (older results are dropped from now on) and prefills it.
  void prefill(const RunRequest& request);
  void step();                        // one token of the current run
  void generate(int max_tokens = 0);  // up to max_tokens (0: to the end)
  void pause();
  void cancel();
  void reset();  // drops the current run; the model stays
  void fetchHistory();
  void setTokenDelay(int ms);  // watch mode, 0 to 1000 ms after each token; applies at once
  // Attention recording for the next loads (an AttentionMode: auto by model size, on, off).
  void setAttentionMode(int mode) { attentionMode_ = mode; }
  int attentionMode() const { return attentionMode_; }
  bool recordsAttention() const { return recordsAttention_; }  // the loaded session does

  RunId currentRun() const { return run_; }
  bool modelReady() const { return modelReady_; }
  QString modelDir() const { return modelDir_; }
  bool busy() const { return busy_; }
  bool hasRun() const { return hasRun_; }      // prefilled and not reset
  bool running() const { return running_; }    // generating tokens now
  bool finished() const { return finished_; }  // the current run has its whole answer
  bool loading() const { return loading_; }
  double readBandwidthGBs() const { return gbPerS_; }  // 0 until measured
  qint64 decodeWeightBytes() const { return weightBytes_; }

 signals:
  void modelLoaded(const QString& dir);
  // The loaded model's memory bound inputs (SessionWorker::memoryBoundKnown), after modelLoaded.
  void memoryBoundKnown(double gbPerS, qint64 decodeWeightBytes);
  void modelFailed(const QString& dir, const QString& message);
  void runStarted(hae::studio::RunInfoPtr info, hae::studio::StepPtr prefill);
  void stepArrived(hae::studio::StepPtr step, const QString& answer);
  void runStopped(hae::studio::StopReason reason, const QString& answer);
  void runFailed(const QString& message);
  void historyReady(hae::studio::StepList steps);
  void stateChanged();

 private:
  template <typename F>
  void post(F&& f);
  void setRunning(bool running);

  QThread* thread_ = nullptr;
  SessionWorker* worker_ = nullptr;
  RunId run_ = 0;
  QString modelDir_;
  bool modelReady_ = false;
  bool everLoaded_ = false;
  RunId loadRun_ = 0;  // the run that was current when the pending load was asked for
  bool loading_ = false;
  bool busy_ = false;
  bool hasRun_ = false;
  bool running_ = false;
  bool finished_ = false;
  double gbPerS_ = 0;
  qint64 weightBytes_ = 0;
  int attentionMode_ = -1;  // kAttentionAuto
  bool recordsAttention_ = false;
};

}  // namespace hae::studio
