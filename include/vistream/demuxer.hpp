// Opens a source (file or URL) and reads its packets. Owns the AVFormatContext.
#pragma once

#include <atomic>
#include <string>

#include "vistream/av_ptr.hpp"

namespace vistream {

class Demuxer {
 public:
  // `known_video_stream` >= 0: the source was opened before and this is its video stream
  // index; lets a reopen skip stream probing where the container allows.
  explicit Demuxer(const std::string& url, int known_video_stream = -1);
  Demuxer(const Demuxer&) = delete;
  Demuxer& operator=(const Demuxer&) = delete;

  AVFormatContext* context() const { return ctx_.get(); }
  const std::string& url() const { return url_; }
  int video_stream_index() const { return video_index_; }
  int audio_stream_index() const { return audio_index_; }
  AVStream* video_stream() const;
  AVStream* audio_stream() const;
  bool seekable() const;

  // Reads the next packet of any stream. Returns false at end of input. Read errors other
  // than EOF after the first packet are treated as end of input (a truncated file is still
  // decoded up to the damage) and counted in read_errors().
  bool read(AVPacket* packet);

  // Positions the demuxer at or before `timestamp` (in the video stream's time base).
  void seek(int64_t timestamp);

  // Makes blocking network reads return promptly (called from another thread to stop).
  void interrupt() { interrupted_.store(true); }
  int64_t read_errors() const { return read_errors_; }

 private:
  static int interrupt_callback(void* opaque);

  std::string url_;
  UniqueInputFormatContext ctx_;
  int video_index_ = -1;
  int audio_index_ = -1;
  std::atomic<bool> interrupted_{false};
  std::atomic<int64_t> read_errors_{0};
};

}  // namespace vistream
