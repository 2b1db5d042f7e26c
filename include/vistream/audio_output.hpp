// Carries the source's audio into the output: stream copy when the container accepts the
// codec and no audio filter is asked for, else decode -> filter graph (user afilter +
// resample to the encoder's format, fixed frame size) -> AAC encode.
#pragma once

#include <string>
#include <vector>

#include "vistream/av_ptr.hpp"

namespace vistream {

class Muxer;

class AudioOutput {
 public:
  AudioOutput(const AVStream* input, Muxer& muxer, const std::string& afilter);

  bool copying() const { return copy_; }
  // Handles one input packet; `offset` (input time base) is subtracted from its timestamps,
  // packets before `start` / at or after `end` (input time base, end<0 = none) are dropped.
  void write(AVPacket* packet, int64_t offset, int64_t start, int64_t end);
  // Drains the decoder/filter/encoder at end of stream.
  void finish();

 private:
  void configure_filter(const AVFrame* first);
  void encode_filtered(bool flush);

  AVRational input_time_base_;  // a copy: the input stream may be freed when the source reopens
  Muxer& muxer_;
  std::string afilter_;
  bool copy_ = false;
  int stream_index_ = -1;
  UniqueCodecContext decoder_;
  UniqueCodecContext encoder_;
  UniqueFilterGraph graph_;
  AVFilterContext* source_ = nullptr;
  AVFilterContext* sink_ = nullptr;
  UniqueFrame frame_;
  int64_t offset_ = 0;
};

}  // namespace vistream
