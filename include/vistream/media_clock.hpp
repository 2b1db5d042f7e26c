// The playback clock: maps the wall clock to media time, with pause and speed. Used when no
// audio device drives time (headless, or no audio track). Thread-safe.
//
// Like ffplay's Clock, each sample carries the timeline generation (serial) of the frame it was
// set from: a consumer that meets a frame of another generation sets the clock from that frame
// instead of comparing times across timelines (and never infers a seek from a jump in time).
//
//   media_time(now) = base_media + (now - base_wall) * speed   while running
//   media_time      = base_media                                while paused
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace vistream {

class MediaClock {
 public:
  using Clock = std::chrono::steady_clock;

  double now() const;                 // media seconds
  // Jump (first frame of a generation, a step while paused); the clock now follows `serial`.
  void set(double media_seconds, int64_t serial);
  // Generation of the last set() (-1 before any).
  int64_t serial() const;
  // Follows a master (the audio clock): jumps to it when they differ by more than `tolerance`.
  // Returns the difference now - master before the correction.
  double sync(double master_seconds, double tolerance);
  void set_paused(bool paused);
  bool paused() const;
  void set_speed(double speed);       // 1.0 = real time
  double speed() const;
  // Wall-clock duration until media time reaches `media_seconds` (zero if already there;
  // "forever" while paused).
  Clock::duration until(double media_seconds) const;

 private:
  double now_locked(Clock::time_point wall) const;
  void rebase_locked();

  mutable std::mutex mutex_;  // guards all below
  double base_media_ = 0.0;
  Clock::time_point base_wall_ = Clock::now();
  double speed_ = 1.0;
  bool paused_ = false;
  int64_t serial_ = -1;
};

}  // namespace vistream
