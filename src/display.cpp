#include "vistream/display.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <vector>

#include "vistream/error.hpp"
#include "vistream/sdl_support.hpp"

#if VS_HAVE_SDL
#include <SDL.h>
#include <SDL_ttf.h>

#include "vistream/sdl_window_parts.hpp"
#endif

namespace vistream {

#if VS_HAVE_SDL
namespace {

// Frames later than this (slow callback) are shown at once and the clock waits for them. A
// seek is not guessed from a jump in time: its frames carry a new serial (see due()).
constexpr double kLateThreshold = 0.1;
constexpr Uint32 kOsdVisibleMs = 2000;
// The display clock follows the audio clock when they differ by more than this.
constexpr double kMasterTolerance = 0.010;
// The OSD's fps: frames shown during the last second of playback.
constexpr double kFpsWindow = 1.0;

std::string format_time(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  const int total = static_cast<int>(seconds);
  char buffer[32];
  if (total >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%d:%02d:%02d", total / 3600, (total / 60) % 60, total % 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%02d:%02d", total / 60, total % 60);
  }
  return buffer;
}

Uint32 sdl_format(AVPixelFormat format) {
  switch (format) {
    case AV_PIX_FMT_BGR24: return SDL_PIXELFORMAT_BGR24;
    case AV_PIX_FMT_RGB24: return SDL_PIXELFORMAT_RGB24;
    case AV_PIX_FMT_RGBA: return SDL_PIXELFORMAT_ABGR8888;  // bytes R,G,B,A in memory
    case AV_PIX_FMT_BGRA: return SDL_PIXELFORMAT_ARGB8888;  // bytes B,G,R,A in memory
    case AV_PIX_FMT_BGR0: return SDL_PIXELFORMAT_RGB888;    // bytes B,G,R,X: a device picture's download
    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_GRAY8: return SDL_PIXELFORMAT_IYUV;     // gray: Y plane + neutral chroma
    case AV_PIX_FMT_NV12: return SDL_PIXELFORMAT_NV12;
    default: return SDL_PIXELFORMAT_UNKNOWN;
  }
}

}  // namespace

struct Display::Impl {
  Impl(const DisplayOptions& o, DisplayEvents e, MediaClock& c, std::atomic<int64_t>& shown)
      : options(o), events(std::move(e)), clock(c), frames_shown(shown) {}

  DisplayOptions options;
  DisplayEvents events;
  MediaClock& clock;
  std::atomic<int64_t>& frames_shown;
  BlockingQueue<FramePtr> queue{2};
  std::thread thread;
  std::atomic<bool> quit{false};

  // Display thread only.
  SDL_Window* window = nullptr;
  SDL_Renderer* renderer = nullptr;
  SDL_Texture* texture = nullptr;
  TTF_Font* font = nullptr;
  int font_size = 0;
  bool ttf_started = false;  // this window's TTF_Init succeeded (paired with one TTF_Quit)
  int texture_w = 0, texture_h = 0;
  Uint32 texture_format = 0;
  std::vector<uint8_t> neutral_chroma;
  FramePtr current;
  Uint32 osd_until = 0;
  bool fullscreen = false;
  bool audio_held = false;
  std::atomic<Uint32> wake_event{static_cast<Uint32>(-1)};  // SDL user event: "a frame arrived"
  // Shown-frame rate over unpaused wall time: when frames went on screen during playback;
  // emptied on pause and on resume, so a pause never counts as time without frames.
  std::deque<std::chrono::steady_clock::time_point> shown_at;
  bool was_paused = false;
  std::atomic<double> fps{0.0};  // read by any thread (Display::fps)

  void count_shown_frame();

  void run(std::promise<std::string>& ready);
  void loop();
  bool due(const FramePtr& frame, int* wait_ms);
  void present(const FramePtr& frame);
  void render();
  void draw_osd(int width, int height);
  void handle(const SDL_Event& event);
  SDL_Rect video_rect(int out_w, int out_h) const;
  void cleanup();
};

void Display::Impl::run(std::promise<std::string>& ready) {
  const std::string error = sdl::start_video();
  if (!error.empty()) {
    ready.set_value(error);
    return;
  }
  // The font is optional: when TTF cannot start, no font is opened and the OSD shows the bar only.
  // SDL_ttf counts TTF_Init/TTF_Quit: this window quits only what it started, so closing it
  // leaves the fonts of another window (the mosaic's ImageWindow) working.
  ttf_started = TTF_Init() == 0;
  wake_event.store(SDL_RegisterEvents(1));
  ready.set_value("");
  loop();
  cleanup();
}

void Display::Impl::cleanup() {
  current.reset();
  sdl::release_window(window, renderer, texture, font, ttf_started);
}

void Display::Impl::count_shown_frame() {
  if (clock.paused()) return;  // a step or a seek while paused: not playback
  const auto now = std::chrono::steady_clock::now();
  shown_at.push_back(now);
  while (shown_at.size() > 2 && std::chrono::duration<double>(now - shown_at.front()).count() > kFpsWindow)
    shown_at.pop_front();
  const double span = std::chrono::duration<double>(shown_at.back() - shown_at.front()).count();
  if (shown_at.size() >= 2 && span > 0) fps.store(static_cast<double>(shown_at.size() - 1) / span);
}

bool Display::Impl::due(const FramePtr& frame, int* wait_ms) {
  if (clock.paused()) return true;
  const double t = frame->time();
  if (frame->serial() != clock.serial()) {
    // First frame of a timeline (start, seek, step, loop): the clock starts over from it.
    clock.set(t, frame->serial());
    return true;
  }
  // The audio clock leads only while it plays the same timeline as the picture.
  const double master = events.master_time ? events.master_time(frame->serial()) : NAN;
  if (!std::isnan(master)) clock.sync(master, kMasterTolerance);
  if (audio_held && (std::isnan(master) || t >= master - kMasterTolerance)) {
    audio_held = false;  // the picture caught up with the held sound
    events.hold_audio(false);
  }
  const double now = clock.now();
  if (!options.clock_waits && t <= now + 0.001) return true;  // real time: due or late, show it
  if (t < now - kLateThreshold) {
    // Late (slow callback): show it now; the clock waits for the picture, and the sound is
    // held until the picture has caught up with it.
    if (!std::isnan(master) && events.hold_audio && !audio_held) {
      audio_held = true;
      events.hold_audio(true);
    }
    clock.set(t, frame->serial());
    return true;
  }
  const double ahead_ms = (t - now) / std::max(clock.speed(), 1e-3) * 1000.0;
  if (ahead_ms <= 1.0) return true;
  *wait_ms = std::min(10, static_cast<int>(ahead_ms));
  return false;
}

void Display::Impl::loop() {
  std::optional<FramePtr> pending;
  while (!quit.load()) {
    if (!pending) pending = queue.try_pop();
    int wait_ms = 10;
    if (pending) {
      if (due(*pending, &wait_ms)) {
        present(*pending);
        pending.reset();
        wait_ms = 0;
      }
    } else if (queue.drained()) {
      break;
    }
    if (clock.paused() != was_paused) {
      was_paused = !was_paused;
      shown_at.clear();  // the rate starts afresh; the OSD keeps the last one meanwhile
    }
    SDL_Event event;
    if (wait_ms > 0 ? SDL_WaitEventTimeout(&event, wait_ms) : SDL_PollEvent(&event)) {
      handle(event);
      while (SDL_PollEvent(&event)) handle(event);
    }
    if (window && osd_until && SDL_GetTicks() > osd_until) {
      osd_until = 0;  // OSD just expired: redraw without it
      render();
    } else if (window && osd_until && clock.paused()) {
      render();  // keep the OSD's status current while nothing else redraws
    }
  }
}

SDL_Rect Display::Impl::video_rect(int out_w, int out_h) const {
  // Aspect-correct letterbox in output pixels (HiDPI-safe: the renderer's real size).
  const AVFrame* av = current->av_frame();
  double aspect = static_cast<double>(av->width) / std::max(1, av->height);
  if (av->sample_aspect_ratio.num > 0 && av->sample_aspect_ratio.den > 0) aspect *= av_q2d(av->sample_aspect_ratio);
  int w = out_w, h = static_cast<int>(std::lround(out_w / aspect));
  if (h > out_h) {
    h = out_h;
    w = static_cast<int>(std::lround(out_h * aspect));
  }
  return SDL_Rect{(out_w - w) / 2, (out_h - h) / 2, w, h};
}

void Display::Impl::present(const FramePtr& frame) {
  const AVFrame* av = frame->av_frame();
  const Uint32 format = sdl_format(frame->pixel_format());
  if (format == SDL_PIXELFORMAT_UNKNOWN) return;
  if (!window) {
    Uint32 flags = SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI;
    if (options.fullscreen) flags |= SDL_WINDOW_FULLSCREEN_DESKTOP;
    fullscreen = options.fullscreen;
    window = SDL_CreateWindow(options.title.c_str(), SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, av->width,
                              av->height, flags);
    if (!window) {
      quit.store(true);
      if (events.close) events.close();
      return;
    }
    renderer = SDL_CreateRenderer(window, -1, SDL_RENDERER_ACCELERATED | SDL_RENDERER_PRESENTVSYNC);
    if (!renderer) renderer = SDL_CreateRenderer(window, -1, SDL_RENDERER_SOFTWARE);
    if (!renderer) {
      quit.store(true);
      if (events.close) events.close();
      return;
    }
    SDL_SetRenderDrawBlendMode(renderer, SDL_BLENDMODE_BLEND);
  }
  if (!texture || texture_w != av->width || texture_h != av->height || texture_format != format) {
    if (texture) SDL_DestroyTexture(texture);
    texture = SDL_CreateTexture(renderer, format, SDL_TEXTUREACCESS_STREAMING, av->width, av->height);
    texture_w = av->width;
    texture_h = av->height;
    texture_format = format;
    if (!texture) return;
  }
  switch (frame->pixel_format()) {
    case AV_PIX_FMT_YUV420P:
      SDL_UpdateYUVTexture(texture, nullptr, av->data[0], av->linesize[0], av->data[1], av->linesize[1], av->data[2],
                           av->linesize[2]);
      break;
    case AV_PIX_FMT_GRAY8: {
      const int chroma_w = (av->width + 1) / 2;
      const size_t need = static_cast<size_t>(chroma_w) * ((av->height + 1) / 2);
      if (neutral_chroma.size() < need) neutral_chroma.assign(need, 128);
      SDL_UpdateYUVTexture(texture, nullptr, av->data[0], av->linesize[0], neutral_chroma.data(), chroma_w,
                           neutral_chroma.data(), chroma_w);
      break;
    }
    case AV_PIX_FMT_NV12:
      SDL_UpdateNVTexture(texture, nullptr, av->data[0], av->linesize[0], av->data[1], av->linesize[1]);
      break;
    default:
      SDL_UpdateTexture(texture, nullptr, av->data[0], av->linesize[0]);
  }
  current = frame;
  render();
  ++frames_shown;
  count_shown_frame();
  if (events.presented) events.presented(frame->time(), frame->serial());
}

void Display::Impl::render() {
  if (!renderer) return;
  int out_w = 0, out_h = 0;
  SDL_GetRendererOutputSize(renderer, &out_w, &out_h);
  SDL_SetRenderDrawColor(renderer, 0, 0, 0, 255);
  SDL_RenderClear(renderer);
  if (current && texture) {
    const SDL_Rect dst = video_rect(out_w, out_h);
    SDL_RenderCopy(renderer, texture, nullptr, &dst);
  }
  if (options.osd && osd_until) draw_osd(out_w, out_h);
  SDL_RenderPresent(renderer);
}

void Display::Impl::draw_osd(int width, int height) {
  const DisplayStatus status = events.status ? events.status() : DisplayStatus{};
  const int bar_h = std::max(6, height / 100);
  const int text_px = std::max(12, height / 40);
  const int band_h = bar_h + text_px + 16;
  SDL_Rect band{0, height - band_h, width, band_h};
  SDL_SetRenderDrawColor(renderer, 0, 0, 0, 150);
  SDL_RenderFillRect(renderer, &band);
  SDL_Rect track{8, height - bar_h - 6, width - 16, bar_h};
  SDL_SetRenderDrawColor(renderer, 90, 90, 90, 220);
  SDL_RenderFillRect(renderer, &track);
  if (status.duration > 0) {
    const double fraction = std::clamp(status.position / status.duration, 0.0, 1.0);
    SDL_Rect done{track.x, track.y, static_cast<int>(track.w * fraction), track.h};
    SDL_SetRenderDrawColor(renderer, 240, 240, 240, 255);
    SDL_RenderFillRect(renderer, &done);
  }
  if (status.paused) {  // pause sign, drawn: two bars left of the text
    SDL_SetRenderDrawColor(renderer, 255, 255, 255, 255);
    SDL_Rect a{8, height - band_h + 6, text_px / 4, text_px}, b{8 + text_px / 2, height - band_h + 6, text_px / 4, text_px};
    SDL_RenderFillRect(renderer, &a);
    SDL_RenderFillRect(renderer, &b);
  }
  if (!TTF_WasInit()) return;
  if (!font || font_size != text_px) {
    if (font) TTF_CloseFont(font);
    font = nullptr;
    if (const char* path = sdl::font_path()) font = TTF_OpenFont(path, text_px);
    font_size = text_px;
    if (!font) return;
  }
  char line[256];
  std::snprintf(line, sizeof(line), "%s / %s   %s   %.2gx   %.1f fps   %lld dropped",
                format_time(status.position).c_str(), format_time(status.duration).c_str(),
                status.paused ? "paused" : "playing", status.speed, fps.load(),
                static_cast<long long>(status.dropped));
  SDL_Surface* surface = TTF_RenderUTF8_Blended(font, line, SDL_Color{255, 255, 255, 255});
  if (!surface) return;
  SDL_Texture* text = SDL_CreateTextureFromSurface(renderer, surface);
  if (text) {
    SDL_Rect dst{8 + text_px, height - band_h + 4, surface->w, surface->h};
    SDL_RenderCopy(renderer, text, nullptr, &dst);
    SDL_DestroyTexture(text);
  }
  SDL_FreeSurface(surface);
}

void Display::Impl::handle(const SDL_Event& event) {
  switch (event.type) {
    case SDL_QUIT:
      if (events.close) events.close();
      break;
    case SDL_WINDOWEVENT:
      if (event.window.event == SDL_WINDOWEVENT_CLOSE) {
        if (events.close) events.close();
      } else if (event.window.event == SDL_WINDOWEVENT_EXPOSED ||
                 event.window.event == SDL_WINDOWEVENT_SIZE_CHANGED) {
        render();
      }
      break;
    case SDL_KEYDOWN: {
      KeyEvent key;
      std::string name = SDL_GetKeyName(event.key.keysym.sym);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      key.name = name;
      key.shift = (event.key.keysym.mod & KMOD_SHIFT) != 0;
      key.ctrl = (event.key.keysym.mod & KMOD_CTRL) != 0;
      key.alt = (event.key.keysym.mod & KMOD_ALT) != 0;
      if (key.name == "f" && !key.ctrl && !key.alt && window) {
        fullscreen = !fullscreen;
        SDL_SetWindowFullscreen(window, fullscreen ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0);
      }
      if (events.key) events.key(key);
      osd_until = SDL_GetTicks() + kOsdVisibleMs;
      render();
      break;
    }
    case SDL_MOUSEMOTION:
      osd_until = SDL_GetTicks() + kOsdVisibleMs;
      render();
      break;
    case SDL_MOUSEBUTTONDOWN: {
      if (!window || event.button.button != SDL_BUTTON_LEFT) break;
      int win_w = 0, win_h = 0;
      SDL_GetWindowSize(window, &win_w, &win_h);
      // The progress bar band: the bottom 8% of the window (at least 24 points).
      const int band = std::max(24, win_h * 8 / 100);
      if (event.button.y >= win_h - band && win_w > 0 && events.seek_fraction) {
        events.seek_fraction(std::clamp(static_cast<double>(event.button.x) / win_w, 0.0, 1.0));
      }
      osd_until = SDL_GetTicks() + kOsdVisibleMs;
      break;
    }
    default:
      break;
  }
}

Display::Display(const DisplayOptions& options, DisplayEvents events, MediaClock& clock)
    : impl_(std::make_unique<Impl>(options, std::move(events), clock, frames_shown_)) {
  auto ready = std::make_shared<std::promise<std::string>>();
  std::future<std::string> result = ready->get_future();
  impl_->thread = std::thread([this, ready] { impl_->run(*ready); });
  const std::string error = result.get();
  if (!error.empty()) {
    impl_->thread.join();
    throw Error(ErrorKind::Generic, "cannot open a window: " + error);
  }
}

Display::~Display() {
  abort();
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool Display::show(FramePtr frame, bool replace) {
  if (impl_->quit.load()) return false;
  const bool queued = replace ? impl_->queue.push_replacing(std::move(frame), impl_->queue.serial()) >= 0
                              : impl_->queue.push(std::move(frame));
  // Wake the display thread out of SDL_WaitEventTimeout now rather than at its next poll
  // (up to 10 ms later): in real-time mode that delay would be A/V drift.
  if (queued && impl_->wake_event != static_cast<Uint32>(-1)) {
    SDL_Event wake{};
    wake.type = impl_->wake_event;
    SDL_PushEvent(&wake);
  }
  return queued;
}

void Display::finish() {
  impl_->queue.close();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void Display::abort() {
  impl_->quit.store(true);
  impl_->queue.abort();
}

double Display::fps() const { return impl_->fps.load(); }

bool Display::available(std::string* reason) {
  const std::string error = sdl::start_video();
  if (!error.empty()) {
    if (reason) *reason = error;
    return false;
  }
  sdl::stop_video();
  return true;
}

#else  // built without SDL2

struct Display::Impl {};

Display::Display(const DisplayOptions&, DisplayEvents, MediaClock&) {
  throw Error(ErrorKind::Generic, "this vistream was built without SDL2: no window available "
                                  "(install libsdl2-dev libsdl2-ttf-dev and rebuild)");
}
Display::~Display() = default;
bool Display::show(FramePtr, bool) { return false; }
void Display::finish() {}
void Display::abort() {}
double Display::fps() const { return 0.0; }
bool Display::available(std::string* reason) {
  if (reason) *reason = "this vistream was built without SDL2 (install libsdl2-dev libsdl2-ttf-dev and rebuild)";
  return false;
}

#endif

}  // namespace vistream
