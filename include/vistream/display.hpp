// The player window: one SDL2 window, owned by one thread (the display thread) that also runs
// SDL's event loop. The Player hands it frames through a queue; the display reports user
// input upward only through the callbacks in DisplayEvents (calls go down, signals go up).
//
// Pacing (offline mode): a frame is shown when the media clock reaches its time; if it is
// late (slow callback), it is shown at once and the clock is moved back to it — the clock
// waits, nothing is dropped. In real-time mode frames arrive already paced and are shown on
// arrival. While paused, frames arriving (steps, seeks) are shown at once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "vistream/blocking_queue.hpp"
#include "vistream/frame.hpp"
#include "vistream/media_clock.hpp"

namespace vistream {

struct DisplayOptions {
  std::string title = "vistream";
  bool fullscreen = false;
  bool osd = true;       // progress bar and status line, shown on mouse move, hidden after 2 s
  // Offline: a late frame moves the clock back to it (the clock waits, nothing is dropped).
  // Real-time: a late frame is shown at once and the clock goes on.
  bool clock_waits = true;
};

// What the OSD shows; filled by the Player when asked.
struct DisplayStatus {
  double position = 0.0;   // seconds
  double duration = 0.0;   // seconds, 0 when unknown
  bool paused = false;
  double speed = 1.0;
  int64_t dropped = 0;
};

struct KeyEvent {
  std::string name;  // SDL key name, lower case: "space", "left", "a", "."
  bool shift = false;
  bool ctrl = false;
  bool alt = false;
};

struct DisplayEvents {
  std::function<void(const KeyEvent&)> key;
  std::function<void(double fraction)> seek_fraction;  // click on the progress bar, 0..1
  std::function<void()> close;                         // window closed
  std::function<DisplayStatus()> status;
  std::function<void(double frame_time, int64_t serial)> presented;  // a frame just went on screen
  // Offline pacing with sound: the audio clock for timeline generation `serial` (NaN when none,
  // or while the sound still plays another generation) and a way to hold the sound while late
  // frames catch up with it.
  std::function<double(int64_t serial)> master_time;
  std::function<void(bool)> hold_audio;
};

class Display {
 public:
  // Opens the window's SDL video subsystem on the display thread and waits for the result;
  // throws Error(Generic) with SDL's reason when no window can be opened.
  Display(const DisplayOptions& options, DisplayEvents events, MediaClock& clock);
  ~Display();
  Display(const Display&) = delete;
  Display& operator=(const Display&) = delete;

  // Queues a frame for showing. Blocks while the display is behind (offline back-pressure)
  // unless `replace` (real-time: the newest frame wins). False once closed.
  bool show(FramePtr frame, bool replace);
  // Lets the display thread finish the queued frames, then closes the window.
  void finish();
  // Closes at once (window closed, error, stop).
  void abort();
  int64_t frames_shown() const { return frames_shown_.load(); }
  // Frames shown per second over the last second of playback (the OSD's fps): paused time,
  // and the steps and seeks made while paused, do not count. Kept while paused. Any thread.
  double fps() const;

  // Whether a window can be opened here: starts SDL's video subsystem on the display server
  // and stops it again. False, with the reason (no DISPLAY/WAYLAND_DISPLAY, SDL_Init's
  // error, built without SDL2), otherwise.
  static bool available(std::string* reason);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<int64_t> frames_shown_{0};
};

}  // namespace vistream
