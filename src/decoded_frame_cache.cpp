#include "vistream/decoded_frame_cache.hpp"

#include "vistream/error.hpp"

namespace vistream {

size_t DecodedFrameCache::frame_bytes(const AVFrame* frame) {
  size_t total = 0;
  for (int i = 0; i < AV_NUM_DATA_POINTERS && frame->buf[i]; ++i) total += frame->buf[i]->size;
  return total;
}

void DecodedFrameCache::insert(int64_t index, const AVFrame* frame) {
  if (max_bytes_ == 0) return;
  UniqueFrame ref = make_frame();
  if (av_frame_ref(ref.get(), frame) < 0) return;  // out of memory: simply not cached
  const size_t size = frame_bytes(ref.get());
  std::lock_guard lock(mutex_);
  auto existing = frames_.find(index);
  if (existing != frames_.end()) {
    bytes_ -= frame_bytes(existing->second.get());
    existing->second = std::move(ref);
  } else {
    frames_.emplace(index, std::move(ref));
    order_.push_back(index);
  }
  bytes_ += size;
  evict_locked();
}

void DecodedFrameCache::evict_locked() {
  while (bytes_ > max_bytes_ && !order_.empty()) {
    const int64_t oldest = order_.front();
    order_.pop_front();
    auto it = frames_.find(oldest);
    if (it == frames_.end()) continue;
    bytes_ -= frame_bytes(it->second.get());
    frames_.erase(it);
  }
}

UniqueFrame DecodedFrameCache::get(int64_t index) const {
  std::lock_guard lock(mutex_);
  auto it = frames_.find(index);
  if (it == frames_.end()) return nullptr;
  UniqueFrame ref = make_frame();
  if (av_frame_ref(ref.get(), it->second.get()) < 0) return nullptr;
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
}

size_t DecodedFrameCache::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace vistream
