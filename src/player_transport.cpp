#include "vistream/player_transport.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "vistream/error.hpp"

namespace vistream {
namespace {
// While the sound plays, the source thread re-reads its clock at least this often while it
// waits to release a frame, and snaps MediaClock to it past this tolerance.
constexpr auto kAudioClockPoll = std::chrono::milliseconds(20);
constexpr double kAudioClockTolerance = 0.010;
}  // namespace

PlayerTransport::PlayerTransport(Media media, CancelToken& cancel, BlockingQueue<FramePtr>& decoded,
                                 std::unique_ptr<AudioPlayback> sound, double speed, bool start_paused)
    : media_(std::move(media)), cancel_(cancel), decoded_(decoded), sound_(std::move(sound)) {
  clock_.set_speed(speed);
  if (start_paused) {
    // Paused from the start; the first frame is still shown (one permit), as players do.
    control_.paused = true;
    control_.permits = 1;
    clock_.set_paused(true);
    if (sound_) sound_->set_paused(true);
  }
}

void PlayerTransport::set_paused_locked(bool paused) {
  control_.paused = paused;
  clock_.set_paused(paused);
  if (sound_) sound_->set_paused(paused);
}

void PlayerTransport::pause() {
  std::lock_guard lock(mutex_);
  set_paused_locked(true);
  changed_.notify_all();
}

void PlayerTransport::resume() {
  std::lock_guard lock(mutex_);
  set_paused_locked(false);
  control_.permits = 0;
  changed_.notify_all();
}

bool PlayerTransport::paused() const {
  std::lock_guard lock(mutex_);
  return control_.paused;
}

void PlayerTransport::set_speed(double speed) {
  std::lock_guard lock(mutex_);
  clock_.set_speed(speed);
  if (sound_) sound_->set_speed(speed);
}

void PlayerTransport::require_seekable() const {
  if (!media_.seekable) {
    throw Error(ErrorKind::Source,
                "cannot seek in '" + media_.url + "': the source is not seekable (live or piped)");
  }
}

void PlayerTransport::request_seek_locked(int64_t index) {
  index = std::max<int64_t>(0, std::min(index, media_.frame_count - 1));
  control_.seek_to = index;
  control_.seek_serial = ++control_.serial;
  control_.seek_is_loop = false;
  decoded_.discard_before(control_.serial);  // frames queued before the seek are now stale
  control_.target = index;
  if (control_.paused) control_.permits = 1;  // show the frame sought to, then hold
  changed_.notify_all();
}

void PlayerTransport::seek_to_index(int64_t index) {
  require_seekable();
  std::lock_guard lock(mutex_);
  request_seek_locked(index);
}

void PlayerTransport::step(int64_t frames) {
  std::lock_guard lock(mutex_);
  set_paused_locked(true);
  const int64_t last = media_.frame_count - 1;
  const int64_t base = std::max<int64_t>(control_.target, frames > 0 ? -1 : 0);
  const bool seek_pending = control_.seek_to.has_value();
  if (frames == 0 || (frames == 1 && media_.frame_count > 0 && base >= last && !seek_pending)) {
    changed_.notify_all();  // nothing to move (or already at the last frame: it stays on screen)
    return;
  }
  if (frames == 1 && !seek_pending) {
    // The next frame in decode order is the one wanted: let exactly one more through.
    ++control_.permits;
    control_.target = media_.frame_count > 0 ? std::min(base + 1, last) : base + 1;
    changed_.notify_all();
    return;
  }
  require_seekable();
  request_seek_locked(base + frames);
}

void PlayerTransport::request_stop() {
  stop_requested_.store(true);
  cancel_.cancel();  // wakes every blocking call: network reads, queue and control waits
  std::lock_guard lock(mutex_);
  changed_.notify_all();
}

PlayerTransport::SourceStep PlayerTransport::next_source_step(bool ended, bool exit_at_end, SeekOrder* seek) {
  std::unique_lock lock(mutex_);
  // An end reached while paused (End, a seek or step past the end) keeps the last frame up.
  cancel_.wait(lock, changed_, [&] {
    return stop_requested_.load() || control_.seek_to || !ended || (exit_at_end && !control_.paused);
  });
  if (stop_requested_.load()) return SourceStep::Stop;
  if (control_.seek_to) {
    *seek = SeekOrder{*control_.seek_to, control_.seek_serial, control_.seek_is_loop};
    control_.seek_to.reset();
    control_.seek_is_loop = false;
    return SourceStep::Seek;
  }
  return ended ? SourceStep::Ended : SourceStep::Decode;
}

void PlayerTransport::request_loop_restart(int64_t index) {
  std::lock_guard lock(mutex_);
  if (control_.seek_to) return;  // the user's seek wins
  control_.seek_to = index;
  control_.seek_serial = ++control_.serial;
  control_.seek_is_loop = true;
}

uint64_t PlayerTransport::start_reconnect_generation() {
  std::lock_guard lock(mutex_);
  return ++control_.serial;
}

PlayerTransport::Release PlayerTransport::wait_for_release(const FramePtr& frame, double lead) {
  std::unique_lock lock(mutex_);
  for (;;) {
    // A pending seek (not a loop restart: the end of this timeline still plays) makes it stale.
    if (stop_requested_.load() || (control_.seek_to && !control_.seek_is_loop)) return Release::Stale;
    if (control_.paused) {
      if (control_.permits > 0) {  // a step or a seek while paused: release this frame now
        --control_.permits;
        clock_.set(frame->time(), frame->serial());
        return Release::Permitted;
      }
      cancel_.wait(lock, changed_, [&] {
        return stop_requested_.load() || control_.seek_to || !control_.paused || control_.permits > 0;
      });
      continue;
    }
    if (frame->serial() != clock_.serial()) {
      clock_.set(frame->time(), frame->serial());  // a new timeline plays on from its first frame
      return Release::NewTimeline;
    }
    // Audio is the master clock while it plays this timeline.
    const double heard = audio_clock_for(frame->serial());
    if (!std::isnan(heard)) clock_.sync(heard, kAudioClockTolerance);
    const auto wait = clock_.until(frame->time() - lead);
    if (wait == MediaClock::Clock::duration::zero()) return Release::OnTime;
    const auto slice = sound_ ? std::min<MediaClock::Clock::duration>(wait, kAudioClockPoll) : wait;
    cancel_.wait_until(lock, changed_, [&] { return stop_requested_.load() || control_.seek_to || control_.paused; },
                       CancelToken::Clock::now() + slice);
  }
}

bool PlayerTransport::wait_until_frame_wanted() {
  std::unique_lock lock(mutex_);
  cancel_.wait(lock, changed_, [&] { return stop_requested_.load() || !control_.paused || control_.permits > 0; });
  return !stop_requested_.load();
}

void PlayerTransport::frame_taken(const Frame& frame, bool uses_permit) {
  {
    std::lock_guard lock(mutex_);
    if (uses_permit && control_.paused && control_.permits > 0) --control_.permits;
    if (!control_.seek_to) control_.target = frame.index();
  }
  position_index_.store(frame.index());
  position_time_.store(frame.time());
}

double PlayerTransport::audio_clock_for(int64_t serial) const {
  if (!sound_) return NAN;
  const AudioPlayback::ClockSample heard = sound_->clock();
  return static_cast<int64_t>(heard.serial) == serial ? heard.time : NAN;
}

std::pair<double, int64_t> PlayerTransport::audio_clock() const {
  std::lock_guard lock(mutex_);  // sound_ goes away under it (release_sound)
  if (!sound_) return {NAN, -1};
  const AudioPlayback::ClockSample heard = sound_->clock();
  return {heard.time, std::isnan(heard.time) ? -1 : static_cast<int64_t>(heard.serial)};
}

void PlayerTransport::hold_sound(bool held) {
  if (sound_) sound_->set_held(held);
}

void PlayerTransport::release_sound() {
  // Give the sound device back now, not when Python frees the Player.
  std::lock_guard lock(mutex_);
  sound_.reset();
}

}  // namespace vistream
