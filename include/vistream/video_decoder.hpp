// Decodes one video stream, on the CPU or through a hardware device (frames are downloaded
// to system memory here; the zero-copy GPU path keeps them on the device).
#pragma once

#include <string>

#include "vistream/av_ptr.hpp"

namespace vistream {

struct DecoderOptions {
  int threads = 0;                 // 0 = FFmpeg picks (one per core)
  std::string hwaccel = "none";    // "none", "auto" (cuda, vaapi, then software), or a device type
};

class VideoDecoder {
 public:
  VideoDecoder(const AVStream* stream, const DecoderOptions& options);

  // Sends a packet (nullptr starts draining). Corrupt packets are counted, not thrown.
  void send(const AVPacket* packet);
  // Fetches the next decoded frame into `frame` (system memory). False when the decoder needs
  // more input or is fully drained.
  bool receive(AVFrame* frame);
  // Forgets all buffered state (after a seek).
  void flush();

  const std::string& hwaccel() const { return hwaccel_name_; }
  AVCodecContext* context() const { return ctx_.get(); }
  int64_t errors() const { return errors_; }

 private:
  bool try_hw_device(AVHWDeviceType type);
  static AVPixelFormat pick_hw_format(AVCodecContext* ctx, const AVPixelFormat* formats);

  UniqueCodecContext ctx_;
  UniqueBufferRef hw_device_;
  UniqueFrame hw_frame_;
  AVPixelFormat hw_pixel_format_ = AV_PIX_FMT_NONE;
  std::string hwaccel_name_ = "none";
  int64_t errors_ = 0;
  bool draining_ = false;
};

}  // namespace vistream
