// Writes packets into one or more outputs (files, segmented recordings, HLS, network pushes:
// rtsp://, rtmp://, srt://, udp://). Encoding happens once; every packet is copied to each
// output. Packets written before the header (streams still being set up) are held and flushed
// after it.
//
// Files are written on the caller's thread (the encode thread): a file that fails to write
// throws at that packet (the run fails, its file is still finalized).
//
// Network outputs never block the caller. Each has its own link thread (NetworkLink in
// muxer.cpp) owning its connection, a state machine (connecting -> connected -> reconnecting
// -> connected ... -> closed) and a bounded queue of packets: write() only queues a reference
// (or drops and counts the packet while the output is down), so an unanswering server costs
// the encode thread nothing. The link thread connects, writes, and on failure closes, waits
// its backoff (0.5 s doubling up to `reconnect_delay_max`) and reconnects; after a
// (re)connection it drops everything until a video keyframe, which it asks the encoder for
// (take_keyframe_request()), so the stream restarts decodable with the same, monotonic
// timestamps. Every blocking libav call of a link has a deadline (5 s) and is interrupted at
// once by finish() (AVIOInterruptCB checks the link's cancel flag).
//
// status() never waits on I/O: the counters and states live under their own lock, which no
// thread holds across a libav call.
#pragma once

#include <atomic>
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
  // "connecting" (first attempt), "connected", "reconnecting" (down, retrying with backoff),
  // "closed" (finished; a network output closed while down says so in last_error)
  std::string state = "connecting";
};

class NetworkLink;

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
  // Whether every output's container lists `codec` (avformat_query_codec; a container without
  // a list, such as mpegts, takes anything). For choosing an encoder.
  bool accepts_codec(AVCodecID codec) const;
  // Adds a stream fed by an encoder; returns its index.
  int add_stream(const AVCodecContext* encoder);
  // Adds a stream whose packets are copied from an input stream; returns its index.
  int add_copy_stream(const AVStream* input);
  // Display matrix (degrees, counter-clockwise as FFmpeg's av_display_rotation_set) for the
  // video stream added next or already added; 0 writes none.
  void set_rotation(double degrees);
  // Opens every output and writes the headers (mp4/mov: +faststart). A file that cannot start
  // is removed and the error thrown. Network outputs connect on their link threads; when there
  // is no file output, start() waits for each one's first attempt and throws if it failed (a
  // wrong URL fails clearly), else they keep retrying while the files are written.
  void start();
  // Writes a packet whose timestamps are in `time_base` to every output; takes its data.
  // Network outputs only get it queued (or dropped and counted while down).
  void write(AVPacket* packet, int stream_index, AVRational time_base);
  // Writes the trailers and closes the outputs. Idempotent; throws the first file error.
  // Network outputs send what is queued (at most ~2 s more), a pending connection attempt
  // is cancelled at once.
  void finish();
  // The trailer was written and the file closed without an I/O error: the file is complete.
  // False before finish() and after any failed write (e.g. a full disk): then the file is
  // not playable (an mp4 without its moov) and should not be kept.
  bool finalized() const;

  // Each output's state and counters; never waits on a network call or a file write.
  std::vector<OutputStatus> status() const;

  // True once after a network output (re)connected: the next video frame should be encoded as
  // a keyframe, so the output can start without waiting a whole GOP.
  bool take_keyframe_request() { return keyframe_wanted_.exchange(false); }

 private:
  friend class NetworkLink;
  struct ParametersDeleter {
    void operator()(AVCodecParameters* parameters) const { avcodec_parameters_free(&parameters); }
  };
  struct StreamSpec {
    std::unique_ptr<AVCodecParameters, ParametersDeleter> parameters;
    AVRational time_base;
    AVRational frame_rate;
  };
  struct Sink {
    // Immutable after construction.
    OutputTarget target;
    const AVOutputFormat* format = nullptr;
    bool network = false;
    // Files: the caller's thread, under write_mutex_. Network outputs: their link only.
    UniqueOutputFormatContext ctx;
    bool open = false;
    std::shared_ptr<NetworkLink> link;  // network outputs; set by start()
    // Guarded by status_mutex_.
    OutputStatus status;
  };

  // The container whose codec list applies to `sink`: the pieces' container for segments/HLS.
  static const AVOutputFormat* carried_format(const Sink& sink);
  // Opens `sink.ctx` (connects, writes the header) with the streams added so far. `interrupt`:
  // the AVIOInterruptCB of a network output (nullptr for files). Throws Error on failure.
  void open_sink(Sink& sink, const AVIOInterruptCB* interrupt) const;
  // Writes the trailer (when asked) and closes; returns the first error (0: none).
  static int close_sink(Sink& sink, bool write_trailer);
  void write_locked(AVPacket* packet, int stream_index, AVRational time_base);
  void write_to_file(Sink& sink, const AVPacket* packet, int stream_index, AVRational time_base);
  template <typename Change>
  void update_status(Sink& sink, Change change) {
    std::lock_guard lock(status_mutex_);
    change(sink.status);
  }

  // Serializes the writers (encode thread, audio) and guards the fields below, except where said.
  mutable std::mutex write_mutex_;
  std::vector<Sink> sinks_;  // the vector itself never changes after construction
  // Immutable once started_ (the link threads read them to build each connection).
  std::vector<StreamSpec> streams_;
  double rotation_ = 0.0;
  bool started_ = false;
  bool finished_ = false;
  bool write_failed_ = false;  // a file packet, trailer or close failed
  bool finalized_ = false;
  struct Pending {
    UniquePacket packet;
    int stream_index;
    AVRational time_base;
  };
  std::vector<Pending> pending_;

  mutable std::mutex status_mutex_;  // guards every Sink::status; never held across I/O
  std::atomic<bool> keyframe_wanted_{false};  // a link (re)connected and waits for a keyframe
};

// The container an output is written in: `format` when given, else from the URL's protocol
// (rtmp -> flv, rtsp -> rtsp, srt/udp/tcp -> mpegts) or its extension; segmented recordings
// use FFmpeg's segment muxer. Throws Error(InvalidArgument) when it cannot be told.
const AVOutputFormat* output_format_for(const OutputTarget& target);
// The segment pattern of an output name: none, a number ("rec-%03d.mp4"), or strftime fields
// ("rec-%Y%m%d-%H%M%S.mp4", expanded with the time).
enum class NamePattern { None, Numbered, Dated };
NamePattern name_pattern(const std::string& url);
inline bool has_name_pattern(const std::string& url) { return name_pattern(url) != NamePattern::None; }
// True for URLs pushed to a server (reconnected on failure) rather than files.
bool is_network_output(const std::string& url);

}  // namespace vistream
