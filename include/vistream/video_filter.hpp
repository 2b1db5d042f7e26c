// The video filter graph: buffer -> [orientation] -> [user filters] -> format=<output> -> buffersink.
// Pixel-format conversion is the graph's last step (swscale, bicubic like the ffmpeg CLI),
// so frames come out of libavfilter's buffer pools: no allocation per frame once warm.
#pragma once

#include <deque>
#include <string>

#include "vistream/av_ptr.hpp"
#include "vistream/video_format.hpp"

namespace vistream {

// How a stream asks to be turned for display, read from its display matrix (mp4/mov tkhd,
// side data) or, failing that, a legacy "rotate" tag (clockwise degrees, old FFmpeg muxers).
struct StreamOrientation {
  // Counter-clockwise degrees in (-180, 180], as av_display_rotation_get() and ffprobe report
  // them; 0 when the stream says nothing.
  double rotation = 0.0;
  // The filters that turn stored frames upright ("transpose=clock", "hflip,vflip", ...), the
  // same choice the ffmpeg CLI makes with -autorotate (its default); "" when none is needed.
  std::string filters;
};
StreamOrientation stream_orientation(const AVStream* stream);

class VideoFilter {
 public:
  // `orientation_filters` run before the user's filters, so a user's crop/scale sees upright
  // frames (as with the ffmpeg CLI); they are not part of the graph quoted in errors.
  VideoFilter(std::string user_filters, AVPixelFormat output_format, int threads,
              std::string orientation_filters = {});

  // Builds the graph for this input (throws Error(Filter) naming the graph and FFmpeg's reason).
  void configure(const VideoFormat& input);
  // Pushes a decoded frame (rebuilding the graph if its size/format changed); nullptr = end.
  void push(AVFrame* frame);
  // Pulls a filtered frame; false when it needs more input (or is drained).
  bool pull(AVFrame* frame);
  // Drops buffered frames (after a seek): the graph is rebuilt on the next push.
  void reset();

  int output_width() const;
  int output_height() const;
  AVRational output_time_base() const;
  // True when the graph leaves timestamps in the source's time base (no fps/setpts/... filter),
  // so output pts can be mapped back to source frame indices.
  bool preserves_timestamps() const;
  const std::string& user_filters() const { return user_filters_; }

 private:
  std::string user_filters_;
  std::string orientation_filters_;
  AVPixelFormat output_format_;
  int threads_;
  VideoFormat input_;
  UniqueFilterGraph graph_;
  AVFilterContext* source_ = nullptr;  // owned by graph_
  AVFilterContext* sink_ = nullptr;    // owned by graph_
  // Frames in device memory (DecoderOptions::device = cuda) bypass the CPU graph: they are
  // handed out as decoded; their conversion happens on the device (see docs/gpu.md).
  std::deque<UniqueFrame> device_frames_;
};

}  // namespace vistream
