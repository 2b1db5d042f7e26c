// One decoded (and converted) video frame. Holds a reference on FFmpeg's refcounted buffers,
// so handing a Frame around never copies pixels; views (numpy, DLPack) keep a shared_ptr to it.
#pragma once

#include <cstdint>
#include <memory>

#include "vistream/av_ptr.hpp"

namespace vistream {

class Frame {
 public:
  Frame(UniqueFrame frame, int64_t index, double time);

  AVFrame* av_frame() const { return frame_.get(); }
  int width() const { return frame_->width; }
  int height() const { return frame_->height; }
  AVPixelFormat pixel_format() const { return static_cast<AVPixelFormat>(frame_->format); }
  const char* pixel_format_name() const;
  int64_t index() const { return index_; }
  int64_t pts() const { return frame_->pts; }
  double time() const { return time_; }
  bool revisit() const { return revisit_; }
  void set_revisit(bool revisit) { revisit_ = revisit; }

  // Makes the pixel buffers exclusively ours (copying only when a decoder still references
  // them, e.g. a passthrough yuv420p frame that is also a reference picture). Must run before
  // any writable view is handed out; idempotent.
  void ensure_writable();

  // Bytes per pixel for packed formats (gray=1, bgr24=3, rgba=4); 0 for planar formats.
  int packed_channels() const;

 private:
  UniqueFrame frame_;
  int64_t index_;
  double time_;
  bool revisit_ = false;
  bool writable_ = false;
};

using FramePtr = std::shared_ptr<Frame>;

}  // namespace vistream
