// Writes packets into one or more outputs (files, segmented recordings, HLS, network pushes:
// rtsp://, rtmp://, srt://, udp://). Encoding happens once; every packet is copied to each
// output. Thread-safe: the video encoder thread and the demux thread (audio) both write; one
// mutex guards every output. Packets written before the header (streams still being set up)
// are held and flushed after it.
//
// Failure policy: a file output that fails to write throws (the run fails, its file is still
// finalized). A network output that fails is closed, counted and reopened with backoff (0.5 s
// doubling up to `reconnect_delay_max`), resuming at the next video keyframe; it never stops
// nor delays the other outputs for longer than one bounded open attempt (open/write calls to
// the network have a deadline). The trailer is always written: by finish(), or by the
// destructor on error paths.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "vistream/av_ptr.hpp"

namespace vistream {

// One destination and how to write it.
struct OutputTarget {
  std::string url;
  std::string format;  // FFmpeg muxer name; "": from the URL's protocol or extension
  std::vector<std::pair<std::string, std::string>> options;  // protocol and muxer options, in order
  double segment_time = -1.0;  // seconds > 0: segmented recording (or the HLS segment length)
  double reconnect_delay_max = -1.0;  // seconds between network reconnect attempts at most (-1: 10 s)
};

// What one output did so far.
struct OutputStatus {
  std::string url;
  std::string format;       // the FFmpeg muxer writing it
  bool network = false;     // pushed to a server (reconnects) rather than written to disk
  bool connected = false;   // header written and not failed since
  int64_t packets_written = 0;
  int64_t packets_dropped = 0;  // not written: the output was down or waiting for a keyframe
  int64_t failures = 0;         // write/open failures (network outputs)
  int64_t reconnects = 0;       // successful reopenings after a failure
  std::string last_error;       // "" if none
};

class Muxer {
 public:
  explicit Muxer(const std::string& path) : Muxer(std::vector<OutputTarget>{OutputTarget{path}}) {}
  // Resolves each target's container (throws Error(InvalidArgument) naming the one that cannot
  // be told); nothing is opened yet.
  explicit Muxer(std::vector<OutputTarget> targets);
  ~Muxer();
  Muxer(const Muxer&) = delete;
  Muxer& operator=(const Muxer&) = delete;

  // True when any output wants codec headers out of band (mp4, flv...): the encoders set
  // AV_CODEC_FLAG_GLOBAL_HEADER then; in-band outputs (mpegts) still get them on keyframes.
  bool needs_global_header() const;
  // The first output's container (for callers choosing codecs).
  const AVOutputFormat* format() const;
  // Whether every output's container can carry a stream with these parameters as they are
  // (checked by writing a trial header into memory: avformat_query_codec says yes to Opus in
  // .mov, whose header then fails).
  bool accepts(const AVCodecParameters* parameters, AVRational time_base) const;
  // Adds a stream fed by an encoder; returns its index.
  int add_stream(const AVCodecContext* encoder);
  // Adds a stream whose packets are copied from an input stream; returns its index.
  int add_copy_stream(const AVStream* input);
  // Display matrix (degrees, counter-clockwise as FFmpeg's av_display_rotation_set) for the
  // video stream added next or already added; 0 writes none.
  void set_rotation(double degrees);
  // Opens every output and writes the headers (mp4/mov: +faststart). A file that cannot start
  // is removed and the error thrown; a network output that cannot connect throws when it is
  // the only kind of output, else it is retried in the background of the writes.
  void start();
  // Writes a packet whose timestamps are in `time_base` to every output; takes its data.
  void write(AVPacket* packet, int stream_index, AVRational time_base);
  // Writes the trailers and closes the outputs. Idempotent; throws the first file error.
  void finish();
  // The trailer was written and the file closed without an I/O error: the file is complete.
  // False before finish() and after any failed write (e.g. a full disk): then the file is
  // not playable (an mp4 without its moov) and should not be kept.
  bool finalized() const;

  std::vector<OutputStatus> status() const;

 private:
  struct ParametersDeleter {
    void operator()(AVCodecParameters* parameters) const { avcodec_parameters_free(&parameters); }
  };
  struct StreamSpec {
    std::unique_ptr<AVCodecParameters, ParametersDeleter> parameters;
    AVRational time_base;
    AVRational frame_rate;
  };
  struct Sink {
    OutputTarget target;
    const AVOutputFormat* format = nullptr;
    bool network = false;
    UniqueOutputFormatContext ctx;
    bool open = false;
    bool wait_keyframe = false;
    std::chrono::steady_clock::time_point retry_at{};
    double backoff = 0.5;
    std::chrono::steady_clock::time_point deadline{};  // of the blocking call in progress
    OutputStatus status;
  };

  void open_sink(Sink& sink);  // throws Error on failure
  void close_sink(Sink& sink, bool write_trailer);
  void fail_network_sink(Sink& sink, const std::string& reason);
  void write_to_sink(Sink& sink, const AVPacket* packet, int stream_index, AVRational time_base);
  void write_locked(AVPacket* packet, int stream_index, AVRational time_base);
  static int interrupt(void* sink);

  mutable std::mutex mutex_;  // guards everything below
  std::vector<Sink> sinks_;
  std::vector<StreamSpec> streams_;
  double rotation_ = 0.0;
  bool started_ = false;
  bool finished_ = false;
  bool write_failed_ = false;  // a packet, the trailer or the close failed
  bool finalized_ = false;
  struct Pending {
    UniquePacket packet;
    int stream_index;
    AVRational time_base;
  };
  std::vector<Pending> pending_;
};

// The container an output is written in: `format` when given, else from the URL's protocol
// (rtmp -> flv, rtsp -> rtsp, srt/udp/tcp -> mpegts) or its extension; segmented recordings
// use FFmpeg's segment muxer. Throws Error(InvalidArgument) when it cannot be told.
const AVOutputFormat* output_format_for(const OutputTarget& target);
// True for names with a segment pattern: a number (%03d) or strftime fields (%Y%m%d).
bool has_name_pattern(const std::string& url);
// True for URLs pushed to a server (reconnected on failure) rather than files.
bool is_network_output(const std::string& url);

}  // namespace vistream
