// The engine: source -> [source thread] -> decoded_ -> [caller's thread: frame hook] ->
// [encode thread] -> file, and -> [display thread] -> window. The caller's thread is the one
// that runs run(); the hook is where the bindings call Python (taking the GIL only there).
//
// The Player is the context (mpv's MPContext) around components that each own their state and
// say on their fields who may touch them (docs/architecture.md, "Player components"):
//   PlayerTransport    (player_transport.hpp)    pause, step permits, pending seeks, the timeline
//                      serial, MediaClock, the sound device's clock, position; every control call
//   PlayerSource       (player_source.hpp)       the VideoSource and the source thread: decoding,
//                      seeks, loop restarts, real-time release, the audio packet sink
//   PlayerRecorder     (player_recorder.hpp)     muxer, encoder, audio output, held audio, the
//                      encode thread, trimming offsets
//   PlayerPresentation (player_presentation.hpp) the window, its keys/clicks/OSD status, the key
//                      hook, the A/V drift measure
//   Player             (player.cpp)              the wiring: opening in order, run() (thread start,
//                      the hook loop, join, finalizing), stop(), the first error of any thread
//
// Control calls (pause/resume/seek/step/speed/stop) come from any thread, including from inside
// the hook and the window's key handler. They only change the transport's state and wake
// threads; the source thread performs the seek.
//
// Timeline generations (ffplay's serial): the playback is a sequence of timelines numbered
// 0, 1, ...; a seek, a backward step and a loop restart start a new one. Every frame
// (Frame::serial), audio packet and audio chunk and clock sample (AudioPlayback, MediaClock)
// carries the generation it belongs to, and every consumer acts on a change of generation,
// never on call order or a gap in indices or time.
//
// Stopping: stop() cancels the token every blocking call of the player waits through (network
// I/O, queue and control waits), so no thread stays blocked past stop(); a failing thread
// records the first error and aborts both queues. run() always joins its threads and
// finalizes the file. On the thread that installed the token's interrupt check (the bindings:
// Ctrl-C), a wait throws Error(Interrupted), which run() handles like a failing hook: stop,
// finalize, rethrow.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "vistream/audio_output.hpp"
#include "vistream/audio_playback.hpp"
#include "vistream/blocking_queue.hpp"
#include "vistream/display.hpp"
#include "vistream/media_clock.hpp"
#include "vistream/muxer.hpp"
#include "vistream/player_options.hpp"
#include "vistream/video_encoder.hpp"
#include "vistream/video_source.hpp"
#include "vistream/player_presentation.hpp"
#include "vistream/player_recorder.hpp"
#include "vistream/player_source.hpp"
#include "vistream/player_transport.hpp"

namespace vistream {

struct PlayerPosition {
  int64_t index = -1;  // last frame handed to the hook (-1 before the first)
  double time = 0.0;
};

class Player {
 public:
  // Called on the run() thread for every frame, in display order. Returns false to stop.
  // Exceptions propagate out of run() after the pipeline is shut down and the file finalized.
  using FrameHook = std::function<bool(const FramePtr&)>;
  // Called on the display thread for every key pressed in the window, before the built-in
  // bindings; returning true means handled (the built-in action is skipped).
  using KeyHook = std::function<bool(const KeyEvent&)>;

  // `cancel`: the token of every blocking call (null: a private one); the caller may install
  // an interrupt check on it before constructing (opening a network source blocks).
  Player(const std::string& url, const PlayerOptions& options, std::shared_ptr<CancelToken> cancel = nullptr);
  ~Player();

  const MediaInfo& info() const { return source_.info(); }  // immutable after open: any thread
  const std::vector<std::string>& unused_input_options() { return source_.video_source().unused_input_options(); }
  // Hooks are set before run(): the run() and display threads call them without a lock, so
  // replacing one while they run would be a data race. Both throw Error(InvalidArgument) once
  // run() has started.
  void set_frame_hook(FrameHook hook);
  void set_key_hook(KeyHook hook);
  // Called on the source thread when a live source is lost or restored (see VideoSource's
  // "Reconnecting"); set before run(), like the other hooks.
  void set_connection_hook(VideoSource::ConnectionListener hook) { source_.set_connection_hook(std::move(hook)); }
  void run();

  // Control, thread-safe.
  void stop();
  void pause() { transport_.pause(); }
  void resume() { transport_.resume(); }
  bool paused() const { return transport_.paused(); }
  // Frame-exact: the next frame handed to the hook is exactly this one. Past the end clamps
  // to the last frame. Throws Error(Source) on sources that cannot seek (live).
  void seek_to_index(int64_t index) { transport_.seek_to_index(index); }
  void seek_to_time(double seconds);
  // Pauses, then moves n frames (negative = backward) from the current position.
  void step(int64_t frames) { transport_.step(frames); }
  void set_speed(double speed);  // InvalidArgument outside [kMinSpeed, kMaxSpeed] (validate_speed)
  double speed() const { return transport_.speed(); }
  PlayerPosition position() const { return PlayerPosition{transport_.position_index(), transport_.position_time()}; }

  const PlayerStats& stats() const { return stats_; }
  DecodedFrameCache::Stats cache_stats() { return source_.video_source().cache_stats(); }  // any thread
  int64_t frames_shown() { return presentation_.frames_shown(); }
  // The window's frames per second over the last second of playback, paused time excluded
  // (what the OSD shows; 0 without a window).
  double display_fps() { return presentation_.fps(); }
  std::string encoder_name() const { return recorder_ ? recorder_->encoder_name() : std::string(); }
  bool has_audio_output() const { return recorder_ && recorder_->has_audio_output(); }
  // What the sound device plays now: media time (NaN when silent, or no sound is played) and
  // the timeline generation it belongs to (-1 when none). Thread-safe.
  std::pair<double, int64_t> audio_clock() const { return transport_.audio_clock(); }
  bool audio_copied() const { return recorder_ && recorder_->audio_copied(); }
  // The output file is complete (trailer written, no write failed); false without an output
  // or before run() ended.
  bool output_finalized() const { return recorder_ && recorder_->file_finalized(); }
  // Each output's state (empty without an output). Any thread.
  std::vector<OutputStatus> outputs() const { return recorder_ ? recorder_->outputs() : std::vector<OutputStatus>{}; }
  const std::string& audio_device() const { return audio_device_; }
  // Device frames (device="cuda"/"auto"): where the frames live ("cpu" or "cuda:N"), how they
  // reach the encoder (VideoEncoder::path(), "" without output) and what its download path
  // copied to the host (the window's downloads are in stats()). Any thread.
  std::string frames_device() const;
  std::string encode_path() const { return recorder_ ? recorder_->encoder_path() : std::string(); }
  int64_t encoder_device_to_host_bytes() const { return recorder_ ? recorder_->encoder_device_to_host_bytes() : 0; }
  int64_t encoder_device_to_host_copies() const { return recorder_ ? recorder_->encoder_device_to_host_copies() : 0; }

 private:
  friend class PlayerPresentation;  // reports the key hook's failures (record_error)

  // The run() thread's own state while it hands frames to the hook.
  struct HookLoop {
    std::vector<bool> seen;   // indices already handed to the hook (the revisit flag)
    int64_t serial = -1;      // generation of the last frame handed to the hook
    bool stopped_early = false;  // stop() before the source ended
  };

  // run(), in order.
  void claim_run();
  void start_recording();
  void open_window_if_asked();
  void hand_frames_to_hook();
  bool hand_to_hook(FramePtr frame, bool realtime);
  void mark_revisit_and_discontinuity(Frame& frame);
  // The frame's capture -> now (the hook starts) into stats_.latency.
  void record_latency(const Frame& frame);
  void stop_threads_and_close_window(std::thread& source_thread, std::thread& encode_thread);
  void finalize_file();
  void publish_final_stats(std::chrono::steady_clock::time_point started);
  void rethrow_first_error();

  // Thread bodies: each records its failure as the run's error.
  void source_thread_main();
  void encode_thread_main();
  // The first failure of any thread wins; stops the run and aborts the queues.
  void record_error(std::exception_ptr error);
  // Keeps the failure to raise from run() without aborting the queues (what was decoded
  // still goes through the hook and into the file).
  void keep_error(std::exception_ptr error);
  bool failed();

  // Immutable after the constructor (any thread reads them; the token itself is thread-safe
  // and is cancelled by stop(), failures and the end of run()).
  const PlayerOptions options_;
  const std::shared_ptr<CancelToken> cancel_;
  PlayerStats stats_;                // atomics: any thread
  BlockingQueue<FramePtr> decoded_;  // source thread -> run() thread; internally synchronized
  // The components, constructed in this order (each needs the ones above it); each says on its
  // own fields who may touch them. recorder_ and audio_device_ are set in the constructor and
  // immutable afterwards.
  PlayerSource source_;
  PlayerTransport transport_;
  PlayerPresentation presentation_;
  std::unique_ptr<PlayerRecorder> recorder_;  // null without an output
  std::string audio_device_;                  // SDL driver that plays the sound ("" when none)

  // Guarded by start_mutex_: run() sets ran_ once; set_*_hook refuse afterwards, so hook_ is
  // read-only (run() thread) from then on.
  std::mutex start_mutex_;
  bool ran_ = false;
  FrameHook hook_;

  HookLoop hook_loop_;  // run() thread only

  // Guarded by error_mutex_: the first failure of any thread; run() takes it out to rethrow.
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace vistream
