// The Player's transport: what plays, when and how fast — pause, step permits, pending seeks,
// the timeline serial, the clocks (MediaClock, and the sound device's clock while it plays)
// and the position. Every control call of the Player (pause/resume/seek/step/speed/stop,
// from any thread, also from inside the hook or the window's key handler) lands here: it
// only edits the state below under mutex_ and wakes the threads waiting on it; the source
// thread performs seeks, the run() thread honours pauses and permits.
//
// Timeline generations (ffplay's serial): a seek, a backward step and a loop restart start a
// new one (control_.serial). A seek raises decoded_'s floor at once, so frames of the old
// timeline still queued are dropped without draining (a loop restart raises none: the end of
// the old timeline still plays).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "vistream/audio_playback.hpp"
#include "vistream/blocking_queue.hpp"
#include "vistream/cancel_token.hpp"
#include "vistream/frame.hpp"
#include "vistream/media_clock.hpp"

namespace vistream {

class PlayerTransport {
 public:
  // What the transport needs to know about the media, fixed when the Player opened it.
  struct Media {
    std::string url;          // for error messages
    int64_t frame_count = 0;  // exact count when indexed, else 0
    bool seekable = false;    // indexed at open: seeks from any thread are allowed
  };
  // A seek the source thread is to perform.
  struct SeekOrder {
    int64_t index = 0;
    uint64_t serial = 0;   // the generation frames after it carry
    bool is_loop = false;  // a loop restart: what is queued still plays
  };
  // What the source thread does next (see next_source_step()).
  enum class SourceStep { Stop, Seek, Decode, Ended };
  // How wait_for_release() ended.
  enum class Release {
    Stale,        // a seek or stop came first: drop the frame
    Permitted,    // paused, and a step or seek let this one frame through
    NewTimeline,  // first frame of a generation: the clock restarts from it
    OnTime,       // the clock reached the frame
  };

  // `sound`: the device that plays the audio (null: none); its clock is the master while it
  // plays. `decoded`: the queue a seek flushes.
  PlayerTransport(Media media, CancelToken& cancel, BlockingQueue<FramePtr>& decoded,
                  std::unique_ptr<AudioPlayback> sound, double speed, bool start_paused);

  // Control calls, any thread.
  void pause();
  void resume();
  bool paused() const;
  void seek_to_index(int64_t index);  // Error(Source) when not seekable
  void step(int64_t frames);
  void set_speed(double speed);
  double speed() const { return clock_.speed(); }
  void require_seekable() const;
  bool seekable() const { return media_.seekable; }
  int64_t frame_count() const { return media_.frame_count; }

  // Stopping: sticky; cancels the token (every blocking call of the player returns) and wakes
  // the threads waiting on the transport.
  void request_stop();
  bool stop_requested() const { return stop_requested_.load(); }

  // Source thread: waits until there is work. At the end of the media only a seek (or stop)
  // gives more; with `exit_at_end` the end ends the run once playing (at once, or when resumed).
  SourceStep next_source_step(bool ended, bool exit_at_end, SeekOrder* seek);
  // Source thread, at the end with looping on: start over at `index` as a new generation,
  // unless the user asked for a seek meanwhile.
  void request_loop_restart(int64_t index);
  // Source thread, when a live source reconnected: a new generation for the frames of the new
  // connection (what is queued from before the outage still plays). Returns its serial.
  uint64_t start_reconnect_generation();
  // Source thread, real-time mode: waits until the clock reaches `frame` minus `lead` seconds,
  // following the audio clock while it plays the frame's generation.
  Release wait_for_release(const FramePtr& frame, double lead);

  // run() thread, offline mode: waits while paused without a permit. False once stopping.
  bool wait_until_frame_wanted();
  // run() thread: `frame` is handed to the hook now (uses a permit while paused; moves the
  // position and the step target).
  void frame_taken(const Frame& frame, bool uses_permit);
  int64_t position_index() const { return position_index_.load(); }
  double position_time() const { return position_time_.load(); }

  MediaClock& clock() { return clock_; }
  // The sound device, for the packet sink (the source's decode thread) to write to. Null when
  // there is none or once release_sound() ran.
  AudioPlayback* sound() const { return sound_.get(); }
  // The sound device's clock if it plays generation `serial`, else NaN. Source and display
  // threads (they have ended before release_sound()).
  double audio_clock_for(int64_t serial) const;
  // What the device plays now: (media time or NaN, generation or -1). Any thread.
  std::pair<double, int64_t> audio_clock() const;
  // Offline pacing: holds the sound while late pictures catch up. Display thread.
  void hold_sound(bool held);
  // Gives the sound device back. run() thread, after the source and display threads ended.
  void release_sound();

 private:
  // Guarded by mutex_; every change notifies changed_.
  struct Control {
    bool paused = false;
    int64_t permits = 0;             // frames the run() thread may take while paused
    std::optional<int64_t> seek_to;  // pending seek, performed by the source thread
    uint64_t serial = 0;             // newest timeline generation started
    uint64_t seek_serial = 0;        // generation that frames after the pending seek carry
    bool seek_is_loop = false;       // the pending seek restarts the loop: queued frames stay
    int64_t target = -1;             // index the user is at / is going to (for step)
  };

  void request_seek_locked(int64_t index);
  void set_paused_locked(bool paused);

  // Immutable after construction.
  const Media media_;
  CancelToken& cancel_;
  BlockingQueue<FramePtr>& decoded_;  // internally synchronized

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // wakes the source and run() threads
  Control control_;                  // guarded by mutex_
  // The pointer is set at construction and reset only by release_sound() under mutex_. Control
  // calls and audio_clock() use it under mutex_; the packet sink and the source/display
  // threads use it without the lock, which is safe because they end before release_sound().
  std::unique_ptr<AudioPlayback> sound_;

  // Thread-safe on their own.
  MediaClock clock_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<int64_t> position_index_{-1};  // last frame handed to the hook
  std::atomic<double> position_time_{0.0};
};

}  // namespace vistream
