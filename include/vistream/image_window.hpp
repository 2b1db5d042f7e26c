// A plain window for pictures made by the caller (a mosaic of many sources, an annotated
// image): show a BGR image with text on top, read the key presses and mouse clicks. Unlike
// Display (the Player's paced video window) it has no clock: the newest picture is shown.
//
// One thread owns SDL's window and event loop (SDL wants that); any thread may call show(),
// poll_events() and close(): the picture is handed over in a mutex-protected slot (newest wins)
// and events come back through a bounded queue. Calls go down, signals go up.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vistream {

// Text drawn over the picture, at (x, y) in the picture's pixels (top-left of the text).
struct WindowText {
  int x = 0;
  int y = 0;
  std::string text;
};

struct WindowEvent {
  std::string kind;  // "key", "click" (left button) or "close" (the window's close button)
  std::string key;   // "key": SDL's key name in lower case ("space", "q", "left")
  // "click": where, in the picture's pixels (-1, -1 outside the picture, in the letterbox)
  int x = -1;
  int y = -1;
};

class ImageWindow {
 public:
  // Opens the window (width x height points) on its own thread and waits for it; throws
  // Error(Generic) with SDL's reason when no window can be opened (no display server...).
  ImageWindow(const std::string& title, int width, int height);
  ~ImageWindow();
  ImageWindow(const ImageWindow&) = delete;
  ImageWindow& operator=(const ImageWindow&) = delete;

  // Copies a packed BGR24 picture (`stride` bytes per row) and shows it, scaled to the window
  // with its aspect kept, with `texts` on top. Returns false once the window is closed.
  bool show(const uint8_t* bgr, int width, int height, int stride, std::vector<WindowText> texts);
  // The events since the last call, oldest first (at most 256 are kept).
  std::vector<WindowEvent> poll_events();
  // Closes the window (idempotent); later show() calls return false.
  void close();
  bool closed() const;
  // Pictures put on screen so far.
  int64_t frames_shown() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vistream
