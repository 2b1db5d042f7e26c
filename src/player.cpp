#include "vistream/player.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>
#include <utility>

#include "vistream/error.hpp"

namespace vistream {
namespace {
// Real-time mode with a window: frames are released this much before their time, so the
// callback and the hand-over to the display do not make the picture late; the display then
// shows each at its time.
constexpr double kDisplayLead = 0.040;
}  // namespace

Player::Player(const std::string& url, const PlayerOptions& options, std::shared_ptr<CancelToken> cancel)
    : url_(url),
      options_(options),
      cancel_(cancel ? std::move(cancel) : std::make_shared<CancelToken>()),
      decoded_(options.mode == PlayerMode::Realtime ? 1 : 6) {
  check_speed(options.speed);
  if (options.display) {
    // A window was asked for: say now, before any work, when there cannot be one.
    std::string reason;
    if (!Display::available(&reason)) throw Error(ErrorKind::Generic, "cannot open a window: " + reason);
  }
  source_ = std::make_unique<VideoSource>(url, options.source, cancel_);
  frame_count_ = source_->indexed_frame_count();
  seekable_ = source_->indexed();
  clock_.set_speed(options.speed);
  if (options.start_paused) {
    // Paused from the start; the first frame is still shown (one permit), as players do.
    control_.paused = true;
    control_.permits = 1;
    clock_.set_paused(true);
  }
  AVStream* video = source_->demuxer().video_stream();
  video_time_base_ = video->time_base;
  const Rational rate = source_->info().frame_rate;
  frame_duration_ = rate.num > 0 ? static_cast<double>(rate.den) / rate.num : 0.0;
  if (options.start > 0) ts_offset_ = static_cast<int64_t>(std::llround(options.start / av_q2d(video_time_base_)));
  const bool paced = options.mode == PlayerMode::Realtime || options.display;
  if (options.play_audio && paced && source_->demuxer().audio_stream()) {
    try {
      audio_playback_ = std::make_unique<AudioPlayback>(source_->demuxer().audio_stream(), options.afilter,
                                                        options.speed);
      audio_device_ = audio_playback_->device_name();
      av_log(nullptr, AV_LOG_INFO, "vistream: playing audio through SDL driver '%s'\n", audio_device_.c_str());
    } catch (const Error& error) {
      av_log(nullptr, AV_LOG_WARNING, "vistream: %s; playing video only\n", error.what());
    }
  }
  if (!options.output.empty()) {
    // Everything that can be validated is, before run(): a bad encoder name or output
    // extension fails here, not after decoding has begun.
    muxer_ = std::make_unique<Muxer>(options.output);
    const MediaInfo& info = source_->info();
    VideoFormat input;
    input.width = info.width;
    input.height = info.height;
    input.format = av_get_pix_fmt(options.source.output_format.c_str());
    input.time_base = AVRational{info.time_base.num, info.time_base.den};
    input.frame_rate = AVRational{info.frame_rate.num, info.frame_rate.den};
    input.sample_aspect_ratio = video->codecpar->sample_aspect_ratio;
    encoder_ = std::make_unique<VideoEncoder>(options.encoder, input, muxer_->needs_global_header());
    video_stream_ = muxer_->add_stream(encoder_->context());
    if (options.audio && source_->demuxer().audio_stream()) {
      audio_time_base_ = source_->demuxer().audio_stream()->time_base;
      audio_ = std::make_unique<AudioOutput>(source_->demuxer().audio_stream(), *muxer_, options.afilter);
    }
  }
}

void Player::set_frame_hook(FrameHook hook) {
  std::lock_guard lock(start_mutex_);
  if (ran_) throw Error(ErrorKind::InvalidArgument, "the frame hook cannot be changed once run() has started");
  hook_ = std::move(hook);
}

void Player::set_key_hook(KeyHook hook) {
  std::lock_guard lock(start_mutex_);
  if (ran_) throw Error(ErrorKind::InvalidArgument, "the key hook cannot be changed once run() has started");
  key_hook_ = std::move(hook);
}

Player::~Player() {
  stop();
  decoded_.abort();
  to_encode_.abort();
}

void Player::stop() {
  stop_requested_.store(true);
  cancel_->cancel();  // wakes every blocking call: network reads, queue and control waits
  // Close the window without joining its thread (stop() may run on it, or with the GIL
  // held); this also unblocks a run() thread waiting for room in the display queue.
  {
    std::lock_guard lock(display_mutex_);
    if (display_) display_->abort();
  }
  {
    std::lock_guard lock(control_mutex_);
    control_changed_.notify_all();
  }
  decoded_.abort();  // frames not yet handed to the hook are not wanted any more
}

double Player::audio_clock_for(int64_t serial) const {
  if (!audio_playback_) return NAN;
  const AudioPlayback::ClockSample heard = audio_playback_->clock();
  return static_cast<int64_t>(heard.serial) == serial ? heard.time : NAN;
}

std::pair<double, int64_t> Player::audio_clock() const {
  std::lock_guard lock(control_mutex_);  // audio_playback_ goes away under it at the end of run()
  if (!audio_playback_) return {NAN, -1};
  const AudioPlayback::ClockSample heard = audio_playback_->clock();
  return {heard.time, std::isnan(heard.time) ? -1 : static_cast<int64_t>(heard.serial)};
}

void Player::measure_av_drift(double frame_time, int64_t serial) {
  if (!audio_playback_) return;
  if (drift_skip_.load() > 0) {
    --drift_skip_;
    return;
  }
  const double heard = audio_clock_for(serial);
  if (std::isnan(heard) || clock_.paused()) return;  // not paused(): callers may hold control_mutex_
  const double drift = std::abs(frame_time - heard);
  double seen = stats_.av_drift_max.load();
  while (drift > seen && !stats_.av_drift_max.compare_exchange_weak(seen, drift)) {
  }
  ++stats_.av_drift_samples;
  av_log(nullptr, AV_LOG_DEBUG, "vistream: A/V drift %+.1f ms at %.3f s\n", (frame_time - heard) * 1000.0, frame_time);
}

void Player::handle_key(const KeyEvent& key) {
  try {
    if (key_hook_ && key_hook_(key)) return;
    const double step_seconds = key.shift ? 60.0 : 5.0;
    const std::string& k = key.name;
    if (k == "space") {
      paused() ? resume() : pause();
    } else if (k == "q" || k == "escape") {
      stop();
    } else if (k == "[" || k == "]" || k == "backspace") {
      // Speed: halve / double within the speed range, backspace back to 1x (pitch kept by atempo).
      const double current = clock_.speed();
      const double next =
          k == "backspace" ? 1.0 : std::clamp(k == "]" ? current * 2.0 : current / 2.0, kMinSpeed, kMaxSpeed);
      set_speed(next);
    } else if (!seekable_) {
      return;  // the rest moves in time: not on live sources
    } else if (k == "right") {
      seek_to_time(position_time_.load() + step_seconds);
    } else if (k == "left") {
      seek_to_time(std::max(0.0, position_time_.load() - step_seconds));
    } else if (k == ".") {
      step(1);
    } else if (k == ",") {
      step(-1);
    } else if (k == "home") {
      seek_to_index(0);
    } else if (k == "end") {
      seek_to_index(frame_count_ - 1);
    }
  } catch (...) {
    record_error(std::current_exception());  // e.g. the Python key hook raised
  }
}

DisplayStatus Player::display_status() {
  DisplayStatus status;
  status.position = position_time_.load();
  status.duration = source_->info().duration;
  status.paused = paused();
  status.speed = clock_.speed();
  status.dropped = stats_.frames_dropped.load();
  return status;
}

void Player::pause() {
  std::lock_guard lock(control_mutex_);
  control_.paused = true;
  clock_.set_paused(true);
  if (audio_playback_) audio_playback_->set_paused(true);
  control_changed_.notify_all();
}

void Player::resume() {
  std::lock_guard lock(control_mutex_);
  control_.paused = false;
  control_.permits = 0;
  clock_.set_paused(false);
  if (audio_playback_) audio_playback_->set_paused(false);
  control_changed_.notify_all();
}

bool Player::paused() const {
  std::lock_guard lock(control_mutex_);
  return control_.paused;
}

void Player::check_speed(double speed) {
  if (!(speed >= kMinSpeed && speed <= kMaxSpeed))
    throw Error(ErrorKind::InvalidArgument,
                "speed must be between " + std::to_string(kMinSpeed) + " and " + std::to_string(kMaxSpeed));
}

void Player::set_speed(double speed) {
  check_speed(speed);
  std::lock_guard lock(control_mutex_);
  clock_.set_speed(speed);
  if (audio_playback_) audio_playback_->set_speed(speed);
}

PlayerPosition Player::position() const {
  return PlayerPosition{position_index_.load(), position_time_.load()};
}

void Player::require_seekable() const {
  if (!seekable_) {
    throw Error(ErrorKind::Source,
                "cannot seek in '" + url_ + "': the source is not seekable (live or piped)");
  }
}

void Player::request_seek_locked(int64_t index) {
  index = std::max<int64_t>(0, std::min(index, frame_count_ - 1));
  control_.seek_to = index;
  control_.seek_serial = ++control_.serial;
  control_.seek_is_loop = false;
  decoded_.discard_before(control_.serial);  // frames queued before the seek are now stale
  control_.target = index;
  if (control_.paused) control_.permits = 1;  // show the frame sought to, then hold
  control_changed_.notify_all();
}

void Player::seek_to_index(int64_t index) {
  require_seekable();
  std::lock_guard lock(control_mutex_);
  request_seek_locked(index);
}

void Player::seek_to_time(double seconds) {
  require_seekable();
  const int64_t index = source_->index_at_time(seconds);
  std::lock_guard lock(control_mutex_);
  request_seek_locked(index);
}

void Player::step(int64_t frames) {
  std::lock_guard lock(control_mutex_);
  control_.paused = true;
  clock_.set_paused(true);
  if (audio_playback_) audio_playback_->set_paused(true);
  if (frames == 0) {
    control_changed_.notify_all();
    return;
  }
  const int64_t base = std::max<int64_t>(control_.target, frames > 0 ? -1 : 0);
  if (frames == 1 && frame_count_ > 0 && base >= frame_count_ - 1 && !control_.seek_to) {
    control_changed_.notify_all();  // already at the last frame: it stays on screen
    return;
  }
  if (frames == 1 && !control_.seek_to) {
    // The next frame in decode order is the one wanted: let exactly one more through.
    ++control_.permits;
    control_.target = frame_count_ > 0 ? std::min(base + 1, frame_count_ - 1) : base + 1;
    control_changed_.notify_all();
    return;
  }
  require_seekable();
  request_seek_locked(base + frames);
}

void Player::record_error(std::exception_ptr error) {
  {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = error;
  }
  stop_requested_.store(true);
  cancel_->cancel();
  {
    std::lock_guard lock(control_mutex_);
    control_changed_.notify_all();
  }
  decoded_.abort();
  to_encode_.abort();
}

bool Player::wait_for_release(const FramePtr& frame) {
  std::unique_lock lock(control_mutex_);
  for (;;) {
    // A pending seek (not a loop restart: the end of this timeline still plays) makes it stale.
    if (stop_requested_.load() || (control_.seek_to && !control_.seek_is_loop)) return false;
    if (control_.paused) {
      if (control_.permits > 0) {  // a step or a seek while paused: release this frame now
        --control_.permits;
        clock_.set(frame->time(), frame->serial());
        return true;
      }
      cancel_->wait(lock, control_changed_, [&] {
        return stop_requested_.load() || control_.seek_to || !control_.paused || control_.permits > 0;
      });
      continue;
    }
    if (frame->serial() != clock_.serial()) {
      clock_.set(frame->time(), frame->serial());  // a new timeline plays on from its first frame
      return true;
    }
    // Audio is the master clock while it plays this timeline.
    const double heard = audio_clock_for(frame->serial());
    if (!std::isnan(heard)) clock_.sync(heard, 0.010);
    // options_.display, not display_: that pointer belongs to the run() thread (see player.hpp).
    const auto wait = clock_.until(frame->time() - (options_.display ? kDisplayLead : 0.0));
    if (wait == MediaClock::Clock::duration::zero()) {
      if (!options_.display) measure_av_drift(frame->time(), frame->serial());
      return true;
    }
    // Wake at least every 20 ms to follow the audio clock.
    const auto slice = audio_playback_ ? std::min<MediaClock::Clock::duration>(wait, std::chrono::milliseconds(20)) : wait;
    cancel_->wait_until(lock, control_changed_,
                        [&] { return stop_requested_.load() || control_.seek_to || control_.paused; },
                        CancelToken::Clock::now() + slice);
  }
}

void Player::source_loop() {
  try {
    if (audio_ || audio_playback_) {
      // Runs on the source's decode thread.
      source_->set_packet_sink([this](AVPacket* packet) {
        const uint64_t serial = packet_serial_.load();
        if (audio_playback_) audio_playback_->write(packet, serial);
        if (!audio_) return;
        UniquePacket held = make_packet();
        av_packet_move_ref(held.get(), packet);
        std::lock_guard lock(audio_mutex_);
        if (serial < held_audio_floor_) return;  // read before a seek
        held_audio_.push_back(std::move(held));
      });
    }
    const bool realtime = options_.mode == PlayerMode::Realtime;
    uint64_t serial = 0;
    if (options_.start > 0) source_->seek_to_time(options_.start);
    bool ended = false;
    while (!stop_requested_.load()) {
      std::optional<int64_t> seek_to;
      bool is_loop = false;
      {
        std::unique_lock lock(control_mutex_);
        // At the end of the source, only a seek (or stop) gives more work. With exit_at_end,
        // the end ends the run once playing: at once, or when resumed. An end reached while
        // paused (End, a seek or step past the end) keeps the last frame up.
        cancel_->wait(lock, control_changed_, [&] {
          return stop_requested_.load() || control_.seek_to || !ended || (options_.exit_at_end && !control_.paused);
        });
        if (stop_requested_.load()) break;
        if (control_.seek_to) {
          seek_to = control_.seek_to;
          serial = control_.seek_serial;
          is_loop = control_.seek_is_loop;
          control_.seek_to.reset();
          control_.seek_is_loop = false;
        } else if (ended) {
          break;  // played to the end: closing decoded_ ends run() after the frames queued
        }
      }
      if (seek_to) {
        // The demuxer moves to the new timeline only with the decode thread (the packet sink)
        // halted, so every audio packet carries the generation of the position it was read at.
        source_->halt();
        if (!is_loop) {
          std::lock_guard lock(audio_mutex_);
          held_audio_floor_ = serial;
          held_audio_.clear();  // audio of the old position (a loop's end is still written)
        }
        if (audio_playback_) audio_playback_->start_generation(serial, source_->time_of_index(*seek_to), !is_loop);
        packet_serial_.store(serial);
        drift_skip_.store(10);
        source_->seek_to_index(*seek_to);
        ++stats_.seeks;
        ended = false;
      }
      FramePtr frame = source_->next();
      if (!frame || (options_.end >= 0 && frame->time() >= options_.end)) {
        if (options_.loop && source_->indexed() && stats_.frames_decoded.load() > 0) {
          // Loop: start over (at `start`), frame-exact like any seek.
          // A new timeline; the frames still queued are the end of the old one and still play.
          std::lock_guard lock(control_mutex_);
          if (!control_.seek_to) {
            control_.seek_to = options_.start > 0 ? source_->index_at_time(options_.start) : 0;
            control_.seek_serial = ++control_.serial;
            control_.seek_is_loop = true;
          }
          continue;
        }
        ended = true;
        decoded_.push(nullptr, serial, cancel_.get());  // end marker: waits for room even in real-time mode
        continue;
      }
      ++stats_.frames_decoded;
      frame->set_serial(static_cast<int64_t>(serial));
      if (realtime) {
        if (!wait_for_release(frame)) continue;  // a seek or stop came first
        const int dropped = decoded_.push_replacing(std::move(frame), serial);
        if (dropped < 0) break;
        stats_.frames_dropped += dropped;
      } else {
        if (!decoded_.push(std::move(frame), serial, cancel_.get())) break;
      }
    }
    source_->halt();  // no audio packet may arrive after this thread ends
    stats_.decode_errors.store(source_->stats().decode_errors);
    decoded_.close();
  } catch (const Error& error) {
    source_->halt();
    if (error.kind() == ErrorKind::Cancelled && stop_requested_.load()) {
      decoded_.close();  // a read cut short by stop() is how stopping works, not a failure
    } else if (error.kind() == ErrorKind::Source || error.kind() == ErrorKind::SourceTimeout) {
      // The source failed (stalled, connection lost): what was decoded before still goes
      // through the hook and into the file; run() raises the error after that.
      {
        std::lock_guard lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      decoded_.close();
    } else {
      record_error(std::current_exception());
    }
  } catch (...) {
    source_->halt();
    record_error(std::current_exception());
  }
}

void Player::encode_loop() {
  try {
    std::vector<UniquePacket> packets;
    const AVRational encoder_tb = encoder_->context()->time_base;
    auto write_all = [&] {
      for (UniquePacket& packet : packets) muxer_->write(packet.get(), video_stream_, encoder_tb);
      packets.clear();
    };
    // The encoder's own reference to each frame's buffers: the Frame itself is shared with
    // Python and the display thread and is never written here (only this reference's pts).
    UniqueFrame to_encoder = make_frame();
    while (auto frame = to_encode_.pop()) {
      const AVFrame* av = (*frame)->av_frame();
      // The file is a forward timeline: frames shown again after a backward seek or step
      // are not written twice.
      if (av->pts != AV_NOPTS_VALUE && av->pts <= last_video_pts_) continue;
      last_video_pts_ = av->pts;
      VS_CHECK(av_frame_ref(to_encoder.get(), av), ErrorKind::Encoder, "referencing a frame to encode");
      if (to_encoder->pts != AV_NOPTS_VALUE) to_encoder->pts -= ts_offset_;
      encoder_->encode(to_encoder.get(), packets);
      av_frame_unref(to_encoder.get());
      write_all();
      ++stats_.frames_encoded;
      video_end_time_ = (*frame)->time() + frame_duration_;
      release_audio(video_end_time_);
    }
    encoder_->encode(nullptr, packets);
    write_all();
  } catch (...) {
    record_error(std::current_exception());
  }
}

void Player::release_audio(double up_to_seconds) {
  const AVRational tb = audio_time_base_;
  const int64_t offset = av_rescale_q(ts_offset_, video_time_base_, tb);
  const int64_t end = options_.end >= 0 ? static_cast<int64_t>(options_.end / av_q2d(tb)) : -1;
  for (;;) {
    UniquePacket packet;
    {
      std::lock_guard lock(audio_mutex_);
      if (held_audio_.empty()) return;
      AVPacket* front = held_audio_.front().get();
      const int64_t ts = front->pts != AV_NOPTS_VALUE ? front->pts : front->dts;
      if (ts != AV_NOPTS_VALUE && ts * av_q2d(tb) >= up_to_seconds) return;
      packet = std::move(held_audio_.front());
      held_audio_.pop_front();
    }
    const int64_t ts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
    if (ts != AV_NOPTS_VALUE) {
      if (ts <= last_audio_ts_) continue;  // already written before a backward seek
      last_audio_ts_ = ts;
    }
    audio_->write(packet.get(), offset, offset, end);
  }
}

void Player::run() {
  {
    std::lock_guard lock(start_mutex_);
    if (ran_) throw Error(ErrorKind::InvalidArgument, "Player.run() can only be called once");
    ran_ = true;  // from here on hook_ and key_hook_ are read-only
  }
  const auto started = std::chrono::steady_clock::now();
  if (muxer_) {
    try {
      muxer_->start();
    } catch (...) {
      record_error(std::current_exception());
    }
  }
  run_started_ = started;
  // The window, for this (run()) thread only; display_ itself is read by others under its mutex.
  Display* shown_on = nullptr;
  if (options_.display) {
    DisplayEvents events;
    events.key = [this](const KeyEvent& key) { handle_key(key); };
    events.seek_fraction = [this](double fraction) {
      if (seekable_) seek_to_time(fraction * source_->info().duration);
    };
    events.close = [this] { stop(); };
    events.status = [this] { return display_status(); };
    events.presented = [this](double frame_time, int64_t serial) { measure_av_drift(frame_time, serial); };
    if (audio_playback_) {
      events.master_time = [this](int64_t serial) { return audio_clock_for(serial); };
      if (options_.mode == PlayerMode::Offline)
        events.hold_audio = [this](bool held) { audio_playback_->set_held(held); };
    }
    DisplayOptions display_options = options_.display_options;
    // The display shows each frame at its time on the (audio-driven) clock; in real-time mode
    // the source releases frames kDisplayLead early so the callback's time is not lag.
    display_options.clock_waits = options_.mode == PlayerMode::Offline;
    try {
      auto display = std::make_unique<Display>(display_options, std::move(events), clock_);
      std::lock_guard lock(display_mutex_);
      display_ = std::move(display);
      shown_on = display_.get();
    } catch (...) {
      if (muxer_) muxer_->finish();
      throw;
    }
  }
  seen_.assign(static_cast<size_t>(frame_count_), false);
  const bool realtime = options_.mode == PlayerMode::Realtime;
  std::thread source_thread([this] { source_loop(); });
  std::thread encode_thread;
  if (encoder_) encode_thread = std::thread([this] { encode_loop(); });

  try {
    for (;;) {
      if (!realtime) {
        // Offline: the source runs ahead into decoded_; pausing holds frames here.
        std::unique_lock lock(control_mutex_);
        cancel_->wait(lock, control_changed_, [&] {
          return stop_requested_.load() || !control_.paused || control_.permits > 0;
        });
        if (stop_requested_.load()) {
          stopped_early_ = true;
          break;
        }
      }
      std::optional<FramePtr> item = decoded_.pop(cancel_.get());
      if (!item) {  // closed: the source finished, or stop()
        if (stop_requested_.load()) stopped_early_ = true;
        break;
      }
      FramePtr frame = std::move(*item);
      if (!frame) continue;  // end marker: the source thread decides whether the run ends
      {
        std::lock_guard lock(control_mutex_);
        if (!realtime && control_.paused && control_.permits > 0) --control_.permits;
        if (!control_.seek_to) control_.target = frame->index();
      }
      const int64_t index = frame->index();
      if (index >= 0 && index < static_cast<int64_t>(seen_.size())) {
        frame->set_revisit(seen_[static_cast<size_t>(index)]);
        seen_[static_cast<size_t>(index)] = true;
      }
      // The first frame of a timeline generation the hook sees (a frame dropped in real time
      // does not start one; a seek, a backward step and a loop restart do).
      frame->set_discontinuity(frame->serial() != hook_serial_);
      hook_serial_ = frame->serial();
      position_index_.store(index);
      position_time_.store(frame->time());
      if (hook_ && !hook_(frame)) stop();
      if (stop_requested_.load()) stopped_early_ = true;
      ++stats_.frames_processed;
      if (shown_on && !stop_requested_.load()) shown_on->show(frame, realtime);
      if (encoder_ && !to_encode_.push(std::move(frame), cancel_.get())) break;
      if (stop_requested_.load()) break;
    }
  } catch (...) {
    // The hook (user code) failed: keep what was already handed to the encoder, so the
    // file holds every frame before the failure.
    {
      std::lock_guard lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    stop();
  }
  // Normal end or stop(): let the encoder finish what it has; on error the queues are aborted.
  stop_requested_.store(true);  // ends the source thread wherever it waits
  cancel_->cancel();            // including inside a network read
  {
    std::lock_guard lock(control_mutex_);
    control_changed_.notify_all();
  }
  decoded_.abort();
  to_encode_.close();
  bool failed = false;
  {
    std::lock_guard lock(error_mutex_);
    failed = error_ != nullptr;
  }
  std::unique_ptr<Display> closing;
  {
    // Joined outside display_mutex_: the display thread may be inside stop(), waiting for it.
    std::lock_guard lock(display_mutex_);
    closing = std::move(display_);
  }
  shown_on = nullptr;
  if (closing) {
    // Normal end: show what is queued, then close; otherwise close now.
    if (stopped_early_ || failed) closing->abort();
    closing->finish();
    frames_shown_at_close_.store(closing->frames_shown());
    display_fps_at_close_.store(closing->fps());
  }
  source_thread.join();
  if (encode_thread.joinable()) encode_thread.join();
  {
    // Give the sound device back now, not when Python frees the Player. Control calls use
    // audio_playback_ under control_mutex_, so none is inside it while it goes.
    std::lock_guard lock(control_mutex_);
    audio_playback_.reset();
  }
  try {
    if (audio_) {
      // Normal end: all of the audio. Stopped or failed: audio up to the last video frame,
      // so the file does not play sound over a frozen picture.
      const bool complete = !stopped_early_ && !error_;
      release_audio(complete ? std::numeric_limits<double>::infinity() : video_end_time_);
      audio_->finish();
    }
  } catch (...) {
    record_error(std::current_exception());
  }
  try {
    if (muxer_) muxer_->finish();  // always: a failed run still leaves a playable file
  } catch (...) {
    record_error(std::current_exception());
  }
  stats_.elapsed.store(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (stats_.av_drift_samples.load() > 0) {
    av_log(nullptr, AV_LOG_INFO, "vistream: A/V drift at most %.1f ms over %lld frames\n",
           stats_.av_drift_max.load() * 1000.0, static_cast<long long>(stats_.av_drift_samples.load()));
  }
  const SourceStats source_stats = source_->stats();
  stats_.decode_errors.store(source_stats.decode_errors);
  stats_.read_errors.store(source_stats.read_errors);
  std::exception_ptr error;
  {
    // Taken out, not copied: a Python exception keeps its traceback, whose frames reference
    // the Python Player that owns this object; kept here, that cycle (invisible to Python's
    // garbage collector) would keep the whole player alive forever.
    std::lock_guard lock(error_mutex_);
    error = std::exchange(error_, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace vistream
