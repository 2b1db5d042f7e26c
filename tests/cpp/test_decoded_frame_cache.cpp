// DecodedFrameCache: the back-step cache between the decode thread and the consumer. It must
// stay within its byte bound, start small and grow only for back steps, evict the oldest
// insertion first, hand out references (never copies, never a frame that another thread frees
// or rewrites) and be safe across threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "vistream/decoded_frame_cache.hpp"

namespace vistream {
namespace {

using testing::make_gray_frame;

constexpr int kW = 64;
constexpr int kH = 48;

size_t buffer_bytes(const AVFrame* frame) {
  size_t total = 0;
  for (int i = 0; i < AV_NUM_DATA_POINTERS && frame->buf[i]; ++i) total += frame->buf[i]->size;
  return total;
}

TEST(DecodedFrameCache, KeepsWhatFitsAndEvictsTheOldestInsertionFirst) {
  const size_t one = buffer_bytes(make_gray_frame(kW, kH, 0).get());
  DecodedFrameCache cache(3 * one + one / 2);  // room for three frames
  for (int64_t i = 0; i < 5; ++i) {
    cache.insert(i, make_gray_frame(kW, kH, static_cast<uint8_t>(i)).get());
    EXPECT_LE(cache.bytes(), 3 * one + one / 2) << "after inserting " << i;
  }
  EXPECT_EQ(cache.bytes(), 3 * one);
  EXPECT_FALSE(cache.contains(0));
  EXPECT_FALSE(cache.contains(1));
  for (int64_t i = 2; i < 5; ++i) {
    ASSERT_TRUE(cache.contains(i));
    UniqueFrame frame = cache.get(i);
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->data[0][0], i);
  }
  // Reading does not refresh: the order is insertion order, so 2 goes next.
  cache.insert(5, make_gray_frame(kW, kH, 5).get());
  EXPECT_FALSE(cache.contains(2));
  EXPECT_TRUE(cache.contains(3));
  EXPECT_EQ(cache.get(99), nullptr);
}

TEST(DecodedFrameCache, ReplacingAnIndexDoesNotCountItTwice) {
  const size_t one = buffer_bytes(make_gray_frame(kW, kH, 0).get());
  DecodedFrameCache cache(10 * one);
  cache.insert(7, make_gray_frame(kW, kH, 1).get());
  cache.insert(7, make_gray_frame(kW, kH, 2).get());
  EXPECT_EQ(cache.bytes(), one);
  EXPECT_EQ(cache.get(7)->data[0][0], 2);
  cache.clear();
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_FALSE(cache.contains(7));
}

TEST(DecodedFrameCache, ZeroBytesCachesNothingAndAnOversizedFrameIsNotKept) {
  DecodedFrameCache off(0);
  off.insert(0, make_gray_frame(kW, kH, 1).get());
  EXPECT_FALSE(off.contains(0));
  DecodedFrameCache tiny(16);
  tiny.insert(0, make_gray_frame(kW, kH, 1).get());
  EXPECT_FALSE(tiny.contains(0));
  EXPECT_EQ(tiny.bytes(), 0u);
}

TEST(DecodedFrameCache, HandsOutReferencesThatOutliveEvictionAndTheCache) {
  UniqueFrame original = make_gray_frame(kW, kH, 9);
  UniqueFrame held;
  {
    DecodedFrameCache cache(buffer_bytes(original.get()));
    cache.insert(0, original.get());
    held = cache.get(0);
    ASSERT_TRUE(held);
    EXPECT_EQ(held->data[0], original->data[0]) << "a reference, not a copy of the pixels";
    original.reset();  // the caller's frame may go away; the cache keeps its own reference
    cache.insert(1, make_gray_frame(kW, kH, 1).get());  // evicts 0
    EXPECT_FALSE(cache.contains(0));
  }
  // Still valid after eviction and after the cache is gone (ASan would flag a use after free).
  EXPECT_EQ(held->data[0][0], 9);
  EXPECT_EQ(held->data[0][(kH - 1) * held->linesize[0] + kW - 1], 9);
}

// Sized by use: a forward run keeps kInitialFrames frames; a seek that misses behind the
// newest frame decoded (a step back) grows the budget so the same step back hits next time.
TEST(DecodedFrameCache, StartsSmallAndGrowsWhenASeekMissesBehindTheNewestFrame) {
  const size_t one = buffer_bytes(make_gray_frame(kW, kH, 0).get());
  DecodedFrameCache cache(1000 * one);
  for (int64_t i = 0; i < 100; ++i) cache.insert(i, make_gray_frame(kW, kH, 1).get());
  EXPECT_EQ(cache.stats().frames, DecodedFrameCache::kInitialFrames) << "a forward run keeps a few frames";
  EXPECT_EQ(cache.bytes(), DecodedFrameCache::kInitialFrames * one);

  EXPECT_FALSE(cache.lookup_for_seek(110)) << "ahead of the decoder: a miss";
  EXPECT_EQ(cache.stats().budget_frames, DecodedFrameCache::kInitialFrames) << "a forward seek is no back step";
  EXPECT_EQ(cache.stats().misses_behind, 0);
  EXPECT_TRUE(cache.lookup_for_seek(98));
  EXPECT_EQ(cache.stats().hits, 1);
  EXPECT_FALSE(cache.lookup_for_seek(10)) << "89 frames back";
  EXPECT_EQ(cache.stats().grew, 0) << "a jump far beyond what the cache holds is a seek, not a step back";

  // Step back 10 from the newest (99): a miss; the re-decode of 80..99 is then kept.
  EXPECT_FALSE(cache.lookup_for_seek(89));
  DecodedFrameCache::Stats grown = cache.stats();
  EXPECT_EQ(grown.misses, 3);
  EXPECT_EQ(grown.misses_behind, 2);
  EXPECT_EQ(grown.grew, 1);
  EXPECT_GE(grown.budget_frames, 2 * 11u);
  for (int64_t i = 80; i < 100; ++i) cache.insert(i, make_gray_frame(kW, kH, 1).get());
  for (int64_t target = 99; target >= 80; target -= 3) EXPECT_TRUE(cache.lookup_for_seek(target)) << target;
  EXPECT_EQ(cache.stats().misses, 3) << "the same step back is now served from the cache";
  EXPECT_EQ(cache.stats().grew, 1);
}

TEST(DecodedFrameCache, NeverGrowsPastItsCapNorForAJumpItCouldNotHold) {
  const size_t one = buffer_bytes(make_gray_frame(kW, kH, 0).get());
  DecodedFrameCache cache(20 * one);  // the cap: 20 frames
  for (int64_t i = 0; i < 300; ++i) cache.insert(i, make_gray_frame(kW, kH, 1).get());
  EXPECT_FALSE(cache.lookup_for_seek(0));  // Home / a loop restart: 300 frames back
  EXPECT_EQ(cache.stats().grew, 0);
  EXPECT_EQ(cache.stats().budget_frames, DecodedFrameCache::kInitialFrames);
  for (int round = 0; round < 5; ++round) {  // steps back of 15, again and again
    const int64_t newest = 300 + 30 * round;
    for (int64_t i = newest - 29; i <= newest; ++i) cache.insert(i, make_gray_frame(kW, kH, 1).get());
    cache.lookup_for_seek(newest - 14);
    EXPECT_LE(cache.stats().budget_frames, 20u);
    EXPECT_LE(cache.bytes(), 20 * one);
  }
  EXPECT_EQ(cache.stats().budget_frames, 20u) << "grown up to the cap";
  for (int64_t i = 1000; i < 1030; ++i) cache.insert(i, make_gray_frame(kW, kH, 1).get());
  EXPECT_EQ(cache.stats().frames, 20u);

  DecodedFrameCache off(0);
  off.insert(0, make_gray_frame(kW, kH, 1).get());
  EXPECT_FALSE(off.lookup_for_seek(0));
  EXPECT_EQ(off.stats().budget_frames, 0u);
  EXPECT_EQ(off.stats().bytes, 0u);
}

// The decode thread inserts while the consumer looks frames up: every frame the consumer gets
// is whole and unchanged (all pixels equal its index), and the bound always holds.
// Device frames (NVDEC surfaces, device="cuda") are budgeted apart: VRAM is shared with the
// models on the GPU, so host frames must not let device frames crowd it, nor the reverse. The
// accounting is the same code for both; host frames named as device ones exercise it here.
TEST(DecodedFrameCache, BudgetsDeviceFramesApartFromHostFrames) {
  const size_t one = buffer_bytes(make_gray_frame(kW, kH, 0).get());
  DecodedFrameCache cache(100 * one, 2 * one);  // host: plenty; device: two frames
  for (int64_t i = 0; i < 6; ++i) cache.insert(i, make_gray_frame(kW, kH, static_cast<uint8_t>(i)).get(), true);
  DecodedFrameCache::Stats stats = cache.stats();
  EXPECT_EQ(stats.device_bytes, 2 * one) << "device frames stay within cache_device_bytes";
  EXPECT_EQ(stats.bytes, 0u) << "device frames are not counted as host memory";
  EXPECT_EQ(stats.max_device_bytes, 2 * one);
  EXPECT_TRUE(cache.contains(4) && cache.contains(5));
  EXPECT_FALSE(cache.contains(3));
  // Host frames have their own byte budget (the frame budget, 4 now, counts both kinds).
  for (int64_t i = 10; i < 13; ++i) cache.insert(i, make_gray_frame(kW, kH, 1).get(), false);
  stats = cache.stats();
  EXPECT_EQ(stats.frames, DecodedFrameCache::kInitialFrames);
  EXPECT_EQ(stats.bytes, 3 * one);
  EXPECT_EQ(stats.device_bytes, one);
  // Replacing a host frame by a device one moves its bytes to the device budget.
  cache.insert(12, make_gray_frame(kW, kH, 2).get(), true);
  EXPECT_EQ(cache.stats().bytes, 2 * one);
  EXPECT_EQ(cache.stats().device_bytes, 2 * one);
  cache.clear();
  EXPECT_EQ(cache.stats().device_bytes, 0u);
}

TEST(DecodedFrameCache, DeviceFramesAreNotCachedWithoutADeviceBudget) {
  const size_t one = buffer_bytes(make_gray_frame(kW, kH, 0).get());
  DecodedFrameCache cache(100 * one);  // a host-only cache (the Reader's and the old default)
  cache.insert(1, make_gray_frame(kW, kH, 1).get(), true);
  EXPECT_FALSE(cache.contains(1)) << "holding NVDEC surfaces needs cache_device_bytes";
  cache.insert(2, make_gray_frame(kW, kH, 1).get(), false);
  EXPECT_TRUE(cache.contains(2));
  EXPECT_EQ(cache.stats().device_bytes, 0u);
}

// A back step over device frames grows the frame budget only as far as the device budget
// affords (a device budget of 4 frames serves 4 frames, whatever the host budget).
TEST(DecodedFrameCache, DeviceBackStepsGrowWithinTheDeviceBudget) {
  const size_t one = buffer_bytes(make_gray_frame(kW, kH, 0).get());
  DecodedFrameCache cache(1000 * one, 6 * one);
  for (int64_t i = 0; i < 50; ++i) cache.insert(i, make_gray_frame(kW, kH, 0).get(), true);
  EXPECT_FALSE(cache.lookup_for_seek(44));  // behind the 4 frames held: a step back that grows
  // A host budget of 1000 frames would grow it to 12 (twice the 6 frames stepped over).
  EXPECT_EQ(cache.stats().budget_frames, 6u) << "grown as far as the device budget affords";
  for (int64_t i = 50; i < 60; ++i) cache.insert(i, make_gray_frame(kW, kH, 0).get(), true);
  EXPECT_EQ(cache.stats().device_bytes, 6 * one);
  EXPECT_EQ(cache.stats().frames, 6u);
}

TEST(DecodedFrameCache, ConcurrentInsertAndLookup) {
  constexpr int64_t kFrames = 400;
  const size_t one = buffer_bytes(make_gray_frame(kW, kH, 0).get());
  const size_t max_bytes = 8 * one;
  DecodedFrameCache cache(max_bytes);
  std::atomic<int64_t> newest{-1};
  std::atomic<int> hits{0};
  std::atomic<int> bad{0};
  testing::finishes_within(testing::kNoHangDeadline * 3, "cache writer and readers", [&] {
    std::thread writer([&] {
      for (int64_t i = 0; i < kFrames; ++i) {
        cache.insert(i, make_gray_frame(kW, kH, static_cast<uint8_t>(i)).get());
        newest = i;
        if (i % 50 == 0) cache.clear();  // a seek far away
      }
    });
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
      readers.emplace_back([&] {
        // do-while: even if the writer is done before this thread starts, one pass runs.
        int64_t top;
        do {
          top = newest.load();
          for (int64_t k = top; k >= 0 && k > top - 10; --k) {
            if (cache.bytes() > max_bytes) ++bad;
            UniqueFrame frame = cache.get(k);
            if (!frame) continue;
            ++hits;
            for (int y = 0; y < frame->height; ++y)
              for (int x = 0; x < frame->width; ++x)
                if (frame->data[0][y * frame->linesize[0] + x] != static_cast<uint8_t>(k)) ++bad;
          }
        } while (top < kFrames - 1);
      });
    }
    writer.join();
    for (auto& t : readers) t.join();
  });
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(hits.load(), 0);
}

}  // namespace
}  // namespace vistream
