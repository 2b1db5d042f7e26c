// PlayerTransport: the Player's control state on its own (no source, no threads of the
// engine): what the source and run() threads are told to do after each control call, from
// other threads, and that every wait of the transport ends when stopping.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "test_support.hpp"
#include "vistream/error.hpp"
#include "vistream/player_transport.hpp"

namespace vistream {
namespace {

using testing::finishes_within;
using testing::kNoHangDeadline;
using namespace std::chrono_literals;

constexpr int64_t kFrames = 50;

PlayerTransport::Media seekable_media() {
  PlayerTransport::Media media;
  media.url = "clip.mp4";
  media.frame_count = kFrames;
  media.seekable = true;
  return media;
}

FramePtr frame_at(int64_t index, int64_t serial) {
  auto frame = std::make_shared<Frame>(testing::make_gray_frame(16, 16, 0), index, index / 25.0);
  frame->set_serial(serial);
  return frame;
}

struct PlayerTransportTest : ::testing::Test {
  CancelToken cancel;
  BlockingQueue<FramePtr> decoded{6};
  PlayerTransport make(bool start_paused = false, PlayerTransport::Media media = seekable_media()) {
    return PlayerTransport(std::move(media), cancel, decoded, nullptr, 1.0, start_paused);
  }
};

TEST_F(PlayerTransportTest, SeekStartsANewGenerationAndDropsQueuedFramesOfTheOldOne) {
  PlayerTransport transport = make();
  ASSERT_TRUE(decoded.push(frame_at(0, 0), uint64_t{0}));
  ASSERT_TRUE(decoded.push(frame_at(1, 0), uint64_t{0}));
  transport.seek_to_index(30);
  PlayerTransport::SeekOrder seek;
  ASSERT_EQ(transport.next_source_step(false, true, &seek), PlayerTransport::SourceStep::Seek);
  EXPECT_EQ(seek.index, 30);
  EXPECT_EQ(seek.serial, 1u);
  EXPECT_FALSE(seek.is_loop);
  // The frames queued before the seek are gone without draining.
  ASSERT_TRUE(decoded.push(frame_at(30, 1), uint64_t{1}));
  auto next = decoded.pop();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ((*next)->index(), 30);
  // Taken once: the source thread decodes on.
  EXPECT_EQ(transport.next_source_step(false, true, &seek), PlayerTransport::SourceStep::Decode);
}

TEST_F(PlayerTransportTest, SeekPastTheEndClampsAndLiveSourcesRefuseToSeek) {
  PlayerTransport transport = make();
  transport.seek_to_index(kFrames + 100);
  PlayerTransport::SeekOrder seek;
  ASSERT_EQ(transport.next_source_step(false, true, &seek), PlayerTransport::SourceStep::Seek);
  EXPECT_EQ(seek.index, kFrames - 1);

  PlayerTransport::Media live;
  live.url = "rtsp://camera";
  PlayerTransport live_transport = make(false, live);
  EXPECT_THROW(live_transport.seek_to_index(3), Error);
}

TEST_F(PlayerTransportTest, StepForwardWhilePausedLetsExactlyOneFrameThrough) {
  PlayerTransport transport = make(/*start_paused=*/true);
  // Paused from the start, the first frame is still shown.
  ASSERT_TRUE(transport.wait_until_frame_wanted());
  transport.frame_taken(*frame_at(0, 0), true);
  std::atomic<bool> wanted{false};
  std::thread run_thread([&] { wanted = transport.wait_until_frame_wanted(); });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(wanted.load()) << "paused without a permit: the run() thread must wait";
  transport.step(1);
  finishes_within(kNoHangDeadline, "wait_until_frame_wanted after step(1)", [&] { run_thread.join(); });
  EXPECT_TRUE(wanted.load());
  transport.frame_taken(*frame_at(1, 0), true);
  EXPECT_EQ(transport.position_index(), 1);
  // The permit is used up: stop() is what ends the next wait.
  std::thread waiting([&] { wanted = transport.wait_until_frame_wanted(); });
  std::this_thread::sleep_for(20ms);
  transport.request_stop();
  finishes_within(kNoHangDeadline, "wait_until_frame_wanted after stop", [&] { waiting.join(); });
  EXPECT_FALSE(wanted.load());
}

TEST_F(PlayerTransportTest, StepBackIsASeekFromThePosition) {
  PlayerTransport transport = make();
  transport.frame_taken(*frame_at(20, 0), false);
  transport.step(-3);
  EXPECT_TRUE(transport.paused());
  PlayerTransport::SeekOrder seek;
  ASSERT_EQ(transport.next_source_step(false, true, &seek), PlayerTransport::SourceStep::Seek);
  EXPECT_EQ(seek.index, 17);
  EXPECT_EQ(seek.serial, 1u);
}

TEST_F(PlayerTransportTest, LoopRestartYieldsToAPendingUserSeek) {
  PlayerTransport transport = make();
  transport.seek_to_index(10);
  transport.request_loop_restart(0);
  PlayerTransport::SeekOrder seek;
  ASSERT_EQ(transport.next_source_step(true, true, &seek), PlayerTransport::SourceStep::Seek);
  EXPECT_EQ(seek.index, 10);
  EXPECT_FALSE(seek.is_loop);
  transport.request_loop_restart(0);
  ASSERT_EQ(transport.next_source_step(true, true, &seek), PlayerTransport::SourceStep::Seek);
  EXPECT_EQ(seek.index, 0);
  EXPECT_EQ(seek.serial, 2u);
  EXPECT_TRUE(seek.is_loop);
}

TEST_F(PlayerTransportTest, TheEndWhilePausedWaitsAndStopEndsTheWait) {
  PlayerTransport transport = make();
  transport.pause();
  PlayerTransport::SourceStep step = PlayerTransport::SourceStep::Decode;
  PlayerTransport::SeekOrder seek;
  std::thread source_thread([&] { step = transport.next_source_step(/*ended=*/true, true, &seek); });
  std::this_thread::sleep_for(50ms);
  transport.request_stop();
  finishes_within(kNoHangDeadline, "next_source_step at the end after stop", [&] { source_thread.join(); });
  EXPECT_EQ(step, PlayerTransport::SourceStep::Stop);
  EXPECT_TRUE(cancel.cancelled());
}

TEST_F(PlayerTransportTest, ReleaseWaitsForTheClockAndASeekMakesTheFrameStale) {
  PlayerTransport transport = make();
  // The first frame of a generation sets the clock.
  EXPECT_EQ(transport.wait_for_release(frame_at(0, 0), 0.0), PlayerTransport::Release::NewTimeline);
  // A frame 10 s ahead waits; a seek from another thread makes it stale at once.
  PlayerTransport::Release release = PlayerTransport::Release::OnTime;
  std::thread source_thread([&] { release = transport.wait_for_release(frame_at(250, 0), 0.0); });
  std::this_thread::sleep_for(50ms);
  transport.seek_to_index(5);
  finishes_within(kNoHangDeadline, "wait_for_release after a seek", [&] { source_thread.join(); });
  EXPECT_EQ(release, PlayerTransport::Release::Stale);
}

}  // namespace
}  // namespace vistream
