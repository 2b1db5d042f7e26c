// The wiring: opens the components in order, runs the threads, joins them, finalizes the file
// and keeps the first error of any thread. The components are in player_{transport,source,
// recorder,presentation}.cpp; player.hpp says who owns what.
#include "vistream/player.hpp"

#include <chrono>
#include <utility>

#include "vistream/error.hpp"
#include "vistream/cuda_convert.hpp"
#include "vistream/test_hooks.hpp"

namespace vistream {
namespace {

// The options in canonical form and validated (player_options.cpp), and a window that cannot
// be opened here refused, before anything is opened: bad options fail at once.
PlayerOptions opened_options(const PlayerOptions& given, const std::string& url) {
  PlayerOptions options = checked(given, url);
  if (options.display) {
    std::string reason;
    if (!Display::available(&reason)) throw Error(ErrorKind::Generic, "cannot open a window: " + reason);
  }
  return options;
}

// The sound device, when the sound is to be played (real-time, or offline with a window) and
// there is an audio track; none (a warning) when no device can be opened.
std::unique_ptr<AudioPlayback> open_sound(VideoSource& source, const PlayerOptions& options) {
  const AVStream* audio = source.demuxer().audio_stream();
  if (!plays_audio(options) || !audio) return nullptr;
  try {
    auto sound = std::make_unique<AudioPlayback>(audio, options.afilter, options.speed);
    av_log(nullptr, AV_LOG_INFO, "vistream: playing audio through SDL driver '%s'\n", sound->device_name().c_str());
    return sound;
  } catch (const Error& error) {
    av_log(nullptr, AV_LOG_WARNING, "vistream: %s; playing video only\n", error.what());
    return nullptr;
  }
}

PlayerTransport::Media media_of(VideoSource& source, const std::string& url) {
  PlayerTransport::Media media;
  media.url = url;
  media.frame_count = source.indexed_frame_count();
  // Indexed when opened, so control calls from any thread may seek (the index never changes
  // after that; the source thread may still build one late for a start= seek).
  media.seekable = source.indexed();
  return media;
}

}  // namespace

Player::Player(const std::string& url, const PlayerOptions& options, std::shared_ptr<CancelToken> cancel)
    : options_(opened_options(options, url)),
      cancel_(cancel ? std::move(cancel) : std::make_shared<CancelToken>()),
      decoded_(options_.mode == PlayerMode::Realtime ? 1 : 6),
      source_(url, options_, cancel_, stats_),
      transport_(media_of(source_.video_source(), url), *cancel_, decoded_,
                 open_sound(source_.video_source(), options_), options_.speed, options_.start_paused),
      presentation_(*this, transport_, stats_, source_.info().duration) {
  if (const AudioPlayback* sound = transport_.sound()) audio_device_ = sound->device_name();
  if (vistream::frames_device(options_.source.decoder.device, source_.info().hwaccel) != "cpu" && !cuda_kernels_built()) {
    // Device frames are converted to their BGR0 picture on the GPU before the hook.
    throw Error(ErrorKind::Hardware,
                "Player(device='cuda') needs the CUDA conversion kernels, and this vistream was built without them "
                "(VISTREAM_CUDA_KERNELS=OFF or no nvcc): rebuild with them, or use device='cpu'");
  }
  if (!options_.output.empty()) recorder_ = std::make_unique<PlayerRecorder>(options_, source_.video_source(), stats_);
}

std::string Player::frames_device() const {
  return vistream::frames_device(options_.source.decoder.device, source_.info().hwaccel);
}

Player::~Player() {
  stop();
  if (recorder_) recorder_->abort_input();
}

void Player::set_frame_hook(FrameHook hook) {
  std::lock_guard lock(start_mutex_);
  if (ran_) throw Error(ErrorKind::InvalidArgument, "the frame hook cannot be changed once run() has started");
  hook_ = std::move(hook);
}

void Player::set_key_hook(KeyHook hook) {
  std::lock_guard lock(start_mutex_);
  if (ran_) throw Error(ErrorKind::InvalidArgument, "the key hook cannot be changed once run() has started");
  presentation_.set_key_hook(std::move(hook));
}

void Player::set_speed(double speed) {
  validate_speed(speed);
  transport_.set_speed(speed);
}

void Player::seek_to_time(double seconds) {
  transport_.require_seekable();
  transport_.seek_to_index(source_.index_at_time(seconds));
}

void Player::stop() {
  transport_.request_stop();
  // Closes the window without joining its thread (stop() may run on it, or with the GIL held);
  // this also unblocks a run() thread waiting for room in the window's queue.
  presentation_.abort_window();
  decoded_.abort();  // frames not yet handed to the hook are not wanted any more
}

void Player::keep_error(std::exception_ptr error) {
  std::lock_guard lock(error_mutex_);
  if (!error_) error_ = std::move(error);
}

bool Player::failed() {
  std::lock_guard lock(error_mutex_);
  return error_ != nullptr;
}

void Player::record_error(std::exception_ptr error) {
  keep_error(std::move(error));
  transport_.request_stop();
  decoded_.abort();
  if (recorder_) recorder_->abort_input();
}

void Player::source_thread_main() {
  try {
    source_.run(decoded_, transport_, recorder_.get(), presentation_);
  } catch (const Error& error) {
    if (error.kind() == ErrorKind::Cancelled && transport_.stop_requested()) {
      decoded_.close();  // a read cut short by stop() is how stopping works, not a failure
    } else if (error.kind() == ErrorKind::Source || error.kind() == ErrorKind::SourceTimeout) {
      // The source failed (stalled, connection lost): what was decoded before still goes
      // through the hook and into the file; run() raises the error after that.
      keep_error(std::current_exception());
      decoded_.close();
    } else {
      record_error(std::current_exception());
    }
  } catch (...) {
    record_error(std::current_exception());
  }
}

void Player::encode_thread_main() {
  try {
    recorder_->encode_loop();
  } catch (...) {
    record_error(std::current_exception());
  }
}

void Player::run() {
  claim_run();
  const auto started = std::chrono::steady_clock::now();
  start_recording();
  open_window_if_asked();
  hook_loop_.seen.assign(static_cast<size_t>(transport_.frame_count()), false);
  std::thread source_thread([this] { source_thread_main(); });
  std::thread encode_thread;
  if (recorder_) encode_thread = std::thread([this] { encode_thread_main(); });
  hand_frames_to_hook();
  stop_threads_and_close_window(source_thread, encode_thread);
  // Give the sound device back now, not when Python frees the Player.
  transport_.release_sound();
  finalize_file();
  publish_final_stats(started);
  rethrow_first_error();
}

void Player::claim_run() {
  std::lock_guard lock(start_mutex_);
  if (ran_) throw Error(ErrorKind::InvalidArgument, "Player.run() can only be called once");
  ran_ = true;  // from here on the hooks are read-only
}

void Player::start_recording() {
  if (!recorder_) return;
  try {
    recorder_->start();
  } catch (...) {
    record_error(std::current_exception());
  }
}

void Player::open_window_if_asked() {
  if (!options_.display) return;
  const bool realtime = options_.mode == PlayerMode::Realtime;
  try {
    presentation_.open_window(options_.display_options, realtime, /*hold_sound_when_late=*/!realtime);
  } catch (...) {
    if (recorder_) recorder_->finish_file();
    throw;
  }
}

void Player::hand_frames_to_hook() {
  const bool realtime = options_.mode == PlayerMode::Realtime;
  try {
    for (;;) {
      // Offline: the source runs ahead into decoded_; pausing holds frames here.
      if (!realtime && !transport_.wait_until_frame_wanted()) {
        hook_loop_.stopped_early = true;
        break;
      }
      std::optional<FramePtr> item = decoded_.pop(cancel_.get());
      if (!item) {  // closed: the source finished, or stop()
        if (transport_.stop_requested()) hook_loop_.stopped_early = true;
        break;
      }
      if (!*item) continue;  // end marker: the source thread decides whether the run ends
      if (!hand_to_hook(std::move(*item), realtime)) break;
    }
  } catch (...) {
    // The hook (user code) failed: keep what was already handed to the encoder, so the file
    // holds every frame before the failure.
    keep_error(std::current_exception());
    stop();
  }
}

bool Player::hand_to_hook(FramePtr frame, bool realtime) {
  transport_.frame_taken(*frame, /*uses_permit=*/!realtime);
  mark_revisit_and_discontinuity(*frame);
  test_pause_point("frame_hook_call");  // seeded race: hooks being set from other threads
  record_latency(*frame);
  attach_device_picture(*frame);  // device frames: the BGR0 picture hook, window and encoder share
  if (hook_ && !hook_(frame)) stop();
  if (transport_.stop_requested()) hook_loop_.stopped_early = true;
  ++stats_.frames_processed;
  if (!transport_.stop_requested()) presentation_.show(frame, realtime);
  if (recorder_ && !recorder_->push(std::move(frame), cancel_.get())) return false;
  return !transport_.stop_requested();
}

void Player::record_latency(const Frame& frame) {
  if (frame.capture_clock() == CaptureClock::None) return;
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  stats_.latency.record(now - frame.capture_time(), frame.capture_clock());
}

void Player::mark_revisit_and_discontinuity(Frame& frame) {
  const int64_t index = frame.index();
  if (index >= 0 && index < static_cast<int64_t>(hook_loop_.seen.size())) {
    frame.set_revisit(hook_loop_.seen[static_cast<size_t>(index)]);
    hook_loop_.seen[static_cast<size_t>(index)] = true;
  }
  // The first frame of a timeline generation the hook sees (a frame dropped in real time does
  // not start one; a seek, a backward step and a loop restart do).
  frame.set_discontinuity(frame.serial() != hook_loop_.serial);
  hook_loop_.serial = frame.serial();
}

void Player::stop_threads_and_close_window(std::thread& source_thread, std::thread& encode_thread) {
  transport_.request_stop();  // ends the source thread wherever it waits, even inside a network read
  decoded_.abort();
  // Normal end or stop(): the encoder finishes what it has (after an error it was aborted).
  if (recorder_) recorder_->close_input();
  // Normal end: the window shows what is queued, then closes; otherwise it closes now.
  presentation_.close_window(/*immediately=*/hook_loop_.stopped_early || failed());
  source_thread.join();
  if (encode_thread.joinable()) encode_thread.join();
}

void Player::finalize_file() {
  if (!recorder_) return;
  try {
    // Normal end: all of the audio; stopped or failed: up to the last video frame.
    recorder_->finish_audio(/*complete=*/!hook_loop_.stopped_early && !failed());
  } catch (...) {
    record_error(std::current_exception());
  }
  try {
    recorder_->finish_file();  // always: a failed run still leaves a playable file
  } catch (...) {
    record_error(std::current_exception());
  }
}

void Player::publish_final_stats(std::chrono::steady_clock::time_point started) {
  stats_.elapsed.store(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (stats_.av_drift_samples.load() > 0) {
    av_log(nullptr, AV_LOG_INFO, "vistream: A/V drift at most %.1f ms over %lld frames\n",
           stats_.av_drift_max.load() * 1000.0, static_cast<long long>(stats_.av_drift_samples.load()));
  }
  const SourceStats source_stats = source_.stats();
  stats_.decode_errors.store(source_stats.decode_errors);
  stats_.read_errors.store(source_stats.read_errors);
}

void Player::rethrow_first_error() {
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
