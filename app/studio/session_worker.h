#pragma once
// The only object that touches the engine. It lives on one long-lived QThread (LibTorch's grad
// and inference guards are thread-local, and a stepping run is a state machine that must stay
// put), receives commands as queued calls, and sends back immutable snapshots by queued signals.
#include <QObject>
#include <atomic>
#include <memory>
#include <mutex>

#include "hae/session.h"
#include "studio_types.h"

namespace hae::studio {

// Recording attention costs a layers x heads x visual-tokens copy per step: by default only
// for models whose weight files stay under this size (the demo model, the fixtures, SmolVLM).
constexpr qint64 kAttentionAutoBytes = 1LL << 30;
enum AttentionMode { kAttentionAuto = -1, kAttentionOff = 0, kAttentionOn = 1 };
// The weight files' bytes in a model folder (*.safetensors, *.bin, *.pt); 0 when none.
qint64 modelWeightFileBytes(const QString& dir);

class SessionWorker : public QObject {
  Q_OBJECT
 public:
  explicit SessionWorker(int threads, QObject* parent = nullptr);
  ~SessionWorker() override;

  // Thread-safe; called directly from the GUI thread while the worker is busy. They only set
  // flags, which the running command reads between tokens (and the Session between layers).
  void requestPause(RunId run);
  void requestCancel(RunId run);
  // Commands of older runs still queued are skipped, and a run in progress stops at the next
  // layer or token boundary.
  void supersede(RunId latest);
  // Watch mode: the worker waits this long after each token (0 to 1000 ms), in short slices so
  // Pause and Cancel still answer at once. Takes effect at the next token.
  void setTokenDelay(int ms);
  // The window took a step from the queue. The worker keeps at most kStepsInFlight steps queued
  // for the window: a model faster than the window's handling of a step would otherwise pile up
  // steps that the event loop then works through in one go, frozen meanwhile.
  static constexpr int kStepsInFlight = 2;
  void stepConsumed() { --unconsumed_; }

  // Commands: call through a queued invocation so they run on the worker's thread.
  void initThread();  // first call on the thread: LibTorch's thread count is per thread
  // Empty dir: the embedded demo model. attention: record each step's attention on the visual
  // tokens (SessionOptions::record_attention) on, off, or by the model's size (kAttentionAuto).
  void loadModel(const QString& dir, int max_new_tokens, int attention = kAttentionAuto);
  // Starts a run; request.max_new_tokens (at most the load's max_new_tokens) ends its answer.
  void prefill(RunId run, const RunRequest& request);
  // Produces up to max_tokens tokens (<= 0: to the end), one at a time, checking pause and
  // cancel between them.
  void generate(RunId run, int max_tokens);
  void reset(RunId run);
  void fetchHistory(RunId run);
  void shutdown();  // frees the model on this thread, before the thread ends

 signals:
  void modelLoaded(const QString& dir);
  // Just before modelLoaded: whether the new session records attention.
  void attentionRecording(bool on);
  // After each load: the machine's read bandwidth (GB/s, measured on this thread at the first
  // load, then reused) and the bytes of weights one decode step reads (0 when unknown).
  void memoryBoundKnown(double gbPerS, qint64 decodeWeightBytes);
  void modelFailed(const QString& dir, const QString& message);
  void prefilled(hae::studio::RunId run, hae::studio::RunInfoPtr info, hae::studio::StepPtr step);
  void stepped(hae::studio::RunId run, hae::studio::StepPtr step, const QString& answer);
  void stopped(hae::studio::RunId run, hae::studio::StopReason reason, const QString& answer);
  void failed(hae::studio::RunId run, const QString& message);
  void historyReady(hae::studio::RunId run, hae::studio::StepList steps);
  void busyChanged(bool busy);

 private:
  bool stale(RunId run) const { return run != latest_.load(); }
  QString answerText() const;
  bool runFinished() const;  // the answer ended (EOS, or the run's own token limit)
  // Sleeps the token delay; false when the run was paused, cancelled or replaced meanwhile.
  bool waitTokenDelay(RunId run);
  // Waits until the window has taken all but kStepsInFlight - 1 steps, or the run was paused,
  // cancelled or replaced.
  void waitForWindow(RunId run);
  void reportMemoryBound();  // after a load, on the worker thread
  // Gives the session the request's shadow mode and what-if overrides before its prefill
  // (session_worker_options.cpp): through Session setters where the core has them, otherwise by
  // rebuilding the Session from the load's options (the model is loaded again).
  void applyRunOptions(const RunRequest& request);

  int threads_;
  // Guards the pointer and the engine swaps (setPolicy, reset) against Session::cancel() from the
  // GUI thread. Never held while a model computes.
  mutable std::mutex mutex_;
  std::unique_ptr<Session> session_;
  std::atomic<RunId> latest_{0};
  std::atomic<RunId> pause_{0};
  std::atomic<RunId> cancel_{0};
  std::atomic<int> tokenDelayMs_{0};
  std::atomic<int> unconsumed_{0};  // steps emitted that the window has not taken yet
  int runLimit_ = 0;                // the current run's max_new_tokens (worker thread only)
  SessionOptions built_;            // what the current Session was built with (worker thread only)
};

}  // namespace hae::studio
