// What a source is, as far as a caller needs to know before decoding it.
#pragma once

#include <cstdint>
#include <string>

namespace vistream {

struct Rational {
  int num = 0;
  int den = 1;
};

struct MediaInfo {
  // Video, describing the frames the caller receives (after the user's filter graph).
  int width = 0;
  int height = 0;
  Rational frame_rate;        // average frame rate of the stream
  Rational time_base;         // unit of Frame::pts
  int64_t frame_count = 0;    // exact when frame_count_exact, else estimated from duration
  bool frame_count_exact = false;
  double duration = 0.0;      // seconds, 0 when unknown (live)
  double start_time = 0.0;    // seconds: pts of the first frame
  std::string codec;          // decoder codec name, e.g. "h264"
  std::string pixel_format;   // decoder output pixel format, e.g. "yuv420p"
  std::string output_format;  // pixel format of delivered frames, e.g. "bgr24"
  double rotation = 0.0;      // degrees counter-clockwise (display matrix / ffprobe convention), as stored
                              // in the source, whether or not the frames were turned (autorotated)
  std::string hwaccel = "none";
  int64_t bit_rate = 0;
  std::string container;      // demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  bool seekable = false;
  // Audio (the best audio stream), zeros when absent.
  bool has_audio = false;
  int audio_sample_rate = 0;
  int audio_channels = 0;
  std::string audio_codec;
  // The frames were turned upright by the engine (SourceOptions::autorotate and a `rotation`
  // needing it): false with a non-zero rotation means frames come as stored, and a writer that
  // keeps them should carry the rotation into its output's metadata.
  bool autorotated = false;
  // Why hwaccel "auto" decodes on the CPU (which devices were tried and why each failed).
  std::string hwaccel_note;
};

}  // namespace vistream
