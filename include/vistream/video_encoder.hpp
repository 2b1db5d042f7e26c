// Encodes the (callback-edited) frames. Converts from the frames' pixel format to one the
// encoder accepts with swscale into a reused frame (uploading it to the device for VAAPI/QSV
// encoders), and keeps input timestamps.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vistream/av_ptr.hpp"
#include "vistream/video_format.hpp"

namespace vistream {

struct EncoderOptions {
  std::string encoder = "auto";  // "auto" or an FFmpeg encoder name
  std::string codec = "h264";    // used by "auto": h264, hevc, av1, mpeg4
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

 private:
  bool try_open(const std::string& name, const EncoderOptions& options, bool explicit_choice,
                std::string* reason);
  // After the codec opened: the reused frame and the swscale context that convert input
  // frames to `target` (the encoder's format, or the one uploaded to its device).
  void prepare_conversion(AVPixelFormat target);
  void drain(std::vector<UniquePacket>& out);
  void pad_edges();  // repeats the last column/row of a frame padded to an even size

  VideoFormat input_;
  bool global_header_;
  UniqueCodecContext ctx_;
  UniqueSwsContext sws_;
  UniqueBufferRef hw_frames_;  // VAAPI/QSV: device frame pool the converted frames are uploaded to
  UniqueFrame converted_;
  std::string name_;
  int64_t last_pts_ = INT64_MIN;
  bool keyframe_requested_ = false;
};

// The frame size an encoder is opened with: odd sizes are padded to even ones for pixel
// formats with subsampled chroma (yuv420p, nv12), which H.264 and most encoders require.
int even_dimension(int size, AVPixelFormat format, bool vertical);

}  // namespace vistream
