// The engine: source -> [source thread] -> queue -> [caller's thread: frame hook] -> queue
// -> [encode thread] -> muxer. The caller's thread is the one that runs run(); the hook is
// where the bindings call Python (taking the GIL only there).
//
// Threads and ownership:
//   source thread  owns source_ (demux, decode, filter, seeks); hands audio packets to
//                  held_audio_. In real-time mode it also paces frames by clock_.
//   run() thread   owns the frame hook; pops decoded_, pushes to to_encode_ and display_.
//   display thread (inside Display) owns the window and input; it calls handle_key(),
//                  which only uses the thread-safe control methods.
//   encode thread  owns encoder_ and audio_; writes video packets, then the audio up to them.
//   muxer_ is internally locked; stats_ fields are atomics; error_ is guarded by error_mutex_;
//   control_ (pause, pending seek, step permits, position) is guarded by control_mutex_.
// Control calls (pause/resume/seek/step/stop) come from any thread, including from inside
// the hook. They only change control_ and wake threads; the source thread performs the seek.
//
// Timeline generations (ffplay's serial): the playback is a sequence of timelines numbered
// 0, 1, ...; a seek, a backward step and a loop restart start a new one (control_.serial).
// Every frame (Frame::serial), audio packet (packet_serial_, held_audio_) and audio chunk and
// clock sample (AudioPlayback, MediaClock) carries the generation it belongs to, and every
// consumer acts on a change of generation, never on call order or a gap in indices or time:
// decoded_ discards frames of generations older than a seek without draining; the run() thread
// marks the first frame of each generation it hands to the hook (Frame::discontinuity); the
// clock and the display start over on a frame of another generation and follow the audio
// clock only while it plays the same one; AudioPlayback flushes its decoder on its own thread
// when its packets change generation. 
//
// Stopping: stop() sets stop_requested_ and cancels cancel_, the token every
// blocking call of the player waits through (network I/O, queue and control waits), so no
// thread stays blocked past stop(); a failing thread records the first error and aborts both
// queues. run() always joins its threads and finalizes the file. On the thread that installed
// the token's interrupt check (the bindings: Ctrl-C), a wait throws Error(Interrupted), which
// run() handles like a failing hook: stop, finalize, rethrow.
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
#include <utility>
#include <vector>

#include "vistream/audio_output.hpp"
#include "vistream/audio_playback.hpp"
#include "vistream/blocking_queue.hpp"
#include "vistream/display.hpp"
#include "vistream/media_clock.hpp"
#include "vistream/muxer.hpp"
#include "vistream/video_encoder.hpp"
#include "vistream/video_source.hpp"

namespace vistream {

enum class PlayerMode {
  Offline,   // every frame goes through the hook, as fast as possible
  Realtime,  // frames are released at the media clock; the hook gets the newest, others drop
};

// The one range of playback speeds, checked here and nowhere else (Python reads it from the
// module); the window's [ and ] keys halve and double within it. atempo keeps the pitch at any
// speed in it (chained instances).
inline constexpr double kMinSpeed = 1.0 / 16.0;
inline constexpr double kMaxSpeed = 16.0;

struct PlayerOptions {
  SourceOptions source;
  std::string afilter;
  std::string output;  // empty = no file
  EncoderOptions encoder;
  bool audio = true;
  double start = 0.0;
  double end = -1.0;  // < 0: to the end
  PlayerMode mode = PlayerMode::Offline;
  double speed = 1.0;
  bool start_paused = false;
  // End run() when the source ends while playing (false: stay, so seeks/steps still work
  // until stop()). An end reached while paused (a seek or step past the end) never ends it.
  bool exit_at_end = true;
  bool loop = false;     // at the end, start over (until stop())
  // Play the sound (real-time mode, or offline with a window); it becomes the master clock.
  bool play_audio = false;
  // Open a window (Display) showing the frames after the hook; the constructor throws
  // Error(Generic) with the reason when no window can be opened here.
  bool display = false;
  DisplayOptions display_options;
};

struct PlayerStats {
  std::atomic<int64_t> frames_decoded{0};
  std::atomic<int64_t> frames_processed{0};
  std::atomic<int64_t> frames_encoded{0};
  std::atomic<int64_t> frames_dropped{0};
  std::atomic<int64_t> decode_errors{0};
  std::atomic<int64_t> read_errors{0};
  std::atomic<int64_t> seeks{0};
  std::atomic<double> elapsed{0.0};
  // A/V sync, measured when a frame is shown (released, headless): video pts - audio clock.
  std::atomic<double> av_drift_max{0.0};   // largest |drift|, seconds
  std::atomic<int64_t> av_drift_samples{0};
};

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

  const MediaInfo& info() const { return source_->info(); }  // immutable after open: any thread
  const std::vector<std::string>& unused_input_options() const { return source_->unused_input_options(); }
  // Hooks are set before run(): the run() and display threads call them without a lock, so
  // replacing one while they run would be a data race. Both throw Error(InvalidArgument) once
  // run() has started.
  void set_frame_hook(FrameHook hook);
  void set_key_hook(KeyHook hook);
  void run();

  // Control, thread-safe.
  void stop();
  void pause();
  void resume();
  bool paused() const;
  // Frame-exact: the next frame handed to the hook is exactly this one. Past the end clamps
  // to the last frame. Throws Error(Source) on sources that cannot seek (live).
  void seek_to_index(int64_t index);
  void seek_to_time(double seconds);
  // Pauses, then moves n frames (negative = backward) from the current position.
  void step(int64_t frames);
  void set_speed(double speed);  // InvalidArgument outside [kMinSpeed, kMaxSpeed]
  static void check_speed(double speed);
  double speed() const { return clock_.speed(); }
  PlayerPosition position() const;

  const PlayerStats& stats() const { return stats_; }
  int64_t frames_shown() {
    std::lock_guard lock(display_mutex_);
    return display_ ? display_->frames_shown() : frames_shown_at_close_.load();
  }
  // The window's frames per second over the last second of playback, paused time excluded
  // (what the OSD shows; 0 without a window).
  double display_fps() {
    std::lock_guard lock(display_mutex_);
    return display_ ? display_->fps() : display_fps_at_close_.load();
  }
  std::string encoder_name() const { return encoder_ ? encoder_->name() : std::string(); }
  bool has_audio_output() const { return audio_ != nullptr; }
  // What the sound device plays now: media time (NaN when silent, or no sound is played) and
  // the timeline generation it belongs to (-1 when none). Thread-safe.
  std::pair<double, int64_t> audio_clock() const;
  bool audio_copied() const { return audio_ && audio_->copying(); }
  const std::string& audio_device() const { return audio_device_; }

 private:
  struct Control {
    bool paused = false;
    int64_t permits = 0;               // frames the run() thread may take while paused
    std::optional<int64_t> seek_to;    // pending seek, performed by the source thread
    uint64_t serial = 0;               // newest timeline generation started
    uint64_t seek_serial = 0;          // generation that frames after the pending seek carry
    bool seek_is_loop = false;         // the pending seek restarts the loop: queued frames stay
    int64_t target = -1;               // index the user is at / is going to (for step)
  };

  void source_loop();
  void encode_loop();
  void record_error(std::exception_ptr error);
  void release_audio(double up_to_seconds);
  void request_seek_locked(int64_t index);
  // Real-time pacing: waits until the clock reaches the frame. False if a seek/stop came first.
  bool wait_for_release(const FramePtr& frame);
  void require_seekable() const;
  void handle_key(const KeyEvent& key);  // display thread
  void measure_av_drift(double frame_time, int64_t serial);  // display thread, or source thread headless
  // The audio clock if it plays timeline generation `serial`, else NaN. Any thread.
  double audio_clock_for(int64_t serial) const;
  DisplayStatus display_status();         // display thread

  std::string url_;  // immutable after open
  PlayerOptions options_;
  std::shared_ptr<CancelToken> cancel_;  // immutable pointer; cancelled by stop() and failures
  std::unique_ptr<VideoSource> source_;
  std::unique_ptr<Muxer> muxer_;
  std::unique_ptr<VideoEncoder> encoder_;
  std::unique_ptr<AudioOutput> audio_;
  std::unique_ptr<AudioPlayback> audio_playback_;  // null: no audio track, not asked, or no device
  std::string audio_device_;  // SDL driver that played the sound ("" when none)
  std::atomic<int64_t> drift_skip_{10};  // frames not measured at start and after a seek (clocks settle)
  int video_stream_ = -1;
  AVRational video_time_base_{1, 1};
  int64_t ts_offset_ = 0;  // subtracted from video pts (video time base) so trimmed output starts at 0
  int64_t frame_count_ = 0;  // immutable after open: exact count when indexed, else 0
  // Immutable after open: the source was indexed when opened, so control calls from any
  // thread may seek (index_ never changes after that; source_->indexed() is not read from
  // other threads, since the source thread may build an index late for a start= seek).
  bool seekable_ = false;

  // Generation of the demuxer's position: audio packets read by the source's decode thread
  // (the packet sink) carry it. Written by the source thread only while the decode thread is
  // halted, so no packet read before a seek can carry the generation after it.
  std::atomic<uint64_t> packet_serial_{0};
  // Audio packets wait here (the packet sink pushes) until the encode thread has written the
  // video they accompany; on an early stop the rest is dropped, not written past the video.
  std::mutex audio_mutex_;  // guards held_audio_, held_audio_floor_
  std::deque<UniquePacket> held_audio_;
  uint64_t held_audio_floor_ = 0;  // packets of older generations (before a seek) are not kept
  AVRational audio_time_base_{1, 1};
  int64_t last_audio_ts_ = INT64_MIN;  // encode thread: audio goes forward only
  int64_t last_video_pts_ = INT64_MIN;  // encode thread: video goes forward only
  double video_end_time_ = 0.0;  // encode thread, then run() after join
  double frame_duration_ = 0.0;  // seconds, from the average frame rate

  // Set before run() (set_*_hook refuse afterwards), then read-only: hook_ is called on the
  // run() thread, key_hook_ on the display thread.
  FrameHook hook_;
  KeyHook key_hook_;
  // display_ is protected by display_mutex_: run() creates it before starting the other threads
  // and takes it back (under the lock) before joining them; stop() and frames_shown() read it
  // from any thread under the lock. The run() thread alone uses the Display between the two
  // through a local pointer; the source thread never touches it (it reads options_.display).
  std::mutex display_mutex_;
  std::unique_ptr<Display> display_;
  BlockingQueue<FramePtr> decoded_{6};
  BlockingQueue<FramePtr> to_encode_{6};
  MediaClock clock_;
  mutable std::mutex control_mutex_;
  std::condition_variable control_changed_;  // wakes the source and run() threads
  Control control_;
  std::vector<bool> seen_;  // run() thread: indices already handed to the hook (revisit flag)
  int64_t hook_serial_ = -1;  // run() thread: generation of the last frame handed to the hook
  std::atomic<int64_t> position_index_{-1};
  std::atomic<double> position_time_{0.0};
  std::atomic<bool> stop_requested_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;  // first failure of any thread
  PlayerStats stats_;
  std::mutex start_mutex_;  // protects ran_: run() sets it once, set_*_hook check it
  bool ran_ = false;
  bool stopped_early_ = false;  // run() thread: stop() before the source ended
  std::atomic<int64_t> frames_shown_at_close_{0};
  std::atomic<double> display_fps_at_close_{0.0};
  std::chrono::steady_clock::time_point run_started_;
};

}  // namespace vistream
