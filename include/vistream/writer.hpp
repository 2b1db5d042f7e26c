// Encodes frames once and writes them to one or more outputs (Muxer): the one encode path of
// the Player's recorder and of vistream.Writer (frames from anywhere: a Reader loop, numpy,
// DLPack). Owns the VideoEncoder and the Muxer; other streams (the Player's audio) are added
// to muxer() before start().
//
// Timestamp guard: the encoder and the muxers need strictly increasing pts. Frames without a
// timestamp get the previous one plus one frame duration (counted in timestamps_filled);
// frames whose pts does not grow — decoders joining a live stream mid-GOP can repeat
// timestamps — are dropped and counted (frames_dropped), never handed to the encoder.
//
// Not thread-safe except muxer() writes (internally locked) and stats() (any thread, never
// waits for an encode or an output): one thread writes frames.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vistream/audio_output.hpp"
#include "vistream/demuxer.hpp"
#include "vistream/muxer.hpp"
#include "vistream/video_encoder.hpp"
#include "vistream/video_format.hpp"

namespace vistream {

struct WriterStats {
  int64_t frames_written = 0;     // frames handed to the encoder
  int64_t frames_dropped = 0;     // frames whose timestamp did not grow (not encoded)
  int64_t timestamps_filled = 0;  // frames without a timestamp, given one
  std::string audio;              // "copy", "transcode", or "" (no audio)
  std::vector<OutputStatus> outputs;
};

class Writer {
 public:
  // `urls`: where to write (first = main output); `options.extra_outputs` are added after
  // them. `frames`: what write() will be handed (size, pixel format, time base, frame rate).
  // Opens the encoder ("auto" candidates as for the Player) and resolves the containers:
  // a bad encoder or output name fails here, before anything is written.
  Writer(std::vector<std::string> urls, const EncoderOptions& options, const VideoFormat& frames);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  const std::string& encoder_name() const { return encoder_->name(); }
  // The encoder itself: its path() ("libx264", "nvenc-device", "download+libx264") and the
  // device-to-host copies of the download path.
  const VideoEncoder& encoder() const { return *encoder_; }
  const VideoFormat& frame_format() const { return frames_; }
  Muxer& muxer() { return *muxer_; }

  // Adds the audio of a media file (its best audio stream) to the outputs: copied when every
  // container takes its codec, else AAC. It is written along the video by time (the audio up to
  // the end of each frame), and cut at the end of the last frame. Before start() only.
  // Throws Error(InvalidArgument) when the file has no audio, Error(Source...) when it cannot open.
  void add_audio_from(const std::string& url);
  // Writes the headers (after every stream was added). Called by the first write() if not before.
  void start();
  // From now on, frames of another size than frame_format()'s are scaled to it (a warning is
  // logged for each new size) instead of refused: what a source that changes size mid-stream
  // (a camera switching resolution, a spliced broadcast) needs, as the ffmpeg CLI does.
  void scale_other_sizes() { scales_other_sizes_ = true; }
  // Encodes one frame (pts in frame_format().time_base, or AV_NOPTS_VALUE). False when the
  // guard dropped it. Throws Error(InvalidArgument) for a frame of another format, or of another
  // size unless scale_other_sizes() was called.
  // `frame` is the caller's own AVFrame (a reference, or a view of its memory): the guard
  // writes its pts; its pixels are only read, before write() returns.
  bool write(AVFrame* frame);
  // Drains the encoder into the outputs (no more frames after this). Idempotent.
  void flush();
  // flush(), then trailers; outputs are closed. Idempotent.
  void finish();

  WriterStats stats() const;  // with each output's status; any thread
  WriterStats counters() const;  // the frame counters only

 private:
  void write_packets();
  // `frame` (another size than frames_) scaled into scaled_, with its properties; returns scaled_.
  AVFrame* scaled_to_output(const AVFrame* frame);
  void release_audio(double up_to_seconds);  // audio packets with a time before this, in order

  VideoFormat frames_;
  std::unique_ptr<Muxer> muxer_;
  std::unique_ptr<VideoEncoder> encoder_;
  int video_stream_ = -1;
  int64_t frame_duration_ = 1;  // frames_.time_base units
  int64_t last_pts_ = INT64_MIN;
  bool started_ = false;
  bool flushed_ = false;
  bool finished_ = false;
  std::vector<UniquePacket> packets_;
  bool scales_other_sizes_ = false;
  const bool device_frames_;  // frames are device pictures (EncoderOptions::device): never scaled here
  UniqueSwsContext scaler_;
  UniqueFrame scaled_;  // reused unless the encoder still holds it
  int scaled_from_width_ = 0, scaled_from_height_ = 0;  // the last size a warning was logged for
  std::unique_ptr<Demuxer> audio_source_;  // null: no audio
  std::unique_ptr<AudioOutput> audio_;
  UniquePacket next_audio_;  // read, not written yet (later than the video so far)
  bool audio_ended_ = false;
  double video_end_ = 0.0;   // seconds: end of the last frame written
  // Written by the writing thread, read by stats() from any thread.
  std::atomic<int64_t> frames_written_{0};
  std::atomic<int64_t> frames_dropped_{0};
  std::atomic<int64_t> timestamps_filled_{0};
};

// Targets for `urls` with the output settings of `options` (format, options, segments).
std::vector<OutputTarget> output_targets(const std::vector<std::string>& urls, const EncoderOptions& options);

}  // namespace vistream
