// A bounded, closable FIFO for handing work between pipeline threads (ffplay's PacketQueue
// idea). push() blocks while full (back-pressure), pop() blocks while empty; close() wakes
// every waiter and makes further pushes fail, so a thread can always be told to stop.
// Each item carries the serial that was current when pushed; bump_serial() (a seek) makes
// pop() silently discard everything older without draining the queue by hand.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

namespace vistream {

template <typename T>
class BlockingQueue {
 public:
  explicit BlockingQueue(size_t capacity) : capacity_(capacity) {}

  // False if the queue was closed (the item is dropped).
  bool push(T item) {
    std::unique_lock lock(mutex_);  // guards items_, closed_, serial_
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.emplace_back(serial_, std::move(item));
    not_empty_.notify_one();
    return true;
  }

  // Empty optional once closed and drained.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
      if (items_.empty()) return std::nullopt;
      auto [serial, item] = std::move(items_.front());
      items_.pop_front();
      not_full_.notify_one();
      if (serial == serial_) return std::move(item);
    }
  }

  // Closes for good: pending pops get what is left, then nullopt; pushes fail.
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  // Closes and drops everything queued (abort).
  void abort() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    items_.clear();
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  uint64_t bump_serial() {
    std::lock_guard lock(mutex_);
    items_.clear();
    not_full_.notify_all();
    return ++serial_;
  }

  size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::pair<uint64_t, T>> items_;
  bool closed_ = false;
  uint64_t serial_ = 0;
};

}  // namespace vistream
