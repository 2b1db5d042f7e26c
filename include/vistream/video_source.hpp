// Demux -> decode -> filter for the video stream of one source, with frame-exact seeking.
// Used directly by Reader (pull model) and by Player's decode thread. Not thread-safe:
// one thread drives it; other threads may only call interrupt().
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "vistream/demuxer.hpp"
#include "vistream/frame.hpp"
#include "vistream/frame_index.hpp"
#include "vistream/media_info.hpp"
#include "vistream/video_decoder.hpp"
#include "vistream/video_filter.hpp"

namespace vistream {

struct SourceOptions {
  std::string output_format = "bgr24";
  std::string vfilter;
  DecoderOptions decoder;
};

struct SourceStats {
  int64_t packets_read = 0;
  int64_t frames_decoded = 0;
  int64_t frames_output = 0;
  int64_t decode_errors = 0;  // corrupt packets/frames skipped + read errors
  int64_t seeks = 0;
};

class VideoSource {
 public:
  // Called with every non-video packet read (e.g. audio, for muxing); may be empty.
  using PacketSink = std::function<void(AVPacket*)>;

  VideoSource(const std::string& url, const SourceOptions& options);

  const MediaInfo& info();  // refreshed frame_count once the index is built
  Demuxer& demuxer() { return *demuxer_; }
  // Non-video packets are discarded at the demuxer unless a sink is set.
  void set_packet_sink(PacketSink sink);

  // The next frame in display order, or nullptr at end of stream.
  FramePtr next();

  // After these, next() returns exactly that frame (or nullptr if past the end).
  void seek_to_index(int64_t index);
  void seek_to_time(double seconds);

  // Builds the frame index now (normally lazy: first seek). Returns the exact frame count.
  int64_t count_frames();

  SourceStats stats() const;
  void interrupt() { demuxer_->interrupt(); }

 private:
  void fill_info();
  const FrameIndex& frame_index();
  bool feed_decoder();          // reads packets until one video packet was sent; false at EOF
  bool next_decoded(AVFrame* frame);  // decoded frame honoring the pending seek target
  VideoFilterInput filter_input_for(const AVFrame* frame) const;
  int64_t index_for(int64_t pts);
  bool position_at_keyframe(size_t keyframe_pos);  // seek + verify the landing point
  void reopen();

  std::string url_;
  SourceOptions options_;
  std::unique_ptr<Demuxer> demuxer_;
  std::unique_ptr<VideoDecoder> decoder_;
  std::unique_ptr<VideoFilter> filter_;
  std::optional<FrameIndex> index_;
  MediaInfo info_;
  PacketSink packet_sink_;
  UniquePacket packet_;
  UniqueFrame decoded_;
  AVRational stream_time_base_{1, 1};

  // Seek state: decoded frames with pts < discard_before_pts_ are dropped; when
  // verify_keyframe_dts_ is set the first video packet read must not lie after it.
  std::optional<int64_t> discard_before_pts_;
  std::optional<int64_t> verify_keyframe_dts_;
  bool landed_late_ = false;

  int64_t next_sequential_index_ = 0;
  bool demux_eof_ = false;
  bool decoder_drained_ = false;
  bool filter_eof_sent_ = false;
  SourceStats stats_;
};

}  // namespace vistream
