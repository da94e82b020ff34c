// Decode threads follow the cores other processes leave free (engine/core_share.h).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "engine/core_share.h"

namespace hae {
namespace {

TEST(CoreShare, OthersAreTheMachinesBusyTicksLessOurs) {
  EXPECT_DOUBLE_EQ(othersCores(300, 400, 100, 2), 1.0);
  EXPECT_DOUBLE_EQ(othersCores(100, 400, 100, 2), 0.0);
  EXPECT_DOUBLE_EQ(othersCores(100, 400, 150, 2), 0.0);  // our ticks are counted a bit apart
  EXPECT_DOUBLE_EQ(othersCores(100, 0, 0, 2), 0.0);
}

// A real busy process on one core: after one look the engine decodes with one thread fewer.
TEST(CoreShare, ABusyProcessTakesAThreadAway) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (cores < 2) GTEST_SKIP() << "one core";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0)
    for (volatile unsigned spin = 0;; ++spin) {
    }
  CoreShare share;
  EXPECT_EQ(share.threadsNow(cores), cores);  // the first look only takes a baseline
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const int threads = share.threadsNow(cores);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_GE(threads, 1);
  EXPECT_LE(threads, cores - 1);
  EXPECT_EQ(share.threadsNow(1), 1);  // never above what was asked
}

}  // namespace
}  // namespace hae
