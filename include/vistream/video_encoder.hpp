// Encodes the (callback-edited) frames. Converts from the frames' pixel format to one the
// encoder accepts with swscale into a reused frame (uploading it to the device for VAAPI/QSV
// encoders), and keeps input timestamps.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vistream/av_ptr.hpp"
#include "vistream/video_format.hpp"

namespace vistream {

class CudaDevice;

struct EncoderOptions {
  std::string encoder = "auto";  // "auto" or an FFmpeg encoder name
  std::string codec = "h264";    // used by "auto": h264, hevc, av1, mpeg4, vp9, vp8
  int64_t bit_rate = 0;          // bits/s; 0 = encoder default / crf
  int crf = -1;
  std::string preset;
  int gop = -1;
  // Outputs (see Muxer / OutputTarget): container and its options, applied to every output.
  std::string output_format;                                        // "": from each URL
  std::vector<std::pair<std::string, std::string>> output_options;  // protocol + muxer options
  double segment_time = -1.0;  // seconds > 0: segmented recording / HLS segment length; -1: unset
  // Display matrix written into the outputs, degrees counter-clockwise. Unset: the Player
  // carries the source's (unless its frames are already upright); the Writer writes none.
  std::optional<double> rotation;
  double reconnect_delay_max = -1.0;  // network outputs: longest wait between retries (-1: 10 s)
  std::vector<std::string> extra_outputs;  // written too, from the same encoding (several outputs)
  // Where the frames handed to the encoder live: "cpu", or "cuda[:N]": BGR0 pictures in that
  // GPU's memory (see VideoEncoder "Device pictures").
  std::string device = "cpu";
};

class VideoEncoder {
 public:
  // Opens the encoder (trying candidates for "auto"). Throws Error(Encoder) naming the encoder
  // and FFmpeg's reason when an explicit encoder cannot open.
  VideoEncoder(const EncoderOptions& options, const VideoFormat& input, bool global_header);

  const std::string& name() const { return name_; }
  AVCodecContext* context() const { return ctx_.get(); }

  // Encodes one frame (pts in the input time base); nullptr flushes. Packets go to `out`.
  void encode(const AVFrame* frame, std::vector<UniquePacket>& out);
  // The next frame encode() gets is coded as a keyframe (an output joining mid-stream).
  void request_keyframe() { keyframe_requested_ = true; }

  // Encoder candidates tried by "auto" for a codec, best first.
  static std::vector<std::string> candidates(const std::string& codec);
  // The codec an EncoderOptions::codec family names ("h264", "hevc", "av1", "mpeg4", "vp9", "vp8").
  static AVCodecID codec_id(const std::string& codec);

  // Device pictures (EncoderOptions::device "cuda[:N]"): every frame handed to encode() is a
  // BGR0 picture in that GPU's memory (data[0] a CUdeviceptr, linesize[0] its pitch; input
  // format bgr0). NVENC gets a CUDA frame pool on the shared CudaDevice (sw_format bgr0, which
  // h264/hevc_nvenc convert themselves) and each picture is copied device-to-device into a pool
  // frame: no host copy. Any other encoder (no NVENC: H100/H200, or it failed to open) gets each
  // picture downloaded once into pinned host memory, then the host path. encode() waits for
  // the copy, so the caller may reuse the picture's memory when it returns.
  // ~VideoEncoder frees the pinned buffer.
  ~VideoEncoder();
  // How frames reach the encoder: the encoder's name for host frames ("libx264"),
  // "nvenc-device" (h264_nvenc etc. from device memory), "download+libx264" (device pictures
  // downloaded to pinned memory first).
  const std::string& path() const { return path_; }
  // Device pictures downloaded to host memory (the download path), for stats.
  int64_t device_to_host_bytes() const { return device_to_host_bytes_.load(); }  // any thread
  int64_t device_to_host_copies() const { return device_to_host_copies_.load(); }

 private:
  bool try_open(const std::string& name, const EncoderOptions& options, bool explicit_choice,
                std::string* reason);
  // After the codec opened: the reused frame and the swscale context that convert input
  // frames to `target` (the encoder's format, or the one uploaded to its device).
  void prepare_conversion(AVPixelFormat target);
  void drain(std::vector<UniquePacket>& out);
  void pad_edges();  // repeats the last column/row of a frame padded to an even size
  // Device pictures (see above): the device named by options.device, opening NVENC on it, and
  // encoding one picture.
  void open_device(const EncoderOptions& options);
  bool try_open_nvenc_on_device(const AVCodec* codec, const std::string& name, const EncoderOptions& options,
                                bool explicit_choice, std::string* reason);
  void encode_on_device(const AVFrame* picture, std::vector<UniquePacket>& out);
  // The download path: `picture` copied into the pinned buffer, described by `host_view`.
  const AVFrame* download_to_pinned(const AVFrame* picture, AVFrame* host_view);

  VideoFormat input_;
  bool global_header_;
  UniqueCodecContext ctx_;
  UniqueSwsContext sws_;
  UniqueBufferRef hw_frames_;  // VAAPI/QSV: device frame pool the converted frames are uploaded to
  UniqueFrame converted_;
  std::string name_;
  int64_t last_pts_ = INT64_MIN;
  bool keyframe_requested_ = false;
  // Device pictures: the device (null for host frames), NVENC's CUDA frame pool (null on the
  // download path), the pinned host buffer of the download path (cuMemHostAlloc).
  std::shared_ptr<CudaDevice> cuda_device_;
  UniqueBufferRef cuda_frames_;
  uint8_t* pinned_ = nullptr;
  int64_t pinned_pitch_ = 0;
  std::string path_;
  std::atomic<int64_t> device_to_host_bytes_{0};  // written by the encoding thread
  std::atomic<int64_t> device_to_host_copies_{0};
};

// The frame size an encoder is opened with: odd sizes are padded to even ones for pixel
// formats with subsampled chroma (yuv420p, nv12), which H.264 and most encoders require.
int even_dimension(int size, AVPixelFormat format, bool vertical);

}  // namespace vistream
