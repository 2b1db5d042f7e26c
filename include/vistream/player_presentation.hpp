// The Player's presentation: the window (Display) the run() thread hands frames to, what the
// window reports back (keys, clicks on the progress bar, close, the OSD status), the user's
// key hook, and the A/V drift measure (video pts against the sound being heard, taken when a
// frame reaches the screen; headless, when the source releases it).
//
// The display thread (inside Display) only calls back into the Player's thread-safe control
// calls (pause/seek/step/speed/stop), never into the threads' own state.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "vistream/display.hpp"
#include "vistream/frame.hpp"
#include "vistream/player_transport.hpp"

namespace vistream {

class Player;
struct PlayerStats;

class PlayerPresentation {
 public:
  using KeyHook = std::function<bool(const KeyEvent&)>;

  // `player` is the context the window's input controls; `stats` receives the drift measure.
  // `duration` (seconds, 0 unknown) is the OSD's.
  PlayerPresentation(Player& player, PlayerTransport& transport, PlayerStats& stats, double duration);

  // Before run() only (the Player refuses later): the display thread calls it without a lock.
  void set_key_hook(KeyHook hook) { key_hook_ = std::move(hook); }

  // run() thread, before the source thread starts: opens the window. `realtime`: frames come
  // already paced (the clock does not wait for a late one); `hold_sound_when_late`: offline with
  // sound, the device waits while late pictures catch up.
  void open_window(const DisplayOptions& options, bool realtime, bool hold_sound_when_late);
  // run() thread: queues a frame for the window (no-op without one). Blocks while the window
  // is behind unless `replace`.
  void show(FramePtr frame, bool replace);
  // run() thread, at the end: `immediately` closes at once (stop, failure), else the queued
  // frames are shown first. Records frames_shown()/fps() for later queries.
  void close_window(bool immediately);
  // Any thread (stop()): closes the window without joining its thread.
  void abort_window();

  // Any thread.
  int64_t frames_shown();
  double fps();

  // Source thread, on a seek: the clocks settle before drift is measured again.
  void restart_drift_measure() { drift_skip_.store(kDriftSkippedFrames); }
  // Display thread (a frame went on screen), or the source thread headless (released).
  void measure_av_drift(double frame_time, int64_t serial);

 private:
  static constexpr int64_t kDriftSkippedFrames = 10;

  DisplayEvents window_events(bool hold_sound_when_late);
  void handle_key(const KeyEvent& key);  // display thread
  void seek_to_fraction(double fraction);  // display thread
  DisplayStatus status();                  // display thread

  // Immutable after construction.
  Player& player_;
  PlayerTransport& transport_;  // thread-safe
  PlayerStats& stats_;          // atomics
  const double duration_;

  // Set before run(), then read-only: called on the display thread.
  KeyHook key_hook_;

  // Guarded by window_mutex_: open_window() creates it before the other threads start and
  // close_window() takes it back under the lock before joining them; other threads read it
  // only under the lock (stop(), frames_shown()). Never joined while the lock is held: the
  // display thread may be inside stop(), waiting for it.
  std::mutex window_mutex_;
  std::unique_ptr<Display> window_;
  // run() thread only: the same window between open_window() and close_window(), used
  // without the lock (show() may block on the window's queue).
  Display* shown_on_ = nullptr;

  // Any thread (atomics).
  std::atomic<int64_t> drift_skip_{kDriftSkippedFrames};  // frames not measured at start and after a seek
  std::atomic<int64_t> frames_shown_at_close_{0};
  std::atomic<double> fps_at_close_{0.0};
};

}  // namespace vistream
