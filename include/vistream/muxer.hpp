// Writes packets into an output container. Thread-safe: the video encoder thread and the
// demux thread (audio) both write; one mutex guards the AVFormatContext. Packets written
// before the header (streams still being set up) are held and flushed after it.
// The trailer is always written: by finish(), or by the destructor on error paths.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "vistream/av_ptr.hpp"

namespace vistream {

class Muxer {
 public:
  explicit Muxer(const std::string& path);
  ~Muxer();
  Muxer(const Muxer&) = delete;
  Muxer& operator=(const Muxer&) = delete;

  bool needs_global_header() const;
  const AVOutputFormat* format() const { return ctx_->oformat; }
  // Adds a stream fed by an encoder; returns its index.
  int add_stream(const AVCodecContext* encoder);
  // Adds a stream whose packets are copied from an input stream; returns its index.
  int add_copy_stream(const AVStream* input);
  // Opens the file and writes the header (mp4/mov: +faststart).
  void start();
  // Writes a packet whose timestamps are in `time_base`; takes ownership of its data.
  void write(AVPacket* packet, int stream_index, AVRational time_base);
  // Writes the trailer and closes the file. Idempotent.
  void finish();
  // The trailer was written and the file closed without an I/O error: the file is complete.
  // False before finish() and after any failed write (e.g. a full disk): then the file is
  // not playable (an mp4 without its moov) and should not be kept.
  bool finalized() const;

 private:
  mutable std::mutex mutex_;  // guards everything below
  std::string path_;
  UniqueOutputFormatContext ctx_;
  bool started_ = false;
  bool finished_ = false;
  bool write_failed_ = false;  // a packet, the trailer or the close failed
  bool finalized_ = false;
  struct Pending {
    UniquePacket packet;
    int stream_index;
    AVRational time_base;
  };
  std::vector<Pending> pending_;
  void write_locked(AVPacket* packet, int stream_index, AVRational time_base);
};

}  // namespace vistream
