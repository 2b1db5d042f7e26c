#include "vistream/audio_filter_chain.hpp"

#include <algorithm>
#include <cmath>

#include "vistream/error.hpp"
#include "vistream/filter_graph.hpp"

namespace vistream {

namespace {

// atempo keeps the pitch; one instance covers 0.5..2, so faster or slower speeds chain several
// (16x: four of 2.0).
std::string atempo_chain(double tempo) {
  if (std::abs(tempo - 1.0) <= 1e-6) return {};
  std::string chain;
  double remaining = tempo;
  while (remaining > 2.0 + 1e-9) { chain += "atempo=2.0,"; remaining /= 2.0; }
  while (remaining < 0.5 - 1e-9) { chain += "atempo=0.5,"; remaining /= 0.5; }
  return chain + "atempo=" + std::to_string(remaining) + ",";
}

}  // namespace

AudioChainOutput AudioChainOutput::for_stream(const AVCodecParameters* input, AVSampleFormat sample_format) {
  AudioChainOutput output;
  output.sample_rate = input->sample_rate > 0 ? input->sample_rate : 48000;
  output.channels = std::clamp(compat::channel_count(input), 1, 2);
  output.sample_format = sample_format;
  return output;
}

AudioFilterChain::AudioFilterChain(AVRational input_time_base, std::string user_filters,
                                   AudioChainOutput output, std::string kind)
    : input_time_base_(input_time_base), user_filters_(std::move(user_filters)), output_(output),
      kind_(std::move(kind)) {}

void AudioFilterChain::set_tempo(double tempo) {
  if (std::abs(tempo - tempo_) <= 1e-6) return;
  tempo_ = tempo;
  reset();
}

void AudioFilterChain::configure(const AVFrame* first) {
  UniqueFilterGraph graph(avfilter_graph_alloc());
  if (!graph) throw std::bad_alloc();
  AVFilterContext* source = nullptr;
  AVFilterContext* sink = nullptr;
  create_audio_endpoints(graph.get(), first, input_time_base_, &source, &sink);
  std::string description = user_filters_.empty() ? std::string() : user_filters_ + ",";
  description += atempo_chain(tempo_);
  description += "aresample=" + std::to_string(output_.sample_rate) +
                 ",aformat=sample_fmts=" + av_get_sample_fmt_name(output_.sample_format) +
                 ":channel_layouts=" + default_layout_name(output_.channels);
  link_filter_graph(graph.get(), source, sink, description, "audio", user_filters_);
  if (output_.frame_size > 0) av_buffersink_set_frame_size(sink, static_cast<unsigned>(output_.frame_size));
  graph_ = std::move(graph);
  source_ = source;
  sink_ = sink;
}

void AudioFilterChain::push(AVFrame* frame) {
  if (!frame) {
    if (!graph_) return;
    VS_CHECK(av_buffersrc_add_frame(source_, nullptr), ErrorKind::Filter, kind_ + " filter graph failed");
    return;
  }
  if (!graph_) configure(frame);
  frame->pts = frame->best_effort_timestamp;
  VS_CHECK(av_buffersrc_add_frame(source_, frame), ErrorKind::Filter, kind_ + " filter graph failed");
}

bool AudioFilterChain::pull(AVFrame* out) {
  if (!graph_) return false;
  const int ret = av_buffersink_get_frame(sink_, out);
  if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return false;
  VS_CHECK(ret, ErrorKind::Filter, kind_ + " filter graph failed");
  return true;
}

void AudioFilterChain::reset() {
  graph_.reset();
  source_ = nullptr;
  sink_ = nullptr;
}

AVRational AudioFilterChain::output_time_base() const {
  return sink_ ? av_buffersink_get_time_base(sink_) : input_time_base_;
}

}  // namespace vistream
