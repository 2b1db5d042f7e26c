#include "vistream/filter_graph.hpp"

#include "vistream/error.hpp"
#include "vistream/log.hpp"

namespace vistream {

void link_filter_graph(AVFilterGraph* graph, AVFilterContext* source, AVFilterContext* sink,
                       const std::string& description, const std::string& kind,
                       const std::string& user_filters) {
  UniqueFilterInOut outputs(avfilter_inout_alloc());
  UniqueFilterInOut inputs(avfilter_inout_alloc());
  if (!outputs || !inputs) throw std::bad_alloc();
  outputs->name = av_strdup("in");
  outputs->filter_ctx = source;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = sink;
  // avfilter_graph_parse_ptr takes and may replace the lists: hand them over raw.
  AVFilterInOut* in_raw = inputs.release();
  AVFilterInOut* out_raw = outputs.release();
  log::ScopedCapture details;
  const int ret = avfilter_graph_parse_ptr(graph, description.c_str(), &in_raw, &out_raw, nullptr);
  avfilter_inout_free(&in_raw);
  avfilter_inout_free(&out_raw);
  const std::string what = "invalid " + kind + " filter graph '" + user_filters + "'";
  VS_CHECK(ret, ErrorKind::Filter, details.annotate(what));
  VS_CHECK(avfilter_graph_config(graph, nullptr), ErrorKind::Filter, details.annotate(what));
}

void create_audio_endpoints(AVFilterGraph* graph, const AVFrame* first, AVRational time_base,
                            AVFilterContext** source, AVFilterContext** sink) {
  char layout[128] = {0};
#if VS_HAVE_CH_LAYOUT
  AVChannelLayout in_layout;
  if (first->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
    av_channel_layout_default(&in_layout, first->ch_layout.nb_channels);
  } else {
    av_channel_layout_copy(&in_layout, &first->ch_layout);
  }
  av_channel_layout_describe(&in_layout, layout, sizeof(layout));
  av_channel_layout_uninit(&in_layout);
#else
  const uint64_t mask = first->channel_layout ? first->channel_layout : av_get_default_channel_layout(first->channels);
  snprintf(layout, sizeof(layout), "0x%llx", static_cast<unsigned long long>(mask));
#endif
  char args[512];
  snprintf(args, sizeof(args), "time_base=%d/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s", time_base.num,
           time_base.den, first->sample_rate, av_get_sample_fmt_name(static_cast<AVSampleFormat>(first->format)),
           layout);
  VS_CHECK(avfilter_graph_create_filter(source, avfilter_get_by_name("abuffer"), "in", args, nullptr, graph),
           ErrorKind::Filter, "cannot create audio buffer source");
  VS_CHECK(avfilter_graph_create_filter(sink, avfilter_get_by_name("abuffersink"), "out", nullptr, nullptr, graph),
           ErrorKind::Filter, "cannot create audio buffer sink");
}

std::string default_layout_name(int channels) {
  char name[128] = {0};
#if VS_HAVE_CH_LAYOUT
  AVChannelLayout layout;
  av_channel_layout_default(&layout, channels);
  av_channel_layout_describe(&layout, name, sizeof(name));
#else
  snprintf(name, sizeof(name), "0x%llx", static_cast<unsigned long long>(av_get_default_channel_layout(channels)));
#endif
  return name;
}

}  // namespace vistream
