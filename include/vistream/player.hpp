// The engine: source -> [decode thread] -> queue -> [caller's thread: frame hook] -> queue
// -> [encode thread] -> muxer. The caller's thread is the one that runs run(); the hook is
// where the bindings call Python (taking the GIL only there).
//
// Threads and ownership:
//   decode thread  owns source_ (demux, decode, filter); hands audio packets to held_audio_.
//   run() thread   owns the frame hook; pops decoded_, pushes to encode_.
//   encode thread  owns encoder_ and audio_; writes video packets, then the audio up to them.
//   muxer_ is internally locked. stats_ fields are atomics. error_ is guarded by error_mutex_.
// Stopping: stop() sets stop_requested_; any thread failing records the first error and aborts
// both queues, which wakes every waiter. run() always joins both threads and finalizes the file.
#pragma once

#include <atomic>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "vistream/audio_output.hpp"
#include "vistream/blocking_queue.hpp"
#include "vistream/muxer.hpp"
#include "vistream/video_encoder.hpp"
#include "vistream/video_source.hpp"

namespace vistream {

struct PlayerOptions {
  SourceOptions source;
  std::string afilter;
  std::string output;  // empty = no file
  EncoderOptions encoder;
  bool audio = true;
  double start = 0.0;
  double end = -1.0;  // < 0: to the end
};

struct PlayerStats {
  std::atomic<int64_t> frames_decoded{0};
  std::atomic<int64_t> frames_processed{0};
  std::atomic<int64_t> frames_encoded{0};
  std::atomic<int64_t> frames_dropped{0};
  std::atomic<int64_t> decode_errors{0};
  std::atomic<double> elapsed{0.0};
};

class Player {
 public:
  // Called on the run() thread for every frame, in display order. Returns false to stop.
  // Exceptions propagate out of run() after the pipeline is shut down and the file finalized.
  using FrameHook = std::function<bool(const FramePtr&)>;

  Player(const std::string& url, const PlayerOptions& options);
  ~Player();

  const MediaInfo& info() { return source_->info(); }
  void set_frame_hook(FrameHook hook) { hook_ = std::move(hook); }
  void run();
  void stop();  // thread-safe
  const PlayerStats& stats() const { return stats_; }
  std::string encoder_name() const { return encoder_ ? encoder_->name() : std::string(); }
  bool has_audio_output() const { return audio_ != nullptr; }
  bool audio_copied() const { return audio_ && audio_->copying(); }

 private:
  void decode_loop();
  void encode_loop();
  void record_error(std::exception_ptr error);
  // Writes held audio packets that start before `up_to_seconds` (source time).
  void release_audio(double up_to_seconds);

  PlayerOptions options_;
  std::unique_ptr<VideoSource> source_;
  std::unique_ptr<Muxer> muxer_;
  std::unique_ptr<VideoEncoder> encoder_;
  std::unique_ptr<AudioOutput> audio_;
  int video_stream_ = -1;
  AVRational video_time_base_{1, 1};
  int64_t ts_offset_ = 0;  // subtracted from video pts (video time base) so trimmed output starts at 0

  // Audio packets wait here (decode thread pushes) until the encode thread has written the
  // video they accompany; on an early stop the rest is dropped, not written past the video.
  std::mutex audio_mutex_;  // guards held_audio_
  std::deque<UniquePacket> held_audio_;
  AVRational audio_time_base_{1, 1};
  double video_end_time_ = 0.0;  // encode thread, then run() after join
  double frame_duration_ = 0.0;  // seconds, from the average frame rate

  FrameHook hook_;
  BlockingQueue<FramePtr> decoded_{6};
  BlockingQueue<FramePtr> to_encode_{6};
  std::atomic<bool> stop_requested_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;  // first failure of any thread
  PlayerStats stats_;
  bool ran_ = false;
};

}  // namespace vistream
