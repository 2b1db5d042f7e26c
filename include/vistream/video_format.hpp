// The description of a stream of video frames that both ends of the pipeline are built for:
// the filter graph's buffer source (what the decoder delivers) and the encoder (what the
// callback hands back). One type, so the two cannot drift apart field by field.
#pragma once

#include "vistream/av_ptr.hpp"

namespace vistream {

struct VideoFormat {
  int width = 0;
  int height = 0;
  AVPixelFormat format = AV_PIX_FMT_NONE;
  AVRational time_base{1, 1};            // of the frames' pts
  AVRational sample_aspect_ratio{0, 1};  // 0/1 = unknown (square pixels assumed)
  AVRational frame_rate{0, 1};           // 0/1 = unknown (variable or not declared)

  bool operator==(const VideoFormat& other) const {
    return width == other.width && height == other.height && format == other.format &&
           av_cmp_q(time_base, other.time_base) == 0 &&
           av_cmp_q(sample_aspect_ratio, other.sample_aspect_ratio) == 0 &&
           av_cmp_q(frame_rate, other.frame_rate) == 0;
  }
  bool operator!=(const VideoFormat& other) const { return !(*this == other); }
};

}  // namespace vistream
