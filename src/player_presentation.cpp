#include "vistream/player_presentation.hpp"

#include "vistream/cuda_convert.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "vistream/player.hpp"
#include "vistream/test_hooks.hpp"

namespace vistream {

PlayerPresentation::PlayerPresentation(Player& player, PlayerTransport& transport, PlayerStats& stats,
                                       double duration)
    : player_(player), transport_(transport), stats_(stats), duration_(duration) {}

DisplayEvents PlayerPresentation::window_events(bool hold_sound_when_late) {
  DisplayEvents events;
  events.key = [this](const KeyEvent& key) { handle_key(key); };
  events.seek_fraction = [this](double fraction) { seek_to_fraction(fraction); };
  events.close = [this] { player_.stop(); };
  events.status = [this] { return status(); };
  events.presented = [this](double frame_time, int64_t serial) { measure_av_drift(frame_time, serial); };
  if (transport_.sound()) {
    events.master_time = [this](int64_t serial) { return transport_.audio_clock_for(serial); };
    if (hold_sound_when_late) events.hold_audio = [this](bool held) { transport_.hold_sound(held); };
  }
  return events;
}

void PlayerPresentation::open_window(const DisplayOptions& options, bool realtime, bool hold_sound_when_late) {
  DisplayOptions window_options = options;
  // The display shows each frame at its time on the (audio-driven) clock; in real-time mode
  // the source releases frames early so the callback's time is not lag, and a late frame is
  // shown at once.
  window_options.clock_waits = !realtime;
  auto window = std::make_unique<Display>(window_options, window_events(hold_sound_when_late), transport_.clock());
  std::lock_guard lock(window_mutex_);
  window_ = std::move(window);
  shown_on_ = window_.get();
}

void PlayerPresentation::show(FramePtr frame, bool replace) {
  if (!shown_on_) return;
  // The window shows host pixels: a device frame's picture is downloaded once per frame
  // handed to it (counted in the transfer stats).
  if (frame->device_picture()) {
    frame = download_device_picture(*frame);
    stats_.device_to_host_bytes += frame_payload_bytes(frame->av_frame(), AV_PIX_FMT_BGR0);
    ++stats_.device_to_host_copies;
  }
  shown_on_->show(std::move(frame), replace);
}

void PlayerPresentation::close_window(bool immediately) {
  std::unique_ptr<Display> closing;
  {
    std::lock_guard lock(window_mutex_);
    if (window_) {
      // What other threads read while it closes: never less than they saw a moment ago.
      frames_shown_at_close_.store(window_->frames_shown());
      fps_at_close_.store(window_->fps());
    }
    closing = std::move(window_);
  }
  shown_on_ = nullptr;
  if (!closing) return;
  test_pause_point("close_window");  // seeded race: stop()/frames_shown() from other threads now
  if (immediately) closing->abort();
  closing->finish();
  frames_shown_at_close_.store(closing->frames_shown());
  fps_at_close_.store(closing->fps());
}

void PlayerPresentation::abort_window() {
  std::lock_guard lock(window_mutex_);
  test_pause_point("abort_window");  // seeded race: run() closing the window meanwhile
  if (window_) window_->abort();
}

int64_t PlayerPresentation::frames_shown() {
  std::lock_guard lock(window_mutex_);
  return window_ ? window_->frames_shown() : frames_shown_at_close_.load();
}

double PlayerPresentation::fps() {
  std::lock_guard lock(window_mutex_);
  return window_ ? window_->fps() : fps_at_close_.load();
}

void PlayerPresentation::measure_av_drift(double frame_time, int64_t serial) {
  if (!transport_.sound()) return;
  if (drift_skip_.load() > 0) {
    --drift_skip_;
    return;
  }
  const double heard = transport_.audio_clock_for(serial);
  if (std::isnan(heard) || transport_.clock().paused()) return;
  const double drift = std::abs(frame_time - heard);
  double seen = stats_.av_drift_max.load();
  while (drift > seen && !stats_.av_drift_max.compare_exchange_weak(seen, drift)) {
  }
  ++stats_.av_drift_samples;
  av_log(nullptr, AV_LOG_DEBUG, "vistream: A/V drift %+.1f ms at %.3f s\n", (frame_time - heard) * 1000.0, frame_time);
}

void PlayerPresentation::handle_key(const KeyEvent& key) {
  try {
    if (key_hook_ && key_hook_(key)) return;
    const double step_seconds = key.shift ? 60.0 : 5.0;
    const std::string& k = key.name;
    if (k == "space") {
      player_.paused() ? player_.resume() : player_.pause();
    } else if (k == "q" || k == "escape") {
      player_.stop();
    } else if (k == "[" || k == "]" || k == "backspace") {
      // Speed: halve / double within the speed range, backspace back to 1x (pitch kept by atempo).
      const double current = player_.speed();
      player_.set_speed(k == "backspace" ? 1.0
                                         : std::clamp(k == "]" ? current * 2.0 : current / 2.0, kMinSpeed, kMaxSpeed));
    } else if (!transport_.seekable()) {
      return;  // the rest moves in time: not on live sources
    } else if (k == "right") {
      player_.seek_to_time(transport_.position_time() + step_seconds);
    } else if (k == "left") {
      player_.seek_to_time(std::max(0.0, transport_.position_time() - step_seconds));
    } else if (k == ".") {
      player_.step(1);
    } else if (k == ",") {
      player_.step(-1);
    } else if (k == "home") {
      player_.seek_to_index(0);
    } else if (k == "end") {
      player_.seek_to_index(transport_.frame_count() - 1);
    }
  } catch (...) {
    player_.record_error(std::current_exception());  // e.g. the Python key hook raised
  }
}

void PlayerPresentation::seek_to_fraction(double fraction) {
  if (transport_.seekable()) player_.seek_to_time(fraction * duration_);
}

DisplayStatus PlayerPresentation::status() {
  DisplayStatus status;
  status.position = transport_.position_time();
  status.duration = duration_;
  status.paused = transport_.paused();
  status.speed = transport_.speed();
  status.dropped = stats_.frames_dropped.load();
  return status;
}

}  // namespace vistream
