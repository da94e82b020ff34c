#include "train_progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace hae::demo {

namespace {

std::string clockText(double seconds) {
  const long s = std::max(0L, static_cast<long>(seconds));
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{:02}:{:02}", s / 60, s % 60);
}

}  // namespace

TrainProgress::TrainProgress(int total_steps, int start_step, bool enabled)
    : total_(total_steps),
      start_(start_step),
      enabled_(enabled),
      tty_(isatty(fileno(stderr)) != 0),
      begin_(std::chrono::steady_clock::now()) {}

void TrainProgress::update(int step, double loss, double probe, double focus,
                           double retrieval, double readout, double lr,
                           int answers) {
  answers_ += answers;
  // An exponential average: single steps of a small batch are noisy.
  smooth_loss_ = smooth_loss_ < 0 ? loss : 0.9 * smooth_loss_ + 0.1 * loss;
  if (!enabled_) return;
  if (!tty_ && step % 10 != 0 && step != total_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin_).count();
  const int done = step - start_;
  const double per_step = done > 0 ? elapsed / done : 0;
  constexpr int kWidth = 24;
  const int filled = total_ > 0 ? kWidth * step / total_ : kWidth;
  const std::string bar = std::string(static_cast<std::size_t>(filled), '#') +
                          std::string(static_cast<std::size_t>(kWidth - filled), '.');
  fmt::print(stderr,
             "{}[{}] step {}/{} loss {:.4f} (avg {:.4f}) probe {:.3f} focus {:.3f} retrieval {:.3f} readout {:.3f} lr {:.2e} "
             "{:.1f} samples/s {:.2f} s/step ETA {}{}",
             tty_ ? "\r" : "", bar, step, total_, loss, smooth_loss_, probe, focus, retrieval, readout, lr,
             elapsed > 0 ? answers_ / elapsed : 0.0, per_step,
             clockText(per_step * (total_ - step)), tty_ ? "" : "\n");
  std::fflush(stderr);
}

void TrainProgress::finish() {
  if (enabled_ && tty_) fmt::print(stderr, "\n");
}

}  // namespace hae::demo
