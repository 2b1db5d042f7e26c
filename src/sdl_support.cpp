#include "vistream/sdl_support.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "vistream/ffmpeg.hpp"
#include "vistream/log.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#define VS_HAVE_DLOPEN 1
#else
#define VS_HAVE_DLOPEN 0
#endif

#if VS_HAVE_SDL
#include <SDL.h>
#endif

namespace vistream::sdl {
namespace {

std::string format_message(const char* fmt, va_list args) {
  char buffer[1024];
  std::vsnprintf(buffer, sizeof(buffer), fmt ? fmt : "", args);
  std::string text = buffer;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

#if VS_HAVE_SDL
void sdl_log_output(void*, int category, SDL_LogPriority priority, const char* message) {
  (void)category;
  // Debug level: SDL reports the failures that matter through return values, which vistream
  // turns into errors or warnings with SDL_GetError()'s text.
  const int level = priority >= SDL_LOG_PRIORITY_ERROR ? AV_LOG_VERBOSE : AV_LOG_DEBUG;
  log::write(level, std::string("SDL: ") + (message ? message : ""));
}
#endif

#if VS_HAVE_DLOPEN
// alsa/error.h: typedef void (*snd_lib_error_handler_t)(const char *file, int line,
//                   const char *function, int err, const char *fmt, ...);
using AlsaErrorHandler = void (*)(const char*, int, const char*, int, const char*, ...);
using AlsaSetErrorHandler = int (*)(AlsaErrorHandler);
using AlsaStrError = const char* (*)(int);
// alsa/error.h: a thread's "local" handler, through which ALSA silences its own tentative
// lookups (the default handler defers to it; a replacement must too).
using AlsaLocalHandler = void (*)(const char*, int, const char*, int, const char*, va_list);
using AlsaSetLocalHandler = AlsaLocalHandler (*)(AlsaLocalHandler);
// Written once, before the handler is installed.
AlsaStrError g_alsa_strerror = nullptr;
AlsaSetLocalHandler g_alsa_set_local = nullptr;

// The same line ALSA's default handler writes to stderr, into vistream's log instead.
void alsa_error(const char* file, int line, const char* function, int err, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  if (g_alsa_set_local) {
    // Reading the thread-local handler means swapping it out and back (same thread only).
    const AlsaLocalHandler local = g_alsa_set_local(nullptr);
    g_alsa_set_local(local);
    if (local) {
      local(file, line, function, err, fmt, args);
      va_end(args);
      return;
    }
  }
  std::string text = format_message(fmt, args);
  va_end(args);
  std::string out = std::string("ALSA lib ") + (file ? file : "?") + ":" + std::to_string(line) + ":(" +
                    (function ? function : "?") + ") " + text;
  if (err != 0 && g_alsa_strerror) out += std::string(": ") + g_alsa_strerror(err);
  log::write(AV_LOG_INFO, out);
}

// wayland-util.h: typedef void (*wl_log_func_t)(const char *fmt, va_list args);
using WaylandLogHandler = void (*)(const char*, va_list);
using WaylandSetLogHandler = void (*)(WaylandLogHandler);

void wayland_log(const char* fmt, va_list args) {
  log::write(AV_LOG_INFO, "wayland: " + format_message(fmt, args));
}

// Opens `library` for good (never closed: its error handler must outlive every SDL use) and
// returns `symbol` from it, or null when either is missing.
void* symbol_from(const char* library, const char* symbol) {
  void* handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  return handle ? dlsym(handle, symbol) : nullptr;
}

void quiet_system_libraries() {
  if (auto set_handler = reinterpret_cast<AlsaSetErrorHandler>(symbol_from("libasound.so.2",
                                                                         "snd_lib_error_set_handler"))) {
    g_alsa_strerror = reinterpret_cast<AlsaStrError>(symbol_from("libasound.so.2", "snd_strerror"));
    g_alsa_set_local = reinterpret_cast<AlsaSetLocalHandler>(symbol_from("libasound.so.2", "snd_lib_error_set_local"));
    set_handler(alsa_error);
  }
  if (auto set_handler = reinterpret_cast<WaylandSetLogHandler>(symbol_from("libwayland-client.so.0",
                                                                          "wl_log_set_handler_client"))) {
    set_handler(wayland_log);
  }
}
#else
void quiet_system_libraries() {}
#endif

}  // namespace

std::mutex& init_mutex() {
  static std::mutex mutex;
  return mutex;
}

void route_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
#if VS_HAVE_SDL
    SDL_LogSetOutputFunction(sdl_log_output, nullptr);
#endif
    quiet_system_libraries();
  });
#if VS_HAVE_SDL
  // SDL formats only what it would keep: its warnings and errors, and its informational
  // messages too while vistream's log is at debug level.
  SDL_LogSetAllPriority(log::level() >= AV_LOG_DEBUG ? SDL_LOG_PRIORITY_INFO : SDL_LOG_PRIORITY_WARN);
#endif
}

namespace {
const char* env_value(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? value : nullptr;
}
}  // namespace

std::string start_video() {
#if VS_HAVE_SDL
  std::lock_guard lock(init_mutex());
  route_logs();
  const bool driver_requested = env_value("SDL_VIDEODRIVER") != nullptr;
#if defined(__unix__) && !defined(__ANDROID__)
  if (!driver_requested && !env_value("DISPLAY") && !env_value("WAYLAND_DISPLAY"))
    return "no display server (neither DISPLAY nor WAYLAND_DISPLAY is set)";
#endif
  if (SDL_InitSubSystem(SDL_INIT_VIDEO) != 0) return std::string("SDL_Init(SDL_INIT_VIDEO) failed: ") + SDL_GetError();
  const char* driver = SDL_GetCurrentVideoDriver();
  const std::string name = driver ? driver : "";
  if (!driver_requested && (name == "offscreen" || name == "dummy")) {
    SDL_QuitSubSystem(SDL_INIT_VIDEO);
    std::string where;
    if (const char* x11 = env_value("DISPLAY")) where += std::string("DISPLAY='") + x11 + "'";
    if (const char* wayland = env_value("WAYLAND_DISPLAY"))
      where += std::string(where.empty() ? "" : ", ") + "WAYLAND_DISPLAY='" + wayland + "'";
    return "cannot connect to the display server (" + where + "); SDL found no usable video driver";
  }
  return "";
#else
  return "vistream was built without SDL2";
#endif
}

void stop_video() {
#if VS_HAVE_SDL
  std::lock_guard lock(init_mutex());
  SDL_QuitSubSystem(SDL_INIT_VIDEO);
#endif
}

const char* font_path() {
  if (const char* env = env_value("VISTREAM_FONT")) return env;
  static const char* const kCandidates[] = {
      "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
      "/usr/share/fonts/TTF/DejaVuSans.ttf",
      "/usr/share/fonts/dejavu/DejaVuSans.ttf",
      "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
      "/System/Library/Fonts/Helvetica.ttc",
      "C:\\Windows\\Fonts\\arial.ttf",
  };
  for (const char* path : kCandidates) {
    if (FILE* f = std::fopen(path, "rb")) {
      std::fclose(f);
      return path;
    }
  }
  return nullptr;
}

}  // namespace vistream::sdl
