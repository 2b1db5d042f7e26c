#include "vistream/image_window.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

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

constexpr size_t kMaxEvents = 256;

}  // namespace

struct ImageWindow::Impl {
  std::string title;
  int width = 0, height = 0;  // immutable: the window's first size
  std::thread thread;
  std::atomic<bool> quit{false};
  std::atomic<int64_t> shown{0};
  std::atomic<Uint32> wake_event{static_cast<Uint32>(-1)};

  // The next picture, protected by `mutex` (newest wins); events likewise.
  std::mutex mutex;
  bool pending = false;
  std::vector<uint8_t> pixels;  // packed BGR24 rows
  int picture_w = 0, picture_h = 0;
  std::vector<WindowText> texts;
  std::deque<WindowEvent> events;

  // Window thread only.
  SDL_Window* window = nullptr;
  SDL_Renderer* renderer = nullptr;
  SDL_Texture* texture = nullptr;
  TTF_Font* font = nullptr;
  int font_px = 0;
  bool ttf_started = false;
  int texture_w = 0, texture_h = 0;
  std::vector<WindowText> shown_texts;

  void run(std::promise<std::string>& ready);
  void take_picture();
  void render();
  SDL_Rect picture_rect(int out_w, int out_h) const;
  void handle(const SDL_Event& event);
  void push(WindowEvent event);
  void cleanup();
};

void ImageWindow::Impl::run(std::promise<std::string>& ready) {
  const std::string error = sdl::start_video();
  if (!error.empty()) {
    ready.set_value(error);
    return;
  }
  window = SDL_CreateWindow(title.c_str(), SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, width, height,
                            SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI);
  if (window) {
    renderer = SDL_CreateRenderer(window, -1, SDL_RENDERER_ACCELERATED);
    if (!renderer) renderer = SDL_CreateRenderer(window, -1, SDL_RENDERER_SOFTWARE);
  }
  if (!window || !renderer) {
    const std::string reason = std::string("cannot create the window: ") + SDL_GetError();
    cleanup();
    ready.set_value(reason);
    return;
  }
  SDL_SetRenderDrawBlendMode(renderer, SDL_BLENDMODE_BLEND);
  // Optional: without it the text is left out. SDL_ttf counts Init/Quit pairs, so this window's
  // pair leaves another window's fonts alone.
  ttf_started = TTF_Init() == 0;
  wake_event.store(SDL_RegisterEvents(1));
  ready.set_value("");
  render();
  while (!quit.load()) {
    SDL_Event event;
    if (SDL_WaitEventTimeout(&event, 20)) {
      handle(event);
      while (SDL_PollEvent(&event)) handle(event);
    }
    take_picture();
  }
  cleanup();
}

void ImageWindow::Impl::cleanup() { sdl::release_window(window, renderer, texture, font, ttf_started); }

void ImageWindow::Impl::take_picture() {
  std::unique_lock lock(mutex);
  if (!pending) return;
  pending = false;
  if (!texture || texture_w != picture_w || texture_h != picture_h) {
    if (texture) SDL_DestroyTexture(texture);
    texture = SDL_CreateTexture(renderer, SDL_PIXELFORMAT_BGR24, SDL_TEXTUREACCESS_STREAMING, picture_w, picture_h);
    texture_w = picture_w;
    texture_h = picture_h;
  }
  if (texture) SDL_UpdateTexture(texture, nullptr, pixels.data(), picture_w * 3);
  shown_texts = std::move(texts);
  texts.clear();
  lock.unlock();
  render();
  ++shown;
}

SDL_Rect ImageWindow::Impl::picture_rect(int out_w, int out_h) const {
  if (texture_w <= 0 || texture_h <= 0) return SDL_Rect{0, 0, out_w, out_h};
  const double scale = std::min(static_cast<double>(out_w) / texture_w, static_cast<double>(out_h) / texture_h);
  const int w = static_cast<int>(texture_w * scale), h = static_cast<int>(texture_h * scale);
  return SDL_Rect{(out_w - w) / 2, (out_h - h) / 2, w, h};
}

void ImageWindow::Impl::render() {
  int out_w = 0, out_h = 0;
  SDL_GetRendererOutputSize(renderer, &out_w, &out_h);
  SDL_SetRenderDrawColor(renderer, 0, 0, 0, 255);
  SDL_RenderClear(renderer);
  if (texture) {
    const SDL_Rect dst = picture_rect(out_w, out_h);
    SDL_RenderCopy(renderer, texture, nullptr, &dst);
    const int px = std::max(11, out_h / 45);
    if (ttf_started && (!font || font_px != px)) {
      if (font) TTF_CloseFont(font);
      font = nullptr;
      if (const char* path = sdl::font_path()) font = TTF_OpenFont(path, px);
      font_px = px;
    }
    const double scale = texture_w > 0 ? static_cast<double>(dst.w) / texture_w : 1.0;
    for (const WindowText& item : shown_texts) {
      if (!font || item.text.empty()) break;
      SDL_Surface* surface = TTF_RenderUTF8_Blended(font, item.text.c_str(), SDL_Color{255, 255, 255, 255});
      if (!surface) continue;
      SDL_Texture* text = SDL_CreateTextureFromSurface(renderer, surface);
      const SDL_Rect where{dst.x + static_cast<int>(item.x * scale), dst.y + static_cast<int>(item.y * scale),
                           surface->w, surface->h};
      const SDL_Rect band{where.x - 3, where.y - 1, where.w + 6, where.h + 2};
      SDL_SetRenderDrawColor(renderer, 0, 0, 0, 160);  // a dark band keeps the text readable on any picture
      SDL_RenderFillRect(renderer, &band);
      if (text) {
        SDL_RenderCopy(renderer, text, nullptr, &where);
        SDL_DestroyTexture(text);
      }
      SDL_FreeSurface(surface);
    }
  }
  SDL_RenderPresent(renderer);
}

void ImageWindow::Impl::push(WindowEvent event) {
  std::lock_guard lock(mutex);
  if (events.size() >= kMaxEvents) events.pop_front();
  events.push_back(std::move(event));
}

void ImageWindow::Impl::handle(const SDL_Event& event) {
  switch (event.type) {
    case SDL_QUIT:
      push(WindowEvent{"close", "", -1, -1});
      break;
    case SDL_WINDOWEVENT:
      if (event.window.event == SDL_WINDOWEVENT_CLOSE) {
        push(WindowEvent{"close", "", -1, -1});
      } else if (event.window.event == SDL_WINDOWEVENT_EXPOSED || event.window.event == SDL_WINDOWEVENT_SIZE_CHANGED) {
        render();
      }
      break;
    case SDL_KEYDOWN: {
      std::string name = SDL_GetKeyName(event.key.keysym.sym);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      push(WindowEvent{"key", name, -1, -1});
      break;
    }
    case SDL_MOUSEBUTTONDOWN: {
      if (event.button.button != SDL_BUTTON_LEFT) break;
      // Window points -> renderer pixels (HiDPI) -> picture pixels.
      int win_w = 0, win_h = 0, out_w = 0, out_h = 0;
      SDL_GetWindowSize(window, &win_w, &win_h);
      SDL_GetRendererOutputSize(renderer, &out_w, &out_h);
      const double sx = win_w > 0 ? static_cast<double>(out_w) / win_w : 1.0;
      const double sy = win_h > 0 ? static_cast<double>(out_h) / win_h : 1.0;
      const SDL_Rect dst = picture_rect(out_w, out_h);
      const double px = event.button.x * sx - dst.x, py = event.button.y * sy - dst.y;
      WindowEvent click{"click", "", -1, -1};
      if (texture && dst.w > 0 && dst.h > 0 && px >= 0 && py >= 0 && px < dst.w && py < dst.h) {
        click.x = static_cast<int>(px * texture_w / dst.w);
        click.y = static_cast<int>(py * texture_h / dst.h);
      }
      push(std::move(click));
      break;
    }
    default:
      break;
  }
}

ImageWindow::ImageWindow(const std::string& title, int width, int height) : impl_(std::make_unique<Impl>()) {
  if (width <= 0 || height <= 0)
    throw Error(ErrorKind::Generic, "window size must be positive, got " + std::to_string(width) + "x" +
                                        std::to_string(height));
  impl_->title = title;
  impl_->width = width;
  impl_->height = height;
  auto ready = std::make_shared<std::promise<std::string>>();
  std::future<std::string> result = ready->get_future();
  impl_->thread = std::thread([this, ready] { impl_->run(*ready); });
  const std::string error = result.get();
  if (!error.empty()) {
    impl_->thread.join();
    throw Error(ErrorKind::Generic, "cannot open a window: " + error);
  }
}

ImageWindow::~ImageWindow() { close(); }

bool ImageWindow::show(const uint8_t* bgr, int width, int height, int stride, std::vector<WindowText> texts) {
  if (impl_->quit.load()) return false;
  if (width <= 0 || height <= 0 || stride < width * 3)
    throw Error(ErrorKind::Generic, "show() needs an (H, W, 3) picture with W, H > 0");
  {
    std::lock_guard lock(impl_->mutex);
    impl_->pixels.resize(static_cast<size_t>(width) * height * 3);
    for (int row = 0; row < height; ++row)
      std::memcpy(impl_->pixels.data() + static_cast<size_t>(row) * width * 3, bgr + static_cast<size_t>(row) * stride,
                  static_cast<size_t>(width) * 3);
    impl_->picture_w = width;
    impl_->picture_h = height;
    impl_->texts = std::move(texts);
    impl_->pending = true;
  }
  if (impl_->wake_event.load() != static_cast<Uint32>(-1)) {  // show it now, not at the next 20 ms poll
    SDL_Event wake{};
    wake.type = impl_->wake_event.load();
    SDL_PushEvent(&wake);
  }
  return true;
}

std::vector<WindowEvent> ImageWindow::poll_events() {
  std::lock_guard lock(impl_->mutex);
  std::vector<WindowEvent> out(impl_->events.begin(), impl_->events.end());
  impl_->events.clear();
  return out;
}

void ImageWindow::close() {
  impl_->quit.store(true);
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id()) impl_->thread.join();
}

bool ImageWindow::closed() const { return impl_->quit.load(); }

int64_t ImageWindow::frames_shown() const { return impl_->shown.load(); }

#else  // built without SDL2

struct ImageWindow::Impl {};

ImageWindow::ImageWindow(const std::string&, int, int) {
  throw Error(ErrorKind::Generic, "this vistream was built without SDL2: no window available "
                                  "(install libsdl2-dev libsdl2-ttf-dev and rebuild)");
}
ImageWindow::~ImageWindow() = default;
bool ImageWindow::show(const uint8_t*, int, int, int, std::vector<WindowText>) { return false; }
std::vector<WindowEvent> ImageWindow::poll_events() { return {}; }
void ImageWindow::close() {}
bool ImageWindow::closed() const { return true; }
int64_t ImageWindow::frames_shown() const { return 0; }

#endif

}  // namespace vistream
