// The audio filter graph shared by the file output (AudioOutput: to the AAC encoder) and the
// speaker output (AudioPlayback: to the sound device):
//   abuffer -> [user afilter] -> [atempo chain, for speed] -> aresample -> aformat -> abuffersink
// What differs between the two ends is only the format they need (AudioChainOutput) and the
// tempo; the graph itself is built in one place.
#pragma once

#include <string>

#include "vistream/av_ptr.hpp"

namespace vistream {

// What the consumer of the chain takes.
struct AudioChainOutput {
  int sample_rate = 48000;
  int channels = 2;  // in FFmpeg's default layout for that count (1 = mono, 2 = stereo)
  AVSampleFormat sample_format = AV_SAMPLE_FMT_FLTP;
  int frame_size = 0;  // samples per output frame (an encoder's fixed frame size); 0 = any

  // What both outputs ask for a stream: its own rate (48 kHz when unknown) and channels,
  // downmixed to stereo at most.
  static AudioChainOutput for_stream(const AVCodecParameters* input, AVSampleFormat sample_format);
};

class AudioFilterChain {
 public:
  // `input_time_base`: the time base of the decoded frames' timestamps. `kind` names the chain
  // in errors ("audio", "audio playback").
  AudioFilterChain(AVRational input_time_base, std::string user_filters, AudioChainOutput output,
                   std::string kind = "audio");

  // Speed of the sound (pitch kept): 1 = as recorded. A change takes effect at the next
  // push(), on a rebuilt graph (the samples still buffered in the old one are dropped).
  void set_tempo(double tempo);
  double tempo() const { return tempo_; }

  // Feeds a decoded frame (its pts is set to its best-effort timestamp), building the graph
  // for its sample rate, format and layout when there is none; nullptr = end of input
  // (ignored when nothing was ever fed). Throws Error(Filter) naming the user's filters.
  void push(AVFrame* frame);
  // A filtered frame into `out`; false when the chain needs more input or is drained.
  bool pull(AVFrame* out);
  // Drops the graph and what it buffers (a new timeline); the next push() rebuilds it.
  void reset();
  bool configured() const { return static_cast<bool>(graph_); }
  // Time base of the frames pull() returns (the input's until the graph exists).
  AVRational output_time_base() const;

 private:
  void configure(const AVFrame* first);

  const AVRational input_time_base_;
  const std::string user_filters_;
  const AudioChainOutput output_;
  const std::string kind_;
  double tempo_ = 1.0;
  UniqueFilterGraph graph_;
  AVFilterContext* source_ = nullptr;  // owned by graph_
  AVFilterContext* sink_ = nullptr;    // owned by graph_
};

}  // namespace vistream
