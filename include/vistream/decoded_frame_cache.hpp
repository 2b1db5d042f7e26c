// Recently decoded frames (decoder output, before filtering/conversion), keyed by display
// index. Stepping backward normally re-decodes from the previous keyframe; with this cache a
// short step back is a lookup. Frames are refcounted references, not copies; the oldest
// insertion is evicted first (when re-decoding a GOP up to a target, that keeps the frames
// right before the target — the next back-steps).
//
// Sized by use. A plain forward run never looks back, so the cache starts with room for
// kInitialFrames frames only (a 720p run then holds ~6 MB in it instead of its whole cap).
// A seek that misses while its target lies behind the newest frame decoded is the user going
// back further than the cache holds (a step back, a backward seek, or the repositioning after
// one): the frame budget then grows to at least twice the frames between the target and the
// newest frame (and at least doubles), so repeating that step back is served from the cache.
// It never exceeds `max_bytes` (the Player's `cache_bytes`, the documented cap). A jump back
// further than kStepReach times the current budget (a seek of seconds, Home, a loop restart) is
// a seek, not a step: re-decoding its GOP serves it as well as any cache would, and growing for
// it would hold frames no step asks for (and a timeline served from the cache reads no audio
// from the demuxer). Repeated steps back grow the budget, and with it the reach. It does not
// shrink.
//
// Device frames (NVDEC surfaces kept on the GPU, device="cuda") are budgeted apart from host
// frames: `max_device_bytes` caps the video memory they hold (VRAM is shared with the models
// running on the frames), `max_bytes` the host memory; the frame budget above counts both.
// With max_device_bytes 0 device frames are not cached (steps back re-decode).
//
// Thread-safe: filled by the decode thread, read by the consumer.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "vistream/av_ptr.hpp"

namespace vistream {

class DecodedFrameCache {
 public:
  // Frames kept before the first back step: enough for the frames in flight right behind the
  // one on screen, small enough that a forward run costs a few frames of memory.
  static constexpr size_t kInitialFrames = 4;
  // How many budgets back a missed seek may land and still count as a step back (see above).
  static constexpr size_t kStepReach = 8;

  // What seeks found, and what the cache holds now (for stats and tests).
  struct Stats {
    int64_t hits = 0;      // seek lookups served from the cache
    int64_t misses = 0;    // seek lookups that had to decode
    // Misses for a frame behind the newest one decoded: a step back the cache was too small
    // for (the other misses are seeks ahead, which no cache of the past could serve).
    int64_t misses_behind = 0;
    int64_t grew = 0;      // times such a miss widened the budget
    size_t frames = 0;     // frames held now
    size_t bytes = 0;      // their buffers' bytes
    size_t budget_frames = 0;  // frames it may hold now (grows with back steps)
    size_t max_bytes = 0;  // the cap (0 = cache off)
    size_t device_bytes = 0;      // bytes of device frames held now (not in `bytes`)
    size_t max_device_bytes = 0;  // their cap (0 = device frames are not cached)
  };

  // `max_bytes`: the most the cache may ever hold; 0 turns it off.
  explicit DecodedFrameCache(size_t max_bytes, size_t max_device_bytes = 0)
      : max_bytes_(max_bytes), max_device_bytes_(max_device_bytes) {}

  // Stores a new reference to `frame` under `index` (replacing an older entry). A frame with a
  // hw_frames_ctx counts against the device budget.
  void insert(int64_t index, const AVFrame* frame) { insert(index, frame, frame->hw_frames_ctx != nullptr); }
  // The same with the memory named by the caller (tests account host frames as device ones).
  void insert(int64_t index, const AVFrame* frame, bool on_device);
  // A new reference to the cached frame, or null.
  UniqueFrame get(int64_t index) const;
  bool contains(int64_t index) const;
  // contains() for a seek: counts the hit or miss and applies the growth policy above.
  bool lookup_for_seek(int64_t index);
  void clear();
  size_t bytes() const;
  Stats stats() const;

 private:
  static size_t frame_bytes(const AVFrame* frame);
  void evict_locked();
  void grow_for_back_step_locked(int64_t target);

  struct Entry {
    UniqueFrame frame;
    size_t bytes = 0;
    bool on_device = false;
  };
  size_t& bytes_of_kind_locked(bool on_device) { return on_device ? device_bytes_ : bytes_; }

  const size_t max_bytes_;
  const size_t max_device_bytes_;
  mutable std::mutex mutex_;  // guards everything below
  std::unordered_map<int64_t, Entry> frames_;
  std::deque<int64_t> order_;  // insertion order, for eviction
  size_t bytes_ = 0;         // host frames
  size_t device_bytes_ = 0;  // device frames
  bool newest_on_device_ = false;
  size_t budget_frames_ = kInitialFrames;
  int64_t newest_ = -1;             // index of the latest insertion (the decoder's frontier)
  size_t newest_frame_bytes_ = 0;   // its size: what one more frame of budget costs
  int64_t hits_ = 0;
  int64_t misses_ = 0;
  int64_t misses_behind_ = 0;
  int64_t grew_ = 0;
};

}  // namespace vistream
