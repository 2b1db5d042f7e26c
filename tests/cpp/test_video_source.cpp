// Demuxer + VideoSource smoke tests on the generated clip: open, decode every frame, seek
// frame-exactly (with and without the decode thread), step back through the cache. Under
// ThreadSanitizer the prefetch cases check the decode thread's hand-off to the consumer.
//
// Hooks for issue 9: the cancel token (cancel_token.hpp) and timeline serials will want
// "stop while the decode thread is blocked" and "frames carry the serial of their seek" cases;
// ReferenceDecode() below gives them the expected frames to compare against.
#include <gtest/gtest.h>

#include <limits>

#include <thread>
#include <vector>

#include "test_support.hpp"
#include "vistream/demuxer.hpp"
#include "vistream/error.hpp"
#include "vistream/video_source.hpp"

namespace vistream {
namespace {

using testing::plane_checksum;
using testing::TestClip;

SourceOptions gray_options(bool prefetch, size_t cache_bytes = 0) {
  SourceOptions options;
  options.output_format = "gray";  // plane_checksum() reads one 8-bit plane
  options.prefetch = prefetch;
  options.cache_bytes = cache_bytes;
  return options;
}

// Checksums of every frame from a plain sequential decode, in display order.
const std::vector<uint64_t>& reference_checksums() {
  static const std::vector<uint64_t> sums = [] {
    VideoSource source(testing::test_clip_path(), gray_options(false));
    std::vector<uint64_t> result;
    while (FramePtr frame = source.next()) result.push_back(plane_checksum(frame->av_frame()));
    return result;
  }();
  return sums;
}

TEST(Demuxer, MissingFileIsSourceNotFound) {
  try {
    Demuxer demuxer("/nonexistent/vistream-missing.mp4");
    FAIL() << "opened a missing file";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::SourceNotFound) << error.what();
    EXPECT_NE(std::string(error.what()).find("vistream-missing.mp4"), std::string::npos);
  }
}

TEST(Demuxer, OpensTheClipAndReadsItsVideoPackets) {
  Demuxer demuxer(testing::test_clip_path());
  ASSERT_NE(demuxer.video_stream(), nullptr);
  EXPECT_EQ(demuxer.audio_stream(), nullptr);
  EXPECT_TRUE(demuxer.seekable());
  UniquePacket packet = make_packet();
  int packets = 0;
  while (demuxer.read(packet.get())) {
    EXPECT_EQ(packet->stream_index, demuxer.video_stream_index());
    ++packets;
    av_packet_unref(packet.get());
  }
  EXPECT_EQ(packets, TestClip::kFrames);
  EXPECT_EQ(demuxer.read_errors(), 0);
}

TEST(VideoSource, ReportsTheClip) {
  VideoSource source(testing::test_clip_path(), gray_options(true));
  const MediaInfo& info = source.info();
  EXPECT_EQ(info.width, TestClip::kWidth);
  EXPECT_EQ(info.height, TestClip::kHeight);
  EXPECT_EQ(info.frame_count, TestClip::kFrames);
  EXPECT_TRUE(info.frame_count_exact);
  EXPECT_EQ(info.frame_rate.num, TestClip::kFps);
  EXPECT_EQ(info.frame_rate.den, 1);
  EXPECT_EQ(info.codec, "h264");
  EXPECT_TRUE(info.seekable);
}

TEST(VideoSource, BadPixelFormatIsInvalidArgument) {
  SourceOptions options = gray_options(true);
  options.output_format = "no-such-format";
  try {
    VideoSource source(testing::test_clip_path(), options);
    FAIL() << "accepted an unknown pixel format";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
  }
}

class VideoSourceDecode : public ::testing::TestWithParam<bool> {};  // param: prefetch

TEST_P(VideoSourceDecode, DeliversEveryFrameOnceInDisplayOrder) {
  VideoSource source(testing::test_clip_path(), gray_options(GetParam()));
  const auto& reference = reference_checksums();
  ASSERT_EQ(reference.size(), static_cast<size_t>(TestClip::kFrames));
  int64_t expected = 0;
  while (FramePtr frame = source.next()) {
    ASSERT_EQ(frame->index(), expected);
    EXPECT_EQ(frame->width(), TestClip::kWidth);
    EXPECT_NEAR(frame->time(), expected / static_cast<double>(TestClip::kFps), 1e-6);
    EXPECT_EQ(plane_checksum(frame->av_frame()), reference[expected]) << "frame " << expected;
    ++expected;
  }
  EXPECT_EQ(expected, TestClip::kFrames);
  EXPECT_EQ(source.next(), nullptr) << "stays at the end";
  EXPECT_EQ(source.stats().frames_output, TestClip::kFrames);
}

TEST_P(VideoSourceDecode, SeekToIndexIsFrameExactInBothDirections) {
  VideoSource source(testing::test_clip_path(), gray_options(GetParam()));
  const auto& reference = reference_checksums();
  // Keyframes (0, 12, 24, 48), B-frames inside a GOP, the last frame, forward and backward.
  for (const int64_t target : {37, 5, 12, 49, 0, 23, 24, 22, 48, 1}) {
    source.seek_to_index(target);
    FramePtr frame = source.next();
    ASSERT_TRUE(frame) << "seek to " << target;
    EXPECT_EQ(frame->index(), target);
    EXPECT_EQ(plane_checksum(frame->av_frame()), reference[target]) << "seek to " << target;
    if (target + 1 < TestClip::kFrames) {
      FramePtr following = source.next();
      ASSERT_TRUE(following);
      EXPECT_EQ(following->index(), target + 1);
      EXPECT_EQ(plane_checksum(following->av_frame()), reference[target + 1]);
    }
  }
}

TEST_P(VideoSourceDecode, SeekToTimeTakesTheFrameOnScreen) {
  VideoSource source(testing::test_clip_path(), gray_options(GetParam()));
  source.seek_to_time(1.0);
  FramePtr frame = source.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->index(), 25);
  source.seek_to_time(1.035);  // frame 25 (1.00 s) is still on screen; 26 starts at 1.04 s
  frame = source.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->index(), 25);
  source.seek_to_time(1.04 - 1e-5);  // below the container's rounding: frame 26 has started
  frame = source.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->index(), 26);
  EXPECT_EQ(source.index_at_time(100.0), TestClip::kFrames - 1) << "clamped to the last frame";
  EXPECT_EQ(source.index_at_time(100.0, false), TestClip::kFrames) << "past the end, unclamped";
  source.seek_to_time(100.0);
  EXPECT_EQ(source.next(), nullptr) << "past the last frame's end";
  for (const double bad : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    try {
      source.seek_to_time(bad);
      FAIL() << "accepted time " << bad;
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
    }
  }
}

// A target ahead of the decoder within its GOP is reached by decoding on, not by seeking;
// a keyframe sought to is decoded alone (the frames of the GOP before it are not).
TEST_P(VideoSourceDecode, ForwardTargetsDecodeOnAndKeyframesCostOneFrame) {
  VideoSource source(testing::test_clip_path(), gray_options(GetParam()));
  const auto& reference = reference_checksums();
  source.seek_to_index(TestClip::kGop + 1);
  ASSERT_TRUE(source.next());
  const SourceStats before = source.stats();
  source.seek_to_index(TestClip::kGop + 7);
  FramePtr frame = source.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->index(), TestClip::kGop + 7);
  EXPECT_EQ(plane_checksum(frame->av_frame()), reference[TestClip::kGop + 7]);
  EXPECT_EQ(source.stats().seeks, before.seeks) << "decoded forward";
  EXPECT_EQ(source.stats().frames_converted, before.frames_converted + 1) << "frames skipped are not converted";

  source.seek_to_index(TestClip::kFrames - 1);
  ASSERT_TRUE(source.next());
  source.halt();  // no decode thread running ahead while counting
  const SourceStats at_end = source.stats();
  source.seek_to_index(3 * TestClip::kGop);
  frame = source.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->index(), 3 * TestClip::kGop);
  EXPECT_EQ(plane_checksum(frame->av_frame()), reference[3 * TestClip::kGop]);
  EXPECT_EQ(source.stats().seeks, at_end.seeks + 1);
  EXPECT_LE(source.stats().frames_decoded, at_end.frames_decoded + 2) << "one GOP too early";
}

TEST_P(VideoSourceDecode, SeekPastTheEndEndsAndANegativeIndexIsRejected) {
  VideoSource source(testing::test_clip_path(), gray_options(GetParam()));
  source.seek_to_index(TestClip::kFrames);
  EXPECT_EQ(source.next(), nullptr);
  source.seek_to_index(3);  // and it recovers
  FramePtr frame = source.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->index(), 3);
  try {
    source.seek_to_index(-1);
    FAIL() << "accepted index -1";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
  }
}

// Abandoning a source mid-stream (decode thread running, queue full) must join cleanly.
TEST_P(VideoSourceDecode, DestroyedMidStreamWithoutHanging) {
  testing::finishes_within(testing::kNoHangDeadline, "VideoSource destructor mid-stream", [&] {
    VideoSource source(testing::test_clip_path(), gray_options(GetParam()));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(source.next());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the decode thread fill its queue
  });
}

INSTANTIATE_TEST_SUITE_P(Prefetch, VideoSourceDecode, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "DecodeThread" : "Inline";
                         });

TEST(VideoSource, BackStepsAreServedFromTheCacheWithoutDecoding) {
  VideoSource source(testing::test_clip_path(), gray_options(true, 64 << 20));
  const auto& reference = reference_checksums();
  for (int i = 0; i <= 23; ++i) ASSERT_TRUE(source.next());
  // A forward run keeps a few frames only (the cache is sized by use): the first step back
  // re-decodes (its GOP, 12..18: keyframes every 12), and grows the cache so that the next
  // ones need not. 18 lies 6 frames behind 23, more than the 4 kept even with no read-ahead.
  EXPECT_LE(source.cache_stats().frames, DecodedFrameCache::kInitialFrames);
  source.seek_to_index(18);
  FramePtr first = source.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(plane_checksum(first->av_frame()), reference[18]);
  EXPECT_EQ(source.cache_stats().misses_behind, 1);
  EXPECT_EQ(source.cache_stats().grew, 1);
  // Seeking stops the decode thread, so the count is stable from here on.
  source.seek_to_index(17);
  const int64_t decoded_before = source.stats().frames_decoded;
  for (int64_t target = 17; target >= 12; --target) {
    if (target != 17) source.seek_to_index(target);
    FramePtr frame = source.next();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->index(), target);
    EXPECT_EQ(plane_checksum(frame->av_frame()), reference[target]);
  }
  EXPECT_EQ(source.stats().frames_decoded, decoded_before) << "a short back-step re-decoded";
  EXPECT_EQ(source.cache_stats().misses_behind, 1);
  // Reading on after a cached frame continues in order.
  FramePtr next = source.next();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->index(), 13);
  EXPECT_EQ(plane_checksum(next->av_frame()), reference[13]);
}

}  // namespace
}  // namespace vistream
