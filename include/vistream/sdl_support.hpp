// SDL, and the system libraries it loads (ALSA for sound, libwayland for a Wayland window),
// print their diagnostics straight to stderr: eight "ALSA lib pcm.c:..." lines on every run
// on a machine without a sound card, although SDL then reports the failure itself. This file
// routes all of them into vistream's log (vistream::log), where the level decides: hidden by
// default, shown when the user asks for a verbose log. Nothing here touches file descriptor 2.
#pragma once

#include <mutex>
#include <string>

namespace vistream::sdl {

// Held around every SDL_InitSubSystem / SDL_QuitSubSystem: SDL's subsystem reference counts
// are not thread-safe, and the display thread, a Player's constructor (audio) and the
// window-availability probe may start or stop subsystems at the same time.
std::mutex& init_mutex();

// Call before any SDL_InitSubSystem (idempotent, cheap after the first call):
// - SDL's own log goes to vistream's log at a debug level;
// - ALSA's error lines ("ALSA lib ...") and libwayland's messages go to vistream's log at
//   info level, so `vistream.set_log_level("INFO")` (the CLI's -v) still shows them.
// ALSA and libwayland are not linked: when present they are opened with dlopen and their
// error handlers replaced; the libraries stay loaded so SDL's later dlopen of the same
// library finds the handler in place.
void route_logs();

// Starts SDL's video subsystem on a display the user can see (the Player's window and the
// mosaic's ImageWindow share it). Returns "" on success, else why not. Without SDL_VIDEODRIVER,
// SDL 2.26 silently falls back to its invisible "offscreen" driver when no display works; that
// is no window either, so it is refused (asking for it with SDL_VIDEODRIVER=offscreen or =dummy
// is fine: tests and servers render off screen). Pair a success with stop_video().
std::string start_video();
void stop_video();

// The font the windows draw text with: $VISTREAM_FONT, else the first common system font
// found; nullptr when there is none (the windows then draw no text).
const char* font_path();

}  // namespace vistream::sdl
