#include "vistream/cancel_token.hpp"

#include <cmath>

#include "vistream/error.hpp"

namespace vistream {

void CancelToken::cancel() {
  cancelled_.store(true, std::memory_order_release);
  {
    // Taking each waiter's mutex before notifying closes the gap between a waiter testing
    // cancelled() and blocking: it either saw the flag or is blocked and gets the notify.
    std::lock_guard registry(waiters_mutex_);
    for (Waiter* waiter : waiters_) {
      std::lock_guard lock(*waiter->mutex);
      waiter->cv->notify_all();
    }
  }
  std::lock_guard lock(sleep_mutex_);
  sleep_cv_.notify_all();
}

void CancelToken::add_waiter(Waiter* waiter) {
  std::lock_guard registry(waiters_mutex_);
  waiters_.push_back(waiter);
}

void CancelToken::remove_waiter(Waiter* waiter) {
  std::lock_guard registry(waiters_mutex_);
  waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), waiter), waiters_.end());
}

void CancelToken::set_interrupt_check(std::function<bool()> check) {
  check_ = std::move(check);
  next_check_ = Clock::time_point{};
  interrupt_pending_ = false;
  check_thread_.store(check_ ? std::this_thread::get_id() : std::thread::id{}, std::memory_order_release);
}

void CancelToken::clear_interrupt_check() {
  if (!is_check_thread()) return;
  check_thread_.store(std::thread::id{}, std::memory_order_release);
  check_ = nullptr;
  interrupt_pending_ = false;
}

bool CancelToken::interrupt_requested() {
  if (!is_check_thread()) return false;
  if (interrupt_pending_) return true;
  const auto now = Clock::now();
  if (now < next_check_) return false;
  next_check_ = now + kInterruptCheckInterval;
  interrupt_pending_ = check_ && check_();
  return interrupt_pending_;
}

void CancelToken::throw_if_interrupted() {
  if (interrupt_requested()) throw Error(ErrorKind::Interrupted, "interrupted");
}

bool CancelToken::sleep_for(Clock::duration duration) {
  std::unique_lock lock(sleep_mutex_);
  wait_until(lock, sleep_cv_, [] { return false; }, Clock::now() + duration);
  return !cancelled();
}

BlockingCall::BlockingCall(CancelToken* token, double timeout_seconds)
    : token_(token), timeout_(timeout_seconds > 0 && std::isfinite(timeout_seconds) ? timeout_seconds : 0.0) {
  if (timeout_ > 0)
    deadline_ = CancelToken::Clock::now() + std::chrono::duration_cast<CancelToken::Clock::duration>(
                                                std::chrono::duration<double>(timeout_));
}

bool BlockingCall::should_abort(int64_t progress) {
  if (outcome_ != Outcome::Running) return true;
  if (token_ && token_->cancelled()) {
    outcome_ = Outcome::Cancelled;
  } else if (token_ && token_->interrupt_requested()) {
    outcome_ = Outcome::Interrupted;
  } else if (timeout_ > 0) {
    const auto now = CancelToken::Clock::now();
    if (progress != last_progress_) {
      last_progress_ = progress;
      deadline_ = now + std::chrono::duration_cast<CancelToken::Clock::duration>(std::chrono::duration<double>(timeout_));
    } else if (now >= deadline_) {
      outcome_ = Outcome::TimedOut;
    }
  }
  return outcome_ != Outcome::Running;
}

}  // namespace vistream
