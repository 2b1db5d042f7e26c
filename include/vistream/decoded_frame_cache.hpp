// Recently decoded frames (decoder output, before filtering/conversion), keyed by display
// index. Stepping backward normally re-decodes from the previous keyframe; with this cache a
// short step back is a lookup. Frames are refcounted references, not copies, and the cache
// is bounded in bytes; the oldest insertion is evicted first (when re-decoding a GOP up to a
// target, that keeps the frames right before the target — the next back-steps).
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
  explicit DecodedFrameCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Stores a new reference to `frame` under `index` (replacing an older entry).
  void insert(int64_t index, const AVFrame* frame);
  // A new reference to the cached frame, or null.
  UniqueFrame get(int64_t index) const;
  bool contains(int64_t index) const;
  void clear();
  size_t bytes() const;

 private:
  static size_t frame_bytes(const AVFrame* frame);
  void evict_locked();

  const size_t max_bytes_;
  mutable std::mutex mutex_;  // guards everything below
  std::unordered_map<int64_t, UniqueFrame> frames_;
  std::deque<int64_t> order_;  // insertion order, for eviction
  size_t bytes_ = 0;
};

}  // namespace vistream
