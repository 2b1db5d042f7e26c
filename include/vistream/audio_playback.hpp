// Plays the source's audio through SDL (queue mode, no callback): decode -> filter graph
// (user afilter, atempo for speed, resample to the device format) -> SDL_QueueAudio.
// Its clock (the media time being heard now) is the master clock of real-time playback.
//
// Threads: write()/flush()/set_speed() run on the source thread; clock(), set_paused() may
// be called from any thread (SDL's queue calls lock the device; own state is atomic/locked).
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <string>

#include "vistream/av_ptr.hpp"

namespace vistream {

class AudioPlayback {
 public:
  // Opens the default audio device. Throws Error(Generic) with SDL's reason when there is
  // none (the Player then plays video only, with a warning).
  AudioPlayback(const AVStream* input, std::string afilter, double speed);
  ~AudioPlayback();
  AudioPlayback(const AudioPlayback&) = delete;
  AudioPlayback& operator=(const AudioPlayback&) = delete;

  void write(const AVPacket* packet);
  // Drops everything queued (seek); samples before `resume_at` seconds are skipped.
  void flush(double resume_at);
  void set_paused(bool paused);
  // Holds the sound while the picture catches up (offline mode with a slow callback: the clock
  // waits for video). Independent of pause; the device plays only when neither is set.
  void set_held(bool held);
  void set_speed(double speed);  // applied on the next write()
  // Media time (seconds) of the sample playing now; NaN when nothing is queued.
  double clock() const;
  const std::string& device_name() const { return device_name_; }

 private:
  void configure_filter(const AVFrame* first);
  void queue_filtered(double media_end);

  AVRational input_time_base_;
  std::string afilter_;
  UniqueCodecContext decoder_;
  UniqueFilterGraph graph_;
  AVFilterContext* source_ = nullptr;
  AVFilterContext* sink_ = nullptr;
  UniqueFrame frame_;
  UniqueFrame filtered_;
  uint32_t device_ = 0;  // SDL_AudioDeviceID
  int device_rate_ = 0;
  int device_channels_ = 0;
  int device_buffer_samples_ = 0;
  std::string device_name_;
  std::atomic<double> speed_{1.0};
  std::mutex pause_mutex_;  // guards paused_, held_ (and the device pause state they set)
  bool paused_ = false;
  bool held_ = false;
  double graph_speed_ = 1.0;     // source thread: the speed the graph was built for
  double discard_before_ = -1.0;  // source thread: seek target (seconds)
  mutable std::mutex clock_mutex_;  // guards queued_end_ (and pairs it with the queue size)
  double queued_end_ = NAN;       // media time at the end of the queued audio
  mutable uint32_t last_queued_bytes_ = 0;                     // clock(): to spot drains
  mutable std::chrono::steady_clock::time_point last_drain_{};  // when SDL last took a buffer
};

}  // namespace vistream
