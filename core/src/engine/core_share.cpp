#include "core_share.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace hae {

double othersCores(std::uint64_t busy_delta, std::uint64_t total_delta, std::uint64_t ours_delta,
                   int cores) {
  if (total_delta == 0) return 0;
  const double others = busy_delta > ours_delta ? double(busy_delta - ours_delta) : 0.0;
  return others / double(total_delta) * cores;
}

CoreShare::Sample CoreShare::read() {
  Sample s;
  std::ifstream stat("/proc/stat");
  std::string cpu;
  std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                steal = 0;
  if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) ||
      cpu != "cpu")
    return s;
  s.machine_busy = user + nice + system + irq + softirq + steal;  // steal: the hypervisor's share
  s.machine_total = s.machine_busy + idle + iowait;
  std::ifstream self("/proc/self/stat");
  std::string line;
  std::getline(self, line);
  const auto close = line.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return s;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // fields 14 and 15: utime, stime
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  s.ours = utime + stime;
  s.valid = true;
  return s;
}

int CoreShare::threadsNow(int requested) {
  requested = std::max(1, requested);
  if (threads_ == 0) threads_ = requested;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_time_ < kInterval) return std::min(threads_, requested);
  const Sample s = read();
  if (s.valid && last_.valid && s.machine_total > last_.machine_total) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const double others =
        othersCores(s.machine_busy - last_.machine_busy, s.machine_total - last_.machine_total,
                    s.ours - last_.ours, cores);
    threads_ = std::clamp(static_cast<int>(std::lround(cores - others)), 1, requested);
  }
  last_ = s;
  last_time_ = now;
  return std::min(threads_, requested);
}

}  // namespace hae
