#include "vistream/video_filter.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "vistream/error.hpp"
#include "vistream/filter_graph.hpp"

namespace vistream {
namespace {

// Degrees in [0, 360) to turn the picture clockwise, from a counter-clockwise display angle
// (values within a degree below a multiple of 360 count as that multiple).
double clockwise_degrees(double counter_clockwise) {
  double theta = -std::round(counter_clockwise);
  theta -= 360.0 * std::floor(theta / 360.0 + 0.9 / 360.0);
  return theta;
}

// The filters that show a picture stored with display matrix `m` upright. A matrix may also
// mirror (its determinant is negative): the transpose variants with a flip undo that.
std::string filters_for_matrix(const int32_t* m) {
  const double theta = clockwise_degrees(av_display_rotation_get(m));
  if (std::isnan(theta)) return {};
  if (std::fabs(theta - 90) < 1.0) return m[3] > 0 ? "transpose=cclock_flip" : "transpose=clock";
  if (std::fabs(theta - 270) < 1.0) return m[3] < 0 ? "transpose=clock_flip" : "transpose=cclock";
  if (std::fabs(theta - 180) < 1.0) {
    std::string flips;
    if (m[0] < 0) flips = "hflip";
    if (m[4] < 0) flips += flips.empty() ? "vflip" : ",vflip";
    return flips;
  }
  if (std::fabs(theta) > 1.0) {
    // Not a quarter turn: rotate within the stored size, as the CLI does.
    char rotate[64];
    snprintf(rotate, sizeof(rotate), "rotate=%f*PI/180", theta);
    return rotate;
  }
  return m[4] < 0 ? "vflip" : "";
}

}  // namespace

StreamOrientation stream_orientation(const AVStream* stream) {
  StreamOrientation orientation;
  if (const int32_t* matrix = compat::display_matrix(stream)) {
    const double angle = av_display_rotation_get(matrix);
    if (std::isnan(angle)) return orientation;  // degenerate matrix: nothing usable
    orientation.rotation = angle == -180.0 ? 180.0 : angle;
    orientation.filters = filters_for_matrix(matrix);
    return orientation;
  }
  // Older muxers wrote the clockwise angle as a stream tag instead (FFmpeg 5.1 keeps such a tag
  // in Matroska, but its CLI no longer reads it): the same turn as a display matrix saying so.
  if (const AVDictionaryEntry* tag = av_dict_get(stream->metadata, "rotate", nullptr, 0)) {
    char* end = nullptr;
    const double clockwise = std::strtod(tag->value, &end);
    if (end == tag->value || !std::isfinite(clockwise)) return orientation;
    int32_t matrix[9];
    // av_display_rotation_get() of what av_display_rotation_set(m, a) makes is -a.
    av_display_rotation_set(matrix, clockwise);
    const double angle = av_display_rotation_get(matrix);
    orientation.rotation = std::fabs(angle) < 1e-9 ? 0.0 : (angle == -180.0 ? 180.0 : angle);
    orientation.filters = filters_for_matrix(matrix);
  }
  return orientation;
}

VideoFilter::VideoFilter(std::string user_filters, AVPixelFormat output_format, int threads,
                         std::string orientation_filters)
    : user_filters_(std::move(user_filters)),
      orientation_filters_(std::move(orientation_filters)),
      output_format_(output_format),
      threads_(threads) {}

void VideoFilter::configure(const VideoFormat& input) {
  reset();
  input_ = input;
  UniqueFilterGraph graph(avfilter_graph_alloc());
  if (!graph) throw std::bad_alloc();
  graph->nb_threads = threads_;
  // Same scaler flags as the ffmpeg command line, so conversions agree bit for bit.
  graph->scale_sws_opts = av_strdup("flags=bicubic");

  const AVRational sar = input.sample_aspect_ratio.num ? input.sample_aspect_ratio : AVRational{0, 1};
  char args[256];
  snprintf(args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d",
           input.width, input.height, static_cast<int>(input.format), input.time_base.num,
           input.time_base.den, sar.num, sar.den);
  if (input.frame_rate.num > 0) {
    const size_t used = strlen(args);
    snprintf(args + used, sizeof(args) - used, ":frame_rate=%d/%d", input.frame_rate.num,
             input.frame_rate.den);
  }
  AVFilterContext* source = nullptr;
  AVFilterContext* sink = nullptr;
  VS_CHECK(avfilter_graph_create_filter(&source, avfilter_get_by_name("buffer"), "in", args, nullptr,
                                        graph.get()),
           ErrorKind::Filter, "cannot create video buffer source");
  VS_CHECK(avfilter_graph_create_filter(&sink, avfilter_get_by_name("buffersink"), "out", nullptr,
                                        nullptr, graph.get()),
           ErrorKind::Filter, "cannot create video buffer sink");

  const char* format_name = av_get_pix_fmt_name(output_format_);
  std::string description = orientation_filters_.empty() ? std::string() : orientation_filters_ + ",";
  if (!user_filters_.empty()) description += user_filters_ + ",";
  description += std::string("format=pix_fmts=") + format_name;

  link_filter_graph(graph.get(), source, sink, description, "video", user_filters_);
  graph_ = std::move(graph);
  source_ = source;
  sink_ = sink;
}

void VideoFilter::push(AVFrame* frame) {
  if (frame && frame->hw_frames_ctx) {
    if (!user_filters_.empty())
      throw Error(ErrorKind::Filter, "vfilter '" + user_filters_ + "' runs on the CPU; frames kept on the device "
                                     "(device='cuda') cannot go through it");
    UniqueFrame kept = make_frame();
    VS_CHECK(av_frame_ref(kept.get(), frame), ErrorKind::Filter, "cannot reference a device frame");
    device_frames_.push_back(std::move(kept));
    return;
  }
  if (frame) {
    // The stream's time base and rate stay; size, pixel format and aspect may change mid-stream.
    VideoFormat input = input_;
    input.width = frame->width;
    input.height = frame->height;
    input.format = static_cast<AVPixelFormat>(frame->format);
    input.sample_aspect_ratio = frame->sample_aspect_ratio;
    if (!graph_ || input != input_) configure(input);
  }
  if (!graph_) return;
  VS_CHECK(av_buffersrc_add_frame_flags(source_, frame, AV_BUFFERSRC_FLAG_KEEP_REF),
           ErrorKind::Filter, "cannot feed the video filter graph");
}

bool VideoFilter::pull(AVFrame* frame) {
  if (!device_frames_.empty()) {
    av_frame_move_ref(frame, device_frames_.front().get());
    device_frames_.pop_front();
    return true;
  }
  if (!graph_) return false;
  const int ret = av_buffersink_get_frame(sink_, frame);
  if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return false;
  VS_CHECK(ret, ErrorKind::Filter, "video filter graph failed");
  return true;
}

void VideoFilter::reset() {
  device_frames_.clear();
  graph_.reset();
  source_ = nullptr;
  sink_ = nullptr;
}

int VideoFilter::output_width() const { return sink_ ? av_buffersink_get_w(sink_) : 0; }
int VideoFilter::output_height() const { return sink_ ? av_buffersink_get_h(sink_) : 0; }
AVRational VideoFilter::output_time_base() const {
  return sink_ ? av_buffersink_get_time_base(sink_) : input_.time_base;
}
bool VideoFilter::preserves_timestamps() const {
  return av_cmp_q(output_time_base(), input_.time_base) == 0;
}

}  // namespace vistream
