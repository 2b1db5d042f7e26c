// One cancel token per engine object (Player, Reader), handed to every blocking call it makes:
// FFmpeg's AVIOInterruptCB, BlockingQueue waits, the player's control waits. Modelled on mpv's
// mp_cancel and ffplay's abort_request:
//
// - cancel() is sticky and wakes every condition-variable wait made through the token, on any
//   thread (the waiter's mutex and condition variable are registered for the wait's duration).
// - A blocking I/O operation gets a deadline (BlockingCall), so a stalled network source ends
//   with a timeout instead of hanging.
// - An *interrupt check* (the bindings install one that looks for pending Python signals) is
//   run, at most every kInterruptCheckInterval, by waits and I/O callbacks on the thread that
//   installed it; when it reports an interrupt, that thread's blocking call throws
//   Error(Interrupted). Other threads are unaffected (the caller decides what to stop).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vistream {

class CancelToken {
 public:
  using Clock = std::chrono::steady_clock;
  // How often the installing thread runs the interrupt check while it waits (Ctrl-C latency).
  static constexpr std::chrono::milliseconds kInterruptCheckInterval{50};

  CancelToken() = default;
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  // Thread-safe; never blocks for long (takes each registered waiter's mutex briefly).
  void cancel();
  bool cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }

  // Installs `check` for the calling thread (replacing any other). `check` returns true when the
  // thread must stop what it is doing (e.g. a signal arrived); it runs without any of the
  // waiter's locks held. Cleared by clear_interrupt_check() on the same thread.
  void set_interrupt_check(std::function<bool()> check);
  void clear_interrupt_check();
  // True when the calling thread is the check's thread and the check (run now if due) asked to
  // interrupt; sticky until the check is cleared. Never throws; cheap on other threads.
  bool interrupt_requested();
  // Throws Error(Interrupted) when interrupt_requested().
  void throw_if_interrupted();

  // Waits on `cv` (whose mutex `lock` holds) until ready() holds, the token is cancelled, or
  // `deadline` passes. Returns ready() at the end. Throws Error(Interrupted) on the check's
  // thread when the check fires.
  template <typename Ready>
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Ready ready,
                  Clock::time_point deadline = Clock::time_point::max());
  template <typename Ready>
  bool wait(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Ready ready) {
    return wait_until(lock, cv, ready);
  }
  // Sleeps for `duration` unless cancelled first; false when cancelled. Interruptible like wait.
  bool sleep_for(Clock::duration duration);

 private:
  struct Waiter {
    std::mutex* mutex;
    std::condition_variable* cv;
  };
  // Lock order: a waiter's mutex is never held while waiters_mutex_ is taken by that waiter
  // (registration happens with the waiter's lock released); cancel() takes waiters_mutex_, then
  // each waiter's mutex.
  void add_waiter(Waiter* waiter);
  void remove_waiter(Waiter* waiter);
  bool is_check_thread() const noexcept {
    return check_thread_.load(std::memory_order_acquire) == std::this_thread::get_id();
  }

  std::atomic<bool> cancelled_{false};
  std::mutex waiters_mutex_;      // guards waiters_
  std::vector<Waiter*> waiters_;  // waits in progress through this token

  // Interrupt check. check_thread_ is read by any thread; the rest belongs to that thread only.
  std::atomic<std::thread::id> check_thread_{};
  std::function<bool()> check_;
  Clock::time_point next_check_{};
  bool interrupt_pending_ = false;

  // Own condition variable for sleep_for().
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;
};

// The deadline of one blocking I/O operation (open, read, seek) of a network source: it
// expires when no progress was made for `timeout` seconds (infinite or <= 0 = no deadline).
// Used by the thread doing the operation; the AVIO interrupt callback asks should_abort().
class BlockingCall {
 public:
  enum class Outcome { Running, Cancelled, TimedOut, Interrupted };

  BlockingCall(CancelToken* token, double timeout_seconds);
  // Called by the interrupt callback; `progress` is a monotonic byte position, so a slow but
  // moving transfer keeps its deadline ahead.
  bool should_abort(int64_t progress);
  Outcome outcome() const { return outcome_; }
  double timeout() const { return timeout_; }

 private:
  CancelToken* token_;
  double timeout_;
  CancelToken::Clock::time_point deadline_;
  int64_t last_progress_ = -1;
  Outcome outcome_ = Outcome::Running;
};

template <typename Ready>
bool CancelToken::wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Ready ready,
                             Clock::time_point deadline) {
  if (ready()) return true;
  const bool checks = is_check_thread();
  Waiter waiter{lock.mutex(), &cv};
  lock.unlock();
  add_waiter(&waiter);
  lock.lock();
  struct Unregister {
    CancelToken* token;
    Waiter* waiter;
    std::unique_lock<std::mutex>& lock;
    ~Unregister() {
      const bool relock = lock.owns_lock();
      if (relock) lock.unlock();
      token->remove_waiter(waiter);
      if (relock) lock.lock();
    }
  } unregister{this, &waiter, lock};
  while (!ready() && !cancelled()) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (!checks) {
      if (deadline == Clock::time_point::max()) cv.wait(lock);
      else cv.wait_until(lock, deadline);
      continue;
    }
    cv.wait_until(lock, std::min(deadline, now + kInterruptCheckInterval));
    lock.unlock();  // the check may take other locks (the GIL): never under the waiter's mutex
    const bool interrupt = interrupt_requested();
    lock.lock();
    if (interrupt) throw_if_interrupted();
  }
  return ready();
}

}  // namespace vistream
