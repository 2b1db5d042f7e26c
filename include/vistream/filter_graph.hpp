// Shared step of building the video and audio filter graphs: connect the graph's buffer
// source and sink through a user-visible filter description, then configure it.
#pragma once

#include <string>

#include "vistream/av_ptr.hpp"

namespace vistream {

// Parses `description` between `source` ("in") and `sink` ("out") and configures `graph`.
// Throws Error(Filter) quoting `user_filters` and FFmpeg's explanation.
void link_filter_graph(AVFilterGraph* graph, AVFilterContext* source, AVFilterContext* sink,
                       const std::string& description, const std::string& kind,
                       const std::string& user_filters);

// Creates the "abuffer" source (named "in") and "abuffersink" (named "out") of an audio graph
// for frames like `first` with timestamps in `time_base`.
void create_audio_endpoints(AVFilterGraph* graph, const AVFrame* first, AVRational time_base,
                            AVFilterContext** source, AVFilterContext** sink);

// FFmpeg's text for a channel layout with `channels` channels in default order ("stereo").
std::string default_layout_name(int channels);

}  // namespace vistream
