#include "vistream/decoded_frame_cache.hpp"

#include <algorithm>

#include "vistream/error.hpp"

namespace vistream {

size_t DecodedFrameCache::frame_bytes(const AVFrame* frame) {
  size_t total = 0;
  for (int i = 0; i < AV_NUM_DATA_POINTERS && frame->buf[i]; ++i) total += frame->buf[i]->size;
  return total;
}

void DecodedFrameCache::insert(int64_t index, const AVFrame* frame, bool on_device) {
  if (max_bytes_ == 0 || (on_device && max_device_bytes_ == 0)) return;
  UniqueFrame ref = make_frame();
  if (av_frame_ref(ref.get(), frame) < 0) return;  // out of memory: simply not cached
  const size_t size = frame_bytes(ref.get());
  std::lock_guard lock(mutex_);
  auto existing = frames_.find(index);
  if (existing != frames_.end()) {
    bytes_of_kind_locked(existing->second.on_device) -= existing->second.bytes;
    existing->second = Entry{std::move(ref), size, on_device};
  } else {
    frames_.emplace(index, Entry{std::move(ref), size, on_device});
    order_.push_back(index);
  }
  bytes_of_kind_locked(on_device) += size;
  newest_ = index;
  newest_frame_bytes_ = size;
  newest_on_device_ = on_device;
  evict_locked();
}

void DecodedFrameCache::evict_locked() {
  while ((bytes_ > max_bytes_ || device_bytes_ > max_device_bytes_ || frames_.size() > budget_frames_) &&
         !order_.empty()) {
    const int64_t oldest = order_.front();
    order_.pop_front();
    auto it = frames_.find(oldest);
    if (it == frames_.end()) continue;
    bytes_of_kind_locked(it->second.on_device) -= it->second.bytes;
    frames_.erase(it);
  }
}

bool DecodedFrameCache::lookup_for_seek(int64_t index) {
  std::lock_guard lock(mutex_);
  if (frames_.count(index) != 0) {
    ++hits_;
    return true;
  }
  ++misses_;
  if (newest_ >= 0 && index < newest_) {
    ++misses_behind_;
    grow_for_back_step_locked(index);
  }
  return false;
}

void DecodedFrameCache::grow_for_back_step_locked(int64_t target) {
  if (newest_frame_bytes_ == 0) return;
  // The frames from the target to the decoder's frontier: what this step back skipped over,
  // and about what the next one like it needs (the target, the step, the frames decoded ahead).
  const size_t span = static_cast<size_t>(newest_ - target) + 1;
  const size_t affordable = (newest_on_device_ ? max_device_bytes_ : max_bytes_) / newest_frame_bytes_;
  if (span > affordable) return;  // no budget could serve a jump this far back
  if (span > kStepReach * budget_frames_) return;  // a seek, not a step back
  const size_t wanted = std::min(affordable, std::max(2 * budget_frames_, 2 * span));
  if (wanted <= budget_frames_) return;
  budget_frames_ = wanted;
  ++grew_;
}

UniqueFrame DecodedFrameCache::get(int64_t index) const {
  std::lock_guard lock(mutex_);
  auto it = frames_.find(index);
  if (it == frames_.end()) return nullptr;
  UniqueFrame ref = make_frame();
  if (av_frame_ref(ref.get(), it->second.frame.get()) < 0) return nullptr;
  return ref;
}

bool DecodedFrameCache::contains(int64_t index) const {
  std::lock_guard lock(mutex_);
  return frames_.count(index) != 0;
}

void DecodedFrameCache::clear() {
  std::lock_guard lock(mutex_);
  frames_.clear();
  order_.clear();
  bytes_ = 0;
  device_bytes_ = 0;
}

size_t DecodedFrameCache::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

DecodedFrameCache::Stats DecodedFrameCache::stats() const {
  std::lock_guard lock(mutex_);
  Stats stats;
  stats.hits = hits_;
  stats.misses = misses_;
  stats.misses_behind = misses_behind_;
  stats.grew = grew_;
  stats.frames = frames_.size();
  stats.bytes = bytes_;
  stats.budget_frames = max_bytes_ == 0 ? 0 : budget_frames_;
  stats.max_bytes = max_bytes_;
  stats.device_bytes = device_bytes_;
  stats.max_device_bytes = max_bytes_ == 0 ? 0 : max_device_bytes_;
  return stats;
}

}  // namespace vistream
