#include "vistream/media_clock.hpp"

#include <cmath>

namespace vistream {

double MediaClock::now_locked(Clock::time_point wall) const {
  if (paused_) return base_media_;
  return base_media_ + std::chrono::duration<double>(wall - base_wall_).count() * speed_;
}

// Restarts the linear segment at this instant (same media time), so that a change of speed or
// pause state applies only from now on.
void MediaClock::rebase_locked() {
  const auto wall = Clock::now();
  base_media_ = now_locked(wall);
  base_wall_ = wall;
}

double MediaClock::now() const {
  std::lock_guard lock(mutex_);
  return now_locked(Clock::now());
}

void MediaClock::set(double media_seconds, int64_t serial) {
  std::lock_guard lock(mutex_);
  base_media_ = media_seconds;
  base_wall_ = Clock::now();
  serial_ = serial;
}

int64_t MediaClock::serial() const {
  std::lock_guard lock(mutex_);
  return serial_;
}

double MediaClock::sync(double master_seconds, double tolerance) {
  std::lock_guard lock(mutex_);
  const auto wall = Clock::now();
  const double difference = now_locked(wall) - master_seconds;
  if (std::abs(difference) > tolerance) {
    base_media_ = master_seconds;
    base_wall_ = wall;
  }
  return difference;
}

void MediaClock::set_paused(bool paused) {
  std::lock_guard lock(mutex_);
  if (paused == paused_) return;
  rebase_locked();
  paused_ = paused;
}

bool MediaClock::paused() const {
  std::lock_guard lock(mutex_);
  return paused_;
}

void MediaClock::set_speed(double speed) {
  std::lock_guard lock(mutex_);
  rebase_locked();
  speed_ = speed;
}

double MediaClock::speed() const {
  std::lock_guard lock(mutex_);
  return speed_;
}

MediaClock::Clock::duration MediaClock::until(double media_seconds) const {
  std::lock_guard lock(mutex_);
  if (paused_) return Clock::duration::max();
  const double ahead = (media_seconds - now_locked(Clock::now())) / speed_;
  if (ahead <= 0) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(ahead));
}

}  // namespace vistream
