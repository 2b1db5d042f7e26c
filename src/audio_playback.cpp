#include "vistream/audio_playback.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "vistream/audio_decoder.hpp"
#include "vistream/error.hpp"
#include "vistream/sdl_support.hpp"

#if VS_HAVE_SDL
#include <SDL.h>
#endif

namespace vistream {

#if VS_HAVE_SDL

AudioPlayback::AudioPlayback(const AVStream* input, std::string afilter, double speed)
    : input_time_base_(input->time_base), frame_(make_frame()),
      filtered_(make_frame()), speed_(speed) {
  decoder_ = open_audio_decoder(input);

  // Opening the device is where SDL probes the sound drivers (ALSA prints its failures to
  // stderr unless routed first); SDL's init/quit calls are serialized across threads.
  std::unique_lock sdl_lock(sdl::init_mutex());
  sdl::route_logs();
  if (SDL_InitSubSystem(SDL_INIT_AUDIO) != 0)
    throw Error(ErrorKind::Generic, std::string("no audio output: ") + SDL_GetError());
  AudioChainOutput device_format = AudioChainOutput::for_stream(input->codecpar, AV_SAMPLE_FMT_S16);
  SDL_AudioSpec want{};
  SDL_AudioSpec have{};
  want.freq = device_format.sample_rate;
  want.format = AUDIO_S16SYS;
  want.channels = static_cast<Uint8>(device_format.channels);
  want.samples = 1024;
  device_ = SDL_OpenAudioDevice(nullptr, 0, &want, &have,
                                SDL_AUDIO_ALLOW_FREQUENCY_CHANGE | SDL_AUDIO_ALLOW_CHANNELS_CHANGE);
  if (device_ == 0) {
    const std::string reason = SDL_GetError();
    SDL_QuitSubSystem(SDL_INIT_AUDIO);
    throw Error(ErrorKind::Generic, "no audio output device: " + reason);
  }
  device_rate_ = have.freq;
  device_channels_ = std::max(1, std::min(2, static_cast<int>(have.channels)));
  device_buffer_samples_ = have.samples;
  const char* driver = SDL_GetCurrentAudioDriver();
  device_name_ = driver ? driver : "unknown";
  sdl_lock.unlock();
  device_format.sample_rate = device_rate_;
  device_format.channels = device_channels_;
  chain_.emplace(input_time_base_, std::move(afilter), device_format, "audio playback");
  chain_->set_tempo(speed);
  SDL_PauseAudioDevice(device_, 0);
}

AudioPlayback::~AudioPlayback() {
  if (device_) SDL_CloseAudioDevice(device_);
  std::lock_guard sdl_lock(sdl::init_mutex());
  SDL_QuitSubSystem(SDL_INIT_AUDIO);
}

void AudioPlayback::write(const AVPacket* packet, uint64_t serial) {
  uint64_t wanted = 0;
  double resume_at = -1.0;
  {
    std::lock_guard lock(timeline_mutex_);
    wanted = wanted_serial_;
    resume_at = resume_at_;
  }
  if (serial < wanted) return;  // read before the seek: not to be heard
  if (!decoding_ || serial != decoded_serial_) {
    // A new timeline: this thread's decoder and filter graph still hold the old one's samples.
    avcodec_flush_buffers(decoder_.get());
    chain_->reset();
    decoding_ = true;
    decoded_serial_ = serial;
    discard_before_ = serial == wanted ? resume_at : -1.0;
  }
  if (avcodec_send_packet(decoder_.get(), packet) < 0) return;  // corrupt audio: skip it
  while (avcodec_receive_frame(decoder_.get(), frame_.get()) >= 0) {
    const int64_t pts = frame_->best_effort_timestamp;
    const double start = pts == AV_NOPTS_VALUE ? NAN : pts * av_q2d(input_time_base_);
    const double end = start + static_cast<double>(frame_->nb_samples) / std::max(1, frame_->sample_rate);
    if (!std::isnan(start) && end <= discard_before_) {
      av_frame_unref(frame_.get());
      continue;  // before the seek target: would play ahead of the picture
    }
    chain_->set_tempo(speed_.load());
    chain_->push(frame_.get());
    queue_filtered(end, serial);
  }
}

void AudioPlayback::queue_filtered(double media_end, uint64_t serial) {
  // Under the timeline lock: a seek (start_generation) either happened before, and this stale
  // audio is dropped, or happens after, and clears it from the device with its chunk.
  std::lock_guard lock(timeline_mutex_);
  const bool wanted = serial >= wanted_serial_;
  uint32_t bytes = 0;
  while (chain_->pull(filtered_.get())) {
    const int frame_bytes = filtered_->nb_samples * device_channels_ * 2;
    if (wanted) {
      SDL_QueueAudio(device_, filtered_->data[0], static_cast<Uint32>(frame_bytes));
      bytes += static_cast<uint32_t>(frame_bytes);
    }
    av_frame_unref(filtered_.get());
  }
  if (!wanted || bytes == 0) return;
  // Bounds chunks_ even when nobody calls clock(); the older chunks are what is queued before
  // these bytes (all of them played if SDL already took some of the new ones).
  const Uint32 queued = SDL_GetQueuedAudioSize(device_);
  trim_played_locked(queued > bytes ? queued - bytes : 0);
  if (std::isnan(media_end)) {
    // No timestamp: it follows the previous chunk of its generation.
    const double bytes_per_second = static_cast<double>(device_rate_) * device_channels_ * 2;
    if (chunks_.empty() || chunks_.back().serial != serial) return;  // cannot place it: no clock from it
    media_end = chunks_.back().media_end + bytes / bytes_per_second * speed_.load();
  }
  chunks_.push_back(Chunk{serial, media_end, bytes});
  chunk_bytes_ += bytes;
}

void AudioPlayback::trim_played_locked(uint32_t queued_bytes) const {
  // SDL plays the queue from the front: chunks wholly before the last `queued_bytes` are done.
  while (!chunks_.empty() && chunk_bytes_ - chunks_.front().bytes >= queued_bytes) {
    chunk_bytes_ -= chunks_.front().bytes;
    chunks_.pop_front();
  }
}

void AudioPlayback::start_generation(uint64_t serial, double resume_at, bool discard_queued) {
  std::lock_guard lock(timeline_mutex_);
  if (serial < wanted_serial_) return;
  wanted_serial_ = serial;
  resume_at_ = resume_at;
  if (discard_queued) {
    SDL_ClearQueuedAudio(device_);
    chunks_.clear();
    chunk_bytes_ = 0;
    last_queued_bytes_ = 0;
  }
}

void AudioPlayback::set_paused(bool paused) {
  std::lock_guard lock(pause_mutex_);
  paused_ = paused;
  SDL_PauseAudioDevice(device_, (paused_ || held_) ? 1 : 0);
}

void AudioPlayback::set_held(bool held) {
  std::lock_guard lock(pause_mutex_);
  held_ = held;
  SDL_PauseAudioDevice(device_, (paused_ || held_) ? 1 : 0);
}

void AudioPlayback::set_speed(double speed) { speed_.store(speed); }

AudioPlayback::ClockSample AudioPlayback::clock() const {
  std::lock_guard lock(timeline_mutex_);
  const Uint32 queued_bytes = SDL_GetQueuedAudioSize(device_);
  // Nothing left to play (audio ended, or starved): no authority over time; the player's own
  // clock runs on (a stale value would hold the video back forever).
  if (queued_bytes == 0) return {};
  trim_played_locked(queued_bytes);
  if (chunks_.empty()) return {};
  const Chunk& playing = chunks_.front();
  // Bytes of the playing chunk still queued (the rest of the queue is later chunks).
  const uint64_t later = chunk_bytes_ - playing.bytes;
  const double remaining = queued_bytes > later ? static_cast<double>(queued_bytes - later) : 0.0;
  const double bytes_per_second = static_cast<double>(device_rate_) * device_channels_ * 2;
  // SDL moves audio from the queue to the device one buffer (1024 samples, ~21 ms) at a time,
  // so the queue size alone makes a staircase. Model the buffer being played out since the
  // last drain to get a smooth clock (ffplay does the same with its callback time).
  const auto now = std::chrono::steady_clock::now();
  if (queued_bytes < last_queued_bytes_) last_drain_ = now;
  last_queued_bytes_ = queued_bytes;
  const double buffer = static_cast<double>(device_buffer_samples_) / std::max(1, device_rate_);
  const double since_drain = std::chrono::duration<double>(now - last_drain_).count();
  const double ahead = remaining / bytes_per_second + std::clamp(buffer - since_drain, 0.0, buffer);
  return ClockSample{playing.media_end - ahead * speed_.load(), playing.serial};
}

#else  // built without SDL2

AudioPlayback::AudioPlayback(const AVStream*, std::string, double) {
  throw Error(ErrorKind::Generic, "this vistream was built without SDL2: no audio output");
}
AudioPlayback::~AudioPlayback() = default;
void AudioPlayback::write(const AVPacket*, uint64_t) {}
void AudioPlayback::start_generation(uint64_t, double, bool) {}
void AudioPlayback::set_paused(bool) {}
void AudioPlayback::set_held(bool) {}
void AudioPlayback::set_speed(double) {}
AudioPlayback::ClockSample AudioPlayback::clock() const { return {}; }
void AudioPlayback::queue_filtered(double, uint64_t) {}
void AudioPlayback::trim_played_locked(uint32_t) const {}

#endif

}  // namespace vistream
