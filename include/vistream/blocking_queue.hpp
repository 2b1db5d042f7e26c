// A bounded, closable FIFO for handing work between pipeline threads (ffplay's PacketQueue
// idea). push() blocks while full (back-pressure), pop() blocks while empty; close() wakes
// every waiter and makes further pushes fail, so a thread can always be told to stop.
// Each item carries the timeline generation (serial) it belongs to. The queue keeps a floor:
// items tagged older than it are stale and pop() silently discards them, so a seek
// (discard_before(new generation), or bump_serial()) needs no draining by hand. Items tagged
// newer than the floor are kept: a loop restart starts a new generation while the end of the
// old one is still wanted.
// The waiting calls take an optional CancelToken: cancelling it ends the wait (push fails, pop
// returns nothing) without closing the queue for other users, and on the token's interrupt-check
// thread a wait can throw Error(Interrupted) (Ctrl-C).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "vistream/cancel_token.hpp"

namespace vistream {

template <typename T>
class BlockingQueue {
 public:
  explicit BlockingQueue(size_t capacity) : capacity_(capacity) {}

  // False if the queue was closed or `cancel` cancelled (the item is dropped). The item is
  // tagged with the queue's current serial.
  bool push(T item, CancelToken* cancel = nullptr) {
    std::unique_lock lock(mutex_);  // guards items_, closed_, serial_
    return push_locked(lock, std::move(item), serial_, cancel);
  }

  // Tags the item with `serial`: the producer says which timeline generation it belongs to, so
  // an item decoded before a seek but pushed after it is still recognised as stale.
  bool push(T item, uint64_t serial, CancelToken* cancel = nullptr) {
    std::unique_lock lock(mutex_);
    return push_locked(lock, std::move(item), serial, cancel);
  }

  // Never waits: when full, the oldest item is discarded to make room (real-time delivery of
  // the newest item). Returns how many items were discarded (0 or more); -1 if closed.
  int push_replacing(T item, uint64_t serial) {
    std::lock_guard lock(mutex_);
    if (closed_) return -1;
    int discarded = 0;
    while (items_.size() >= capacity_) {
      if (items_.front().first >= serial_) ++discarded;  // stale ones were dropped anyway
      items_.pop_front();
    }
    items_.emplace_back(serial, std::move(item));
    not_empty_.notify_one();
    return discarded;
  }

  // The floor: items tagged older than this are stale.
  uint64_t serial() const {
    std::lock_guard lock(mutex_);
    return serial_;
  }

  // Raises the floor to `serial` (never lowers it) and drops the items now stale: a seek
  // to the timeline generation `serial`.
  void discard_before(uint64_t serial) {
    std::lock_guard lock(mutex_);
    if (serial <= serial_) return;
    serial_ = serial;
    drop_stale_locked();
  }

  // Empty optional once closed and drained, or when `cancel` is cancelled while it waits.
  std::optional<T> pop(CancelToken* cancel = nullptr) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (!wait(lock, not_empty_, cancel, [&] { return closed_ || !items_.empty(); })) return std::nullopt;
      if (items_.empty()) return std::nullopt;
      auto [serial, item] = std::move(items_.front());
      items_.pop_front();
      not_full_.notify_one();
      if (serial >= serial_) return std::move(item);
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

  // A new generation that makes everything queued stale; returns it.
  uint64_t bump_serial() {
    std::lock_guard lock(mutex_);
    ++serial_;
    drop_stale_locked();
    return serial_;
  }

  // Pops without waiting; empty optional when nothing current is queued.
  std::optional<T> try_pop() {
    std::lock_guard lock(mutex_);
    while (!items_.empty()) {
      auto [serial, item] = std::move(items_.front());
      items_.pop_front();
      not_full_.notify_one();
      if (serial >= serial_) return std::move(item);
    }
    return std::nullopt;
  }

  // Closed and nothing left: the consumer is done.
  bool drained() const {
    std::lock_guard lock(mutex_);
    return closed_ && items_.empty();
  }

  size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  // False when `cancel` was cancelled before ready() held (cancelling ends waiting only: what
  // needs no wait still happens).
  template <typename Ready>
  static bool wait(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, CancelToken* cancel,
                   Ready ready) {
    if (!cancel) {
      cv.wait(lock, ready);
      return true;
    }
    return cancel->wait(lock, cv, ready);
  }

  void drop_stale_locked() {
    items_.erase(std::remove_if(items_.begin(), items_.end(),
                                [&](const auto& entry) { return entry.first < serial_; }),
                 items_.end());
    not_full_.notify_all();
  }

  bool push_locked(std::unique_lock<std::mutex>& lock, T item, uint64_t serial, CancelToken* cancel) {
    if (!wait(lock, not_full_, cancel, [&] { return closed_ || items_.size() < capacity_; })) return false;
    if (closed_) return false;
    items_.emplace_back(serial, std::move(item));
    not_empty_.notify_one();
    return true;
  }

  const size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::pair<uint64_t, T>> items_;
  bool closed_ = false;
  uint64_t serial_ = 0;  // the floor (see above)
};

}  // namespace vistream
