// The Player's recorder: writes what the hook returned to the output file (options.output).
// It owns the muxer, the video encoder, the audio output, the queue of frames to encode and
// the audio packets held until the video they accompany has been written. Its encode thread
// (encode_loop) writes each frame, then the audio up to that frame's end, so an early stop
// leaves no sound past the last picture; the file is a forward timeline: frames revisited
// after a backward seek are not written again, audio neither.
//
// Trimming: with options.start, timestamps are shifted so the file starts at 0, and with
// options.end audio past the end is dropped (the source thread stops the video there).
//
// Outages of a live source stay in the recording: the source maps a reconnected stream's
// timestamps right after the last ones delivered (one forward timeline for every consumer),
// so the recorder moves the frames (and sound) of each reconnect generation later by the
// wall-clock time the stream was missing: the capture-time gap between the last frame before
// and the first after, minus the media time the mapping left (the source's downtime when
// frames carry no capture time). Players show the last picture over the gap; the file's
// duration is the wall-clock span it covers.
#pragma once

#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "vistream/audio_output.hpp"
#include "vistream/blocking_queue.hpp"
#include "vistream/cancel_token.hpp"
#include "vistream/frame.hpp"
#include "vistream/writer.hpp"
#include "vistream/video_source.hpp"

namespace vistream {

struct PlayerOptions;
struct PlayerStats;

class PlayerRecorder {
 public:
  // Opens the muxer, the encoder and the audio output: a bad encoder name or output extension
  // fails here, before any decoding. `options` and `stats` are the Player's (they outlive this).
  PlayerRecorder(const PlayerOptions& options, VideoSource& source, PlayerStats& stats);

  const std::string& encoder_name() const { return writer_->encoder_name(); }
  const std::string& encoder_path() const { return writer_->encoder().path(); }
  int64_t encoder_device_to_host_bytes() const { return writer_->encoder().device_to_host_bytes(); }
  int64_t encoder_device_to_host_copies() const { return writer_->encoder().device_to_host_copies(); }
  // Each output's state (any thread).
  std::vector<OutputStatus> outputs() const { return writer_->muxer().status(); }
  bool has_audio_output() const { return audio_ != nullptr; }
  bool audio_copied() const { return audio_ && audio_->copying(); }

  // run() thread, before the other threads start: writes the file header.
  void start();

  // The packet sink (the source's decode thread): keeps an audio packet of timeline
  // generation `serial` until the video it accompanies is written.
  void hold_audio(AVPacket* packet, uint64_t serial);
  // Source thread, on a seek to generation `serial` (not a loop restart, whose end is still
  // written): the audio held for the old position is dropped, and any read before the seek.
  void drop_audio_before(uint64_t serial);

  // run() thread: hands a frame to the encode thread (blocks while 6 are queued). False once
  // aborted or cancelled.
  bool push(FramePtr frame, CancelToken* cancel) { return to_encode_.push(std::move(frame), cancel); }
  void close_input() { to_encode_.close(); }  // the encoder finishes what it has
  void abort_input() { to_encode_.abort(); }  // the encoder stops at once (error)

  // The encode thread: encodes and writes until the input is closed (or aborted), then
  // flushes the encoder. Throws what the encoder or the muxer threw.
  void encode_loop();

  // run() thread, after the encode thread ended: writes the held audio (all of it when
  // `complete`, else only up to the last video frame written), then finalizes the file.
  void finish_audio(bool complete);
  void finish_file() { writer_->finish(); }  // always, even after a failure: a playable file
  bool file_finalized() const { return writer_->muxer().finalized(); }  // see Muxer::finalized()

 private:
  void encode_frame(const Frame& frame, AVFrame* encoder_reference);
  // Encode thread: on the first frame of a reconnect generation, adds the outage to gap_.
  void note_outage(const Frame& frame);
  double gap_of_generation(uint64_t serial) const;  // seconds the audio of `serial` moves
  // Writes the held audio up to `up_to_seconds` (media time). Encode thread, or run() after it.
  void release_audio(double up_to_seconds);

  // Immutable after construction (any thread may read them).
  const PlayerOptions& options_;
  PlayerStats& stats_;  // atomics
  std::unique_ptr<Writer> writer_;  // encoder + outputs; written by the encode thread, its muxer by both
  std::unique_ptr<AudioOutput> audio_;  // null: no audio track, or not asked for
  AVRational video_time_base_{1, 1};
  AVRational audio_time_base_{1, 1};
  int64_t ts_offset_ = 0;        // subtracted from video pts (video time base): trimmed output starts at 0
  double frame_duration_ = 0.0;  // seconds, from the average frame rate

  BlockingQueue<FramePtr> to_encode_{6};  // run() thread -> encode thread; internally synchronized

  // Guarded by held_audio_mutex_ (the packet sink pushes, the source thread drops on a seek,
  // the encode thread takes).
  std::mutex held_audio_mutex_;
  struct HeldAudio {
    UniquePacket packet;
    uint64_t serial;  // timeline generation (a reconnect's generation is moved by its gap)
  };
  std::deque<HeldAudio> held_audio_;
  uint64_t held_audio_floor_ = 0;  // packets of older generations (before a seek) are not kept

  // Encode thread only; the run() thread reads and uses them after joining it.
  int64_t last_video_pts_ = INT64_MIN;  // video goes forward only
  int64_t last_audio_ts_ = INT64_MIN;   // audio goes forward only
  double video_end_time_ = 0.0;         // media end of the last frame written
  // Outage gaps (live sources). Encode thread only, then run() after joining it.
  const bool keeps_gaps_;             // immutable: the source is live
  double gap_ = 0.0;                  // seconds added to the source timeline so far
  int64_t gap_serial_ = -1;           // the reconnect generation gap_ last grew for
  std::vector<std::pair<uint64_t, double>> gap_by_serial_;  // (first generation, its gap), ascending
  double last_capture_time_ = NAN;    // of the last frame written (epoch seconds)
  double last_frame_time_ = NAN;      // its media time
  double downtime_counted_ = 0.0;     // stats' downtime already turned into gap (fallback)
};

}  // namespace vistream
