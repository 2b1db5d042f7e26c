// SDL, and the system libraries it loads (ALSA for sound, libwayland for a Wayland window),
// print their diagnostics straight to stderr: eight "ALSA lib pcm.c:..." lines on every run
// on a machine without a sound card, although SDL then reports the failure itself. This file
// routes all of them into vistream's log (vistream::log), where the level decides: hidden by
// default, shown when the user asks for a verbose log. Nothing here touches file descriptor 2.
#pragma once

#include <mutex>

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

}  // namespace vistream::sdl
