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

}  // namespace vistream
