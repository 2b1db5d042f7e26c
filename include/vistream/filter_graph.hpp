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

}  // namespace vistream
