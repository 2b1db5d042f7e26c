// What the two window threads (the Player's Display and the mosaic's ImageWindow) release when
// they end, in one place so both tear down alike. Include after SDL.h and SDL_ttf.h, in SDL builds.
#pragma once

#include <SDL.h>
#include <SDL_ttf.h>

#include "vistream/sdl_support.hpp"

namespace vistream::sdl {

// Destroys what the window thread created (font, texture, renderer, window; each may be null)
// and leaves every pointer null; quits SDL_ttf only if this window's TTF_Init succeeded
// (ttf_started: SDL_ttf counts init/quit, so another open window keeps its fonts), then stops
// the video subsystem started with start_video().
inline void release_window(SDL_Window*& window, SDL_Renderer*& renderer, SDL_Texture*& texture, TTF_Font*& font,
                           bool& ttf_started) {
  if (font) TTF_CloseFont(font);
  if (texture) SDL_DestroyTexture(texture);
  if (renderer) SDL_DestroyRenderer(renderer);
  if (window) SDL_DestroyWindow(window);
  font = nullptr;
  texture = nullptr;
  renderer = nullptr;
  window = nullptr;
  if (ttf_started) TTF_Quit();
  ttf_started = false;
  stop_video();
}

}  // namespace vistream::sdl
