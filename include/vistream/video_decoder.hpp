// Decodes one video stream, on the CPU or through a hardware device (frames are downloaded
// to system memory here; the zero-copy GPU path keeps them on the device).
#pragma once

#include <atomic>
#include <string>

#include "vistream/av_ptr.hpp"
#include "vistream/cuda_device.hpp"

namespace vistream {

struct DecoderOptions {
  int threads = 0;                 // 0 = FFmpeg picks (one per core)
  std::string hwaccel = "none";    // "none", "auto" (cuda, vaapi, then software), or a device type
  // ("cuda:N" picks the CUDA device)
  // Where decoded frames live: "cpu" (downloaded, converted by the filter graph) or "cuda[:N]"
  // (NVDEC frames stay in that device's memory; implies hwaccel cuda on it); "auto": cuda:0
  // when NVDEC opens there, else the CPU with `hwaccel` (hwaccel_note() says why); an explicit
  // non-CUDA hwaccel ("vaapi") keeps "auto" on the CPU.
  std::string device = "cpu";
  // Low latency (SourceOptions::low_latency): AV_CODEC_FLAG_LOW_DELAY, and slice threads only:
  // frame threads hold back one frame per extra thread before the first comes out.
  bool low_delay = false;
  // Slice threads only (no frame threads, no held-back frames) without the LOW_DELAY flag: the
  // default for live sources played in real time (VideoSource), where each frame held back by a
  // frame thread is latency.
  bool slice_threads = false;
};

class VideoDecoder {
 public:
  VideoDecoder(const AVStream* stream, const DecoderOptions& options);

  // Sends a packet (nullptr starts draining). Corrupt packets are counted, not thrown.
  // `skip_if_nonref`: the caller does not want this frame and no later frame needs it unless it
  // is a reference, so a non-reference frame (a B-frame no other frame predicts from; the
  // references of a B-pyramid are still decoded) is not decoded at all. Decoders that cannot
  // tell reliably decode it anyway (see skips_nonref()).
  void send(const AVPacket* packet, bool skip_if_nonref = false);
  // Fetches the next decoded frame into `frame` (system memory). False when the decoder needs
  // more input or is fully drained.
  bool receive(AVFrame* frame);
  // Forgets all buffered state (after a seek).
  void flush();

  // The device in use; "none" when the device could not take this stream after all.
  std::string hwaccel() const { return hw_fallback_.load() ? std::string("none") : hwaccel_name_; }
  // Why "auto" ended up on the CPU (e.g. "cuda: libcuda.so.1 ... cannot be loaded"); empty when
  // a device was used or none was asked for. Set in the constructor, then read-only.
  const std::string& hwaccel_note() const { return hwaccel_note_; }
  // Frames stay in device memory (DecoderOptions::device is a CUDA device).
  bool outputs_device_frames() const { return keep_on_device_; }
  // The CUDA device decoding, or null.
  const std::shared_ptr<CudaDevice>& cuda_device() const { return cuda_device_; }
  // Hardware frames this decoder downloaded to host memory (any thread).
  int64_t device_to_host_bytes() const { return device_to_host_bytes_.load(); }
  int64_t device_to_host_copies() const { return device_to_host_copies_.load(); }
  AVCodecContext* context() const { return ctx_.get(); }
  // Whether send(..., skip_if_nonref=true) saves work for this codec.
  bool skips_nonref() const { return skips_nonref_; }
  int64_t errors() const { return errors_; }

 private:
  // The hardware part of the constructor: picks and opens the device hwaccel/device name.
  void open_hardware(const DecoderOptions& options, const AVCodec* codec);
  // `reason` (may be null) receives why the device cannot decode this stream.
  bool try_hw_device(AVHWDeviceType type, int cuda_ordinal, std::string* reason);
  bool open_device_if_available();  // DecoderOptions::device "auto": NVDEC on cuda:0 with device frames
  static AVPixelFormat pick_hw_format(AVCodecContext* ctx, const AVPixelFormat* formats);

  UniqueCodecContext ctx_;
  UniqueBufferRef hw_device_;
  UniqueFrame hw_frame_;
  AVPixelFormat hw_pixel_format_ = AV_PIX_FMT_NONE;
  std::string hwaccel_name_ = "none";   // set before decoding starts, then read-only
  std::atomic<bool> hw_fallback_{false};  // set by get_format on the decoding thread
  std::atomic<int64_t> errors_{0};  // written by the decoding thread, read by any
  bool draining_ = false;
  bool skips_nonref_ = false;  // immutable after construction
  int hevc_length_size_ = 0;   // > 0: HEVC whose non-reference packets send() drops itself
  // Hardware choice, immutable after construction.
  std::shared_ptr<CudaDevice> cuda_device_;
  std::string hwaccel_note_;
  bool explicit_hw_ = false;     // the user named the device: refusing the stream is an error
  bool keep_on_device_ = false;  // receive() hands out device frames (no download)
  void count_download(const AVFrame* frame);
  std::atomic<int64_t> device_to_host_bytes_{0};   // written by the decoding thread
  std::atomic<int64_t> device_to_host_copies_{0};
};

}  // namespace vistream
