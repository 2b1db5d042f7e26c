// Player (offline, headless) driven from other threads while run() works: the engine's
// source thread, the run() thread with the frame hook, and control calls from a third thread.
// Under ThreadSanitizer this is the check that control, seeking and stopping are race-free.
//
// Hooks for issue 9: cancel-token cases ("stop() while the source blocks in a read returns
// promptly") and serial cases ("no frame of the old serial reaches the hook after a seek,
// however the threads interleave") belong here, built like SeekFromAnotherThreadIsFrameExact.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "vistream/player.hpp"

namespace vistream {
namespace {

using testing::finishes_within;
using testing::kNoHangDeadline;
using testing::TestClip;

PlayerOptions headless_offline() {
  PlayerOptions options;
  options.source.output_format = "gray";
  options.mode = PlayerMode::Offline;
  options.display = false;
  options.play_audio = false;
  return options;
}

// A one-shot signal between two threads.
class Latch {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(Player, OfflineHandsEveryFrameToTheHookInOrder) {
  Player player(testing::test_clip_path(), headless_offline());
  std::vector<int64_t> seen;
  player.set_frame_hook([&](const FramePtr& frame) {
    seen.push_back(frame->index());
    return true;
  });
  finishes_within(kNoHangDeadline, "Player::run", [&] { player.run(); });
  ASSERT_EQ(seen.size(), static_cast<size_t>(TestClip::kFrames));
  for (int64_t i = 0; i < TestClip::kFrames; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_EQ(player.stats().frames_processed.load(), TestClip::kFrames);
  EXPECT_EQ(player.position().index, TestClip::kFrames - 1);
}

// The user seeks from another thread while the hook runs; the source thread has already
// queued frames after the current one. The next frame the hook gets is exactly the target.
TEST(Player, SeekFromAnotherThreadIsFrameExact) {
  Player player(testing::test_clip_path(), headless_offline());
  Latch at_frame_5;
  Latch seek_requested;
  std::vector<int64_t> seen;
  player.set_frame_hook([&](const FramePtr& frame) {
    seen.push_back(frame->index());
    if (frame->index() == 5 && seen.size() == 6) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the queue fill
      at_frame_5.open();
      seek_requested.wait();
    }
    return true;
  });
  std::thread controller([&] {
    at_frame_5.wait();
    player.seek_to_index(40);
    seek_requested.open();
  });
  finishes_within(kNoHangDeadline, "Player::run with a seek", [&] { player.run(); });
  controller.join();
  std::vector<int64_t> expected;
  for (int64_t i = 0; i <= 5; ++i) expected.push_back(i);
  for (int64_t i = 40; i < TestClip::kFrames; ++i) expected.push_back(i);
  EXPECT_EQ(seen, expected);
}

TEST(Player, StopFromAnotherThreadEndsAPausedRun) {
  PlayerOptions options = headless_offline();
  options.start_paused = true;  // shows the first frame, then holds
  Player player(testing::test_clip_path(), options);
  Latch first_frame;
  std::atomic<int> frames{0};
  player.set_frame_hook([&](const FramePtr&) {
    if (++frames == 1) first_frame.open();
    return true;
  });
  std::thread controller([&] {
    first_frame.wait();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(player.paused());
    player.stop();
  });
  finishes_within(kNoHangDeadline, "paused Player::run after stop()", [&] { player.run(); });
  controller.join();
  EXPECT_EQ(frames.load(), 1) << "a paused player let frames through";
}

TEST(Player, HookExceptionStopsTheRunAndPropagates) {
  Player player(testing::test_clip_path(), headless_offline());
  int calls = 0;
  player.set_frame_hook([&](const FramePtr& frame) -> bool {
    ++calls;
    if (frame->index() == 3) throw std::runtime_error("hook failed on purpose");
    return true;
  });
  finishes_within(kNoHangDeadline, "Player::run with a failing hook", [&] {
    EXPECT_THROW(player.run(), std::runtime_error);
  });
  EXPECT_EQ(calls, 4);
}

// Real time (paced by the media clock, frames dropped when the hook is late), four times
// faster than the clip so it takes half a second. No timing is asserted, so it holds on a slow
// sanitized build: frames arrive in order, the last one is the end, pause/resume from another
// thread do not wedge the pacing.
TEST(Player, RealtimeRunAtHighSpeedReachesTheEndInOrder) {
  PlayerOptions options = headless_offline();
  options.mode = PlayerMode::Realtime;
  options.speed = 4.0;
  Player player(testing::test_clip_path(), options);
  std::vector<int64_t> seen;
  Latch first_frame;
  player.set_frame_hook([&](const FramePtr& frame) {
    seen.push_back(frame->index());
    if (seen.size() == 1) first_frame.open();
    return true;
  });
  std::thread control([&] {
    first_frame.wait();
    player.pause();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    player.resume();
  });
  finishes_within(kNoHangDeadline * 3, "real-time Player::run", [&] { player.run(); });
  control.join();
  ASSERT_FALSE(seen.empty());
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i - 1], seen[i]);
  EXPECT_EQ(seen.back(), TestClip::kFrames - 1);
  EXPECT_EQ(player.stats().frames_processed.load() + player.stats().frames_dropped.load(),
            TestClip::kFrames);
}

// Every control and query call from two other threads while run() works, as a UI thread and
// a status display would. The checks are TSan's; the assertions only confirm the calls ran.
TEST(Player, ControlAndQueriesFromOtherThreadsWhileRunning) {
  Player player(testing::test_clip_path(), headless_offline());
  std::atomic<bool> done{false};
  std::atomic<int64_t> hook_calls{0};
  player.set_frame_hook([&](const FramePtr& frame) {
    ++hook_calls;
    EXPECT_EQ(player.info().width, TestClip::kWidth);  // the hook asks for the info too
    return frame != nullptr;
  });
  std::thread status([&] {
    while (!done.load()) {
      EXPECT_EQ(player.info().height, TestClip::kHeight);
      (void)player.position();
      (void)player.paused();
      (void)player.stats().frames_processed.load();
      std::this_thread::yield();
    }
  });
  std::thread control([&] {
    for (int i = 0; i < 20 && !done.load(); ++i) {
      player.pause();
      player.set_speed(i % 2 ? 2.0 : 1.0);
      player.seek_to_index((i * 7) % TestClip::kFrames);
      player.resume();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    player.seek_to_index(TestClip::kFrames - 3);  // a known end: the run finishes after it
  });
  finishes_within(kNoHangDeadline * 3, "Player::run under control", [&] {
    player.run();
    control.join();
  });
  done = true;
  status.join();
  EXPECT_GT(hook_calls.load(), 0);
}

}  // namespace
}  // namespace vistream
