// One decoded (and converted) video frame. Holds a reference on FFmpeg's refcounted buffers,
// so handing a Frame around never copies pixels; views (numpy, DLPack) keep a shared_ptr to it.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "vistream/av_ptr.hpp"

namespace vistream {

class Frame;
using FramePtr = std::shared_ptr<Frame>;
struct DeviceImage;  // vistream/cuda_convert.hpp

// A strided tensor view of (part of) a frame's memory, what the DLPack and numpy exporters
// publish. Strides are in elements (DLPack's convention), derived from the frame's pitch.
struct TensorLayout {
  uint8_t* data = nullptr;
  int device_ordinal = -1;  // -1: host memory; else the CUDA device holding it
  int element_bits = 8;     // 8: uint8; 16: uint16 (P010's samples, value in the top 10 bits)
  int ndim = 0;
  int64_t shape[3] = {};
  int64_t strides[3] = {};
};

// Which clock a frame's capture time was read from (best first).
enum class CaptureClock {
  None,                 // unknown (files read offline have no capture moment)
  SenderWallclock,      // the stream's wallclock: RTCP sender reports (AVFormatContext::start_time_realtime)
  WallclockTimestamps,  // pts are the receiver's wallclock (input option use_wallclock_as_timestamps)
  PacketArrival,        // when the demuxer handed over the frame's packet
};

// Ownership: a Frame is filled by the thread that decoded it; from the moment it is handed on
// (to Python, the display, the encoder) its pixels are written only through the views that
// ensure_writable() prepared, by the Python callback, and its AVFrame fields are never
// modified (consumers that need other timestamps take their own av_frame_ref).
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
  // them, e.g. a passthrough yuv420p frame that is also a reference picture). Frames in a
  // stacked format (see below) also end up in the stacked layout, copied into it if they are
  // not already. Must run before any writable view is handed out; idempotent. Afterwards the
  // buffers and data pointers never change. Not thread-safe: its callers serialize it (the
  // bindings only call it with the GIL held; the core never does).
  void ensure_writable();

  // Bytes per pixel for packed formats (gray=1, bgr24=3, rgba=4); 0 for planar formats.
  int packed_channels() const;

  // Device frames (hwaccel cuda with device="cuda"): the pixels are in GPU memory, described
  // by memory_format() (nv12, p010le). Host frames: memory_format() == pixel_format().
  bool on_device() const { return frame_->hw_frames_ctx != nullptr; }
  int device_ordinal() const;  // the CUDA device, -1 for host frames
  AVPixelFormat memory_format() const;
  // One layout per plane: nv12 -> Y (H, W), UV (ceil(H/2), ceil(W/2), 2); p010le the same in
  // uint16; yuv420p -> Y, U, V; packed formats -> (H, W, C) (gray: (H, W)). Host frames must
  // be ensure_writable()'d first. Error(InvalidArgument) for other formats, or a pitch that is
  // not a whole number of elements.
  std::vector<TensorLayout> plane_layouts() const;
  // A host copy of a device frame (av_hwframe_transfer_data), same index/time/serial.
  FramePtr download() const;

  // yuv420p or nv12 with even width and height: after ensure_writable() the planes lie back
  // to back in one buffer with linesize == width (Y, then U and V / interleaved UV), so the
  // OpenCV-style (H*3/2, W) array is a view of the whole picture.
  bool stacked_format() const;
  // Timeline generation (ffplay's serial). A Player numbers its timelines 0, 1, ...: a seek,
  // a backward step and a loop restart start a new one. -1: not from a Player (Reader).
  // Written by the Player's source thread before the frame is shared.
  int64_t serial() const { return serial_; }
  void set_serial(int64_t serial) { serial_ = serial; }
  // True on the first frame of its generation that reaches the frame hook (a frame dropped in
  // real time is not a new generation). Written by the run() thread before the hook sees it.
  bool discontinuity() const { return discontinuity_; }
  void set_discontinuity(bool discontinuity) { discontinuity_ = discontinuity; }
  // The frame's generation was started by a reconnect of a live source: it continues the
  // previous generation in time (a gap while the source was down, not a jump elsewhere), so
  // consumers such as trackers carry their state across. Written by the source thread.
  bool reconnected() const { return reconnected_; }
  void set_reconnected(bool reconnected) { reconnected_ = reconnected; }
  // When the picture was captured, seconds since the Unix epoch (NaN: unknown), by `clock`.
  // Written by the thread that made the frame, before it is shared.
  double capture_time() const { return capture_time_; }
  CaptureClock capture_clock() const { return capture_clock_; }
  void set_capture(double seconds, CaptureClock clock) {
    capture_time_ = seconds;
    capture_clock_ = clock;
  }
  // A Player's device frame: its BGR0 picture on the GPU (converted once, before the hook),
  // the one picture DLPack exports, the callback edits, the window downloads and the encoder
  // takes. Set by the run() thread before the hook sees the frame, then read-only. Null for
  // host frames and Reader frames.
  const std::shared_ptr<DeviceImage>& device_picture() const { return device_picture_; }
  void set_device_picture(std::shared_ptr<DeviceImage> picture) { device_picture_ = std::move(picture); }

 private:
  UniqueFrame frame_;
  int64_t index_;
  double time_;
  bool revisit_ = false;
  bool writable_ = false;
  int64_t serial_ = -1;
  bool discontinuity_ = false;
  bool reconnected_ = false;
  double capture_time_ = NAN;
  CaptureClock capture_clock_ = CaptureClock::None;
  std::shared_ptr<DeviceImage> device_picture_;
};

}  // namespace vistream
