// MediaClock: media time from the wall clock, with pause and speed. The checks bracket every
// clock reading between two steady_clock samples, so the expected ranges are exact bounds and
// hold however slowly a loaded (or sanitized) machine runs; nothing here depends on sleeping
// "long enough".
//
// Hook for timeline serials (issue 9): when clock samples carry a serial, add the "a sample of
// an old serial is ignored" cases here.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "vistream/media_clock.hpp"

namespace vistream {
namespace {

using Clock = MediaClock::Clock;
using namespace std::chrono_literals;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
constexpr double kEpsilon = 1e-9;  // floating-point slack only

TEST(MediaClock, RunsAtRealTimeFromTheSetPoint) {
  MediaClock clock;
  const auto before_set = Clock::now();
  clock.set(10.0, 0);
  const auto after_set = Clock::now();
  std::this_thread::sleep_for(20ms);
  const auto before_read = Clock::now();
  const double media = clock.now();
  const auto after_read = Clock::now();
  EXPECT_GE(media, 10.0 + seconds(before_read - after_set) - kEpsilon);
  EXPECT_LE(media, 10.0 + seconds(after_read - before_set) + kEpsilon);
}

TEST(MediaClock, PauseFreezesAndResumeContinuesWithoutAJump) {
  MediaClock clock;
  clock.set(5.0, 0);
  std::this_thread::sleep_for(10ms);
  clock.set_paused(true);
  EXPECT_TRUE(clock.paused());
  const double frozen = clock.now();
  EXPECT_GT(frozen, 5.0);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(clock.now(), frozen) << "a paused clock must not move";
  EXPECT_EQ(clock.until(frozen + 1.0), Clock::duration::max()) << "paused: never reached";
  clock.set_paused(true);  // pausing twice changes nothing
  EXPECT_EQ(clock.now(), frozen);

  const auto before_resume = Clock::now();
  clock.set_paused(false);
  std::this_thread::sleep_for(10ms);
  const double resumed = clock.now();
  const auto after_read = Clock::now();
  EXPECT_FALSE(clock.paused());
  EXPECT_GT(resumed, frozen);
  // Continues from where it stopped: the 30 ms spent paused are not added.
  EXPECT_LE(resumed, frozen + seconds(after_read - before_resume) + kEpsilon);
}

TEST(MediaClock, SpeedScalesTheRateAndChangingItDoesNotJump) {
  MediaClock clock;
  clock.set(0.0, 0);
  // Let time accumulate at speed 1: a speed change that forgot to rebase would rescale all of it.
  std::this_thread::sleep_for(100ms);
  const auto before_change = Clock::now();
  const double at_change = clock.now();
  clock.set_speed(4.0);
  const double just_after = clock.now();
  const auto after_change = Clock::now();
  EXPECT_EQ(clock.speed(), 4.0);
  EXPECT_GE(just_after, at_change);
  EXPECT_LE(just_after - at_change, 4.0 * seconds(after_change - before_change) + kEpsilon);

  const auto w0 = Clock::now();
  const double m0 = clock.now();
  const auto w1 = Clock::now();
  std::this_thread::sleep_for(30ms);
  const auto w2 = Clock::now();
  const double m1 = clock.now();
  const auto w3 = Clock::now();
  EXPECT_GE(m1 - m0, 4.0 * seconds(w2 - w1) - kEpsilon);
  EXPECT_LE(m1 - m0, 4.0 * seconds(w3 - w0) + kEpsilon);
}

TEST(MediaClock, UntilAccountsForSpeed) {
  MediaClock clock;
  clock.set_speed(2.0);
  const auto before_set = Clock::now();
  clock.set(10.0, 0);
  EXPECT_EQ(clock.until(9.0), Clock::duration::zero()) << "already passed";
  const double wait = seconds(clock.until(11.0));
  const auto after = Clock::now();
  // 1 media second at speed 2 is 0.5 s of wall time, minus what already elapsed.
  EXPECT_LE(wait, 0.5 + kEpsilon);
  EXPECT_GE(wait, 0.5 - seconds(after - before_set) - 1e-6);
}

TEST(MediaClock, SyncFollowsTheMasterOnlyBeyondTolerance) {
  MediaClock clock;
  clock.set_paused(true);  // frozen, so the differences are exact
  clock.set(5.0, 0);
  EXPECT_NEAR(clock.sync(5.05, 0.1), -0.05, 1e-12);
  EXPECT_EQ(clock.now(), 5.0) << "within tolerance: no jump";
  EXPECT_NEAR(clock.sync(8.0, 0.1), -3.0, 1e-12);
  EXPECT_EQ(clock.now(), 8.0) << "beyond tolerance: jumps to the master";
}

// Readers on several threads while another thread keeps pausing, resuming and changing the
// speed (always > 0, never set()): every reader must see media time that never goes back.
TEST(MediaClock, MonotonicForConcurrentReadersWhileControlled) {
  MediaClock clock;
  clock.set(1.0, 0);
  std::atomic<bool> stop{false};
  std::atomic<int> regressions{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      double last = clock.now();
      while (!stop.load()) {
        const double now = clock.now();
        if (now < last) ++regressions;
        last = now;
        ++reads;
        (void)clock.until(now + 0.5);
      }
    });
  }
  const double speeds[] = {1.0, 0.25, 3.0, 0.5, 8.0};
  testing::finishes_within(testing::kNoHangDeadline, "clock control loop", [&] {
    for (int i = 0; i < 2000; ++i) {
      clock.set_speed(speeds[i % 5]);
      clock.set_paused(i % 3 == 0);
      if (i % 100 == 0) std::this_thread::sleep_for(1ms);
    }
    stop = true;
    for (auto& t : readers) t.join();
  });
  EXPECT_EQ(regressions.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

// The clock follows the timeline generation of its last set(): consumers compare a frame's
// serial with it to know whether the clock already runs on that frame's timeline.
TEST(MediaClock, FollowsTheGenerationOfItsLastSet) {
  MediaClock clock;
  EXPECT_EQ(clock.serial(), -1);
  clock.set(2.0, 0);
  EXPECT_EQ(clock.serial(), 0);
  clock.set(7.5, 3);  // a seek: generation 3
  EXPECT_EQ(clock.serial(), 3);
  EXPECT_GE(clock.now(), 7.5);
}

}  // namespace
}  // namespace vistream
