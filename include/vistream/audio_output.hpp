// Carries the source's audio into the output: stream copy when the container accepts the
// codec and no audio filter is asked for, else decode -> AudioFilterChain (user afilter,
// resampled to the encoder's format, rate and fixed frame size) -> encode with the encoder
// every output's container takes (audio_encoder_for: AAC, else Opus for WebM, else MP2/AC-3).
#pragma once

#include <optional>
#include <string>

#include "vistream/audio_filter_chain.hpp"
#include "vistream/av_ptr.hpp"

namespace vistream {

class Muxer;

// The audio encoder for transcoding into `muxer`'s outputs: the first of aac, libopus, opus,
// mp2, ac3 that this FFmpeg has and every output container lists. Throws Error(Encoder) when
// none fits.
const AVCodec* audio_encoder_for(const Muxer& muxer);

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
  void encode_filtered(bool flush);

  AVRational input_time_base_;  // a copy: the input stream may be freed when the source reopens
  Muxer& muxer_;
  bool copy_ = false;
  int stream_index_ = -1;
  UniqueCodecContext decoder_;
  UniqueCodecContext encoder_;
  std::optional<AudioFilterChain> chain_;  // transcoding only
  UniqueFrame frame_;
  int64_t offset_ = 0;
};

}  // namespace vistream
