// FrameIndex on a real H.264 clip with B-frames: packets arrive in decode order, the index must
// be in display order, and the keyframe lookup must name the GOP start of any frame.
#include <gtest/gtest.h>

#include "test_support.hpp"
#include "vistream/demuxer.hpp"
#include "vistream/frame_index.hpp"

namespace vistream {
namespace {

using testing::TestClip;

FrameIndex scan_test_clip() {
  Demuxer demuxer(testing::test_clip_path());
  FrameIndex index = FrameIndex::scan(demuxer);
  UniquePacket packet = make_packet();
  EXPECT_FALSE(demuxer.read(packet.get())) << "scan() leaves the demuxer at the end";
  return index;
}

TEST(FrameIndex, ListsEveryFrameInDisplayOrder) {
  const FrameIndex index = scan_test_clip();
  ASSERT_EQ(index.size(), TestClip::kFrames);
  for (int64_t k = 1; k < index.size(); ++k)
    ASSERT_LT(index.pts_at(k - 1), index.pts_at(k)) << "frame " << k;
  for (int64_t k = 0; k < index.size(); ++k) EXPECT_EQ(index.index_of(index.pts_at(k)), k);
  EXPECT_EQ(index.index_of(index.pts_at(3) + 1), -1) << "a pts between frames is no frame";
}

TEST(FrameIndex, FirstAtOrAfterRoundsUpToTheNextFrame) {
  const FrameIndex index = scan_test_clip();
  EXPECT_EQ(index.first_at_or_after(index.pts_at(0) - 1000), 0);
  EXPECT_EQ(index.first_at_or_after(index.pts_at(7)), 7);
  EXPECT_EQ(index.first_at_or_after(index.pts_at(7) + 1), 8);
  EXPECT_EQ(index.first_at_or_after(index.pts_at(index.size() - 1) + 1), index.size());
}

TEST(FrameIndex, KeyframeBeforeNamesTheGopStartOfEveryFrame) {
  const FrameIndex index = scan_test_clip();
  const auto& keyframes = index.keyframes();
  ASSERT_EQ(keyframes.size(), static_cast<size_t>((TestClip::kFrames + TestClip::kGop - 1) / TestClip::kGop));
  for (size_t g = 0; g < keyframes.size(); ++g) {
    EXPECT_EQ(keyframes[g].pts, index.pts_at(static_cast<int64_t>(g) * TestClip::kGop));
    EXPECT_LE(keyframes[g].dts, keyframes[g].pts);
  }
  for (int64_t k = 0; k < index.size(); ++k) {
    const size_t pos = index.keyframe_before(index.pts_at(k));
    EXPECT_EQ(keyframes[pos].pts, index.pts_at(k / TestClip::kGop * TestClip::kGop)) << "frame " << k;
  }
  EXPECT_EQ(index.keyframe_before(index.pts_at(0) - 1), 0u) << "before the first frame: the first keyframe";
}

TEST(FrameIndex, StartKeyframeIsTheGopOfEveryFrameInDecodeOrder) {
  const FrameIndex index = scan_test_clip();
  const auto& keyframes = index.keyframes();
  for (int64_t k = 0; k < index.size(); ++k) {
    const size_t pos = index.start_keyframe(k);
    EXPECT_EQ(keyframes[pos].pts, index.pts_at(k / TestClip::kGop * TestClip::kGop)) << "frame " << k;
    EXPECT_LE(keyframes[pos].decode_order, index.decode_order_at(k)) << "frame " << k;
  }
}

TEST(FrameIndex, OnScreenAtCountsAFrameFromItsPtsWithinTheTolerance) {
  const FrameIndex index = scan_test_clip();
  const double p7 = static_cast<double>(index.pts_at(7));
  const double gap = static_cast<double>(index.pts_at(8) - index.pts_at(7));
  EXPECT_EQ(index.on_screen_at(p7, 0.5), 7);
  EXPECT_EQ(index.on_screen_at(p7 + gap * 0.9, 0.5), 7) << "until the next frame starts";
  EXPECT_EQ(index.on_screen_at(p7 - 0.4, 0.5), 7) << "rounding: frame 7 has started";
  EXPECT_EQ(index.on_screen_at(p7 - 0.6, 0.5), 6);
  EXPECT_EQ(index.on_screen_at(p7 - gap / 2, gap), 6) << "the tolerance never takes more than a quarter frame";
  EXPECT_EQ(index.on_screen_at(static_cast<double>(index.pts_at(0)) - 1000, 0.5), 0);
  EXPECT_EQ(index.on_screen_at(1e18, 0.5), index.size() - 1);
  EXPECT_GT(index.end_pts(), index.pts_at(index.size() - 1));
}

}  // namespace
}  // namespace vistream
