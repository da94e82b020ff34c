#pragma once
// The trainer's progress line on stderr: step, loss, learning rate, samples/s and ETA. On a
// terminal it redraws one line; into a log file it prints a line every few steps.
#include <chrono>

namespace hae::demo {

class TrainProgress {
 public:
  TrainProgress(int total_steps, int start_step, bool enabled);
  // `answers`: supervised question/answer samples in this step.
  // loss: answer cross-entropy; probe, focus: the auxiliary losses (0 when off).
  void update(int step, double loss, double probe, double focus, double retrieval, double readout, double lr,
              int answers);
  void finish();

 private:
  int total_, start_;
  bool enabled_, tty_;
  double smooth_loss_ = -1;
  long answers_ = 0;
  std::chrono::steady_clock::time_point begin_;
};

}  // namespace hae::demo
