// Plays the source's audio through SDL (queue mode, no callback): decode -> AudioFilterChain
// (user afilter, atempo for speed, resampled to the device format) -> SDL_QueueAudio.
// Its clock (the media time being heard now) is the master clock of real-time playback.
//
// Timeline generations (ffplay's serial): every packet written carries the generation of the
// demuxer position it was read at, every chunk queued to the device carries the generation of
// its packet, and clock() says which generation is being heard. start_generation() (seek, loop)
// only records the generation wanted from now on and, for a seek, empties the device queue; the
// writer thread sees packets of the new generation and flushes its own decoder and filter graph
// itself. No thread ever touches another thread's decoder state, so a seek cannot race a write.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "vistream/audio_filter_chain.hpp"
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

  // What clock() measures: the media time being heard and the generation it belongs to.
  struct ClockSample {
    double time = NAN;  // NaN: nothing queued (no authority over time)
    uint64_t serial = 0;
  };

  // Writer thread (the Player's packet sink, on the source's decode thread). Packets of an
  // older generation than the one wanted are dropped; the first packet of a newer generation
  // flushes the decoder and the filter graph first.
  void write(const AVPacket* packet, uint64_t serial);
  // Any thread: only packets of generation `serial` (or newer) are played from now on, samples
  // before `resume_at` seconds are skipped. `discard_queued` drops what the device has not
  // played yet (a seek); false lets it play out first (a loop restart: the end, then the start).
  void start_generation(uint64_t serial, double resume_at, bool discard_queued);
  void set_paused(bool paused);
  // Holds the sound while the picture catches up (offline mode with a slow callback: the clock
  // waits for video). Independent of pause; the device plays only when neither is set.
  void set_held(bool held);
  void set_speed(double speed);  // applied on the next write()
  // The sample playing now: its media time (NaN when nothing is queued) and generation.
  ClockSample clock() const;
  const std::string& device_name() const { return device_name_; }

 private:
  // Audio handed to the device, in queue order: clock() finds the chunk playing now.
  struct Chunk {
    uint64_t serial;
    double media_end;  // media time at the end of the chunk
    uint32_t bytes;
  };

  void queue_filtered(double media_end, uint64_t serial);
  void trim_played_locked(uint32_t queued_bytes) const;

  // Immutable after construction.
  AVRational input_time_base_;
  uint32_t device_ = 0;  // SDL_AudioDeviceID
  int device_rate_ = 0;
  int device_channels_ = 0;
  int device_buffer_samples_ = 0;
  std::string device_name_;

  // Writer thread only (see write()).
  UniqueCodecContext decoder_;
  std::optional<AudioFilterChain> chain_;  // to the device's format; built once it is open
  UniqueFrame frame_;
  UniqueFrame filtered_;
  bool decoding_ = false;         // decoder_/chain_ hold state of generation decoded_serial_
  uint64_t decoded_serial_ = 0;
  double discard_before_ = -1.0;  // seek target (seconds) of decoded_serial_

  std::atomic<double> speed_{1.0};  // any thread; the writer applies it on its next write()

  std::mutex pause_mutex_;  // guards paused_, held_ (and the device pause state they set)
  bool paused_ = false;
  bool held_ = false;

  // Protected by timeline_mutex_: the generation wanted, and the device queue with the chunks
  // describing it (SDL_QueueAudio/ClearQueuedAudio are called only under this lock, so a chunk
  // of a stale generation can never be queued after start_generation() returns).
  mutable std::mutex timeline_mutex_;
  uint64_t wanted_serial_ = 0;
  double resume_at_ = -1.0;
  mutable std::deque<Chunk> chunks_;
  mutable uint64_t chunk_bytes_ = 0;                           // sum of chunks_[i].bytes
  mutable uint32_t last_queued_bytes_ = 0;                     // clock(): to spot drains
  mutable std::chrono::steady_clock::time_point last_drain_{};  // when SDL last took a buffer
};

}  // namespace vistream
