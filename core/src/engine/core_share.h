#pragma once
// How many threads decoding should use now. On a 2-core machine where another process keeps one
// core busy, two decode threads wait on each other at every product (one of them is off its
// core for a scheduler slice at a time): SmolVLM-256M decoded at 3.3x its idle time per token
// with two threads, 2.0x with one. Torch-free header.
#include <chrono>
#include <cstdint>

namespace hae {

class CoreShare {
 public:
  // At most `requested`, fewer while other processes (or the hypervisor's steal) took more than
  // half a core over the last look; looks again after `interval`.
  int threadsNow(int requested);

 private:
  struct Sample {
    std::uint64_t machine_busy = 0, machine_total = 0, ours = 0;
    bool valid = false;
  };
  static Sample read();
  static constexpr std::chrono::milliseconds kInterval{250};
  Sample last_;
  std::chrono::steady_clock::time_point last_time_{};
  int threads_ = 0;
};

// Cores the other processes used between two readings of /proc/stat and /proc/self/stat, given
// the machine's busy and total ticks and this process's ticks: (busy - ours) / total * cores.
double othersCores(std::uint64_t busy_delta, std::uint64_t total_delta, std::uint64_t ours_delta,
                   int cores);

}  // namespace hae
