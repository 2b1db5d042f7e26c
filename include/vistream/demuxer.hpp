// Opens a source (file or URL) and reads its packets. Owns the AVFormatContext.
//
// Every blocking libavformat call (open, probe, read, seek) runs as a BlockingCall of the
// source's CancelToken: cancel() makes it return at once (Error(Cancelled)), and on network
// sources a call that makes no progress for its timeout fails with Error(SourceTimeout).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vistream/av_ptr.hpp"
#include "vistream/cancel_token.hpp"
#include "vistream/error.hpp"

namespace vistream {

// Seconds without progress before a network source's open (connect + header + probe) or read
// fails. < 0: the default (network sources only: local files and pipes never time out);
// 0 or infinity: never.
struct IoTimeouts {
  static constexpr double kDefaultOpen = 10.0;
  static constexpr double kDefaultRead = 10.0;
  // RTSP with UDP allowed ("auto", FFmpeg's default): FFmpeg waits 10 s for UDP packets before
  // it retries over TCP, so the open must be allowed longer than that for the fallback to happen.
  static constexpr double kDefaultRtspAutoOpen = 20.0;
  double open = -1.0;
  double read = -1.0;
};

// How to open a source: what avformat_open_input gets. A plain value, kept by the owner, so a
// later reopen (seek fallback, and reconnecting a live source, which will start a new timeline
// serial) opens the source exactly as the first time.
struct DemuxerOptions {
  // Demuxer or capture device ("v4l2", "lavfi", "mpegts", "rawvideo"...). Empty: probed from
  // the data, except that a "/dev/video*" path means "v4l2".
  std::string format;
  // Passed as the AVDictionary of avformat_open_input: options of the format context
  // (probesize, fflags...), of the protocol (rtsp_transport, tls_verify, timeout...) and of the
  // demuxer or device (video_size, framerate...), in order. Options nothing used are reported
  // (unused_options(), and a warning in FFmpeg's log).
  // Added by the Demuxer unless given here:
  //   protocol_whitelist: for network URLs, network protocols only (kNetworkProtocolWhitelist),
  //     so a playlist or manifest fetched from the network can never open file:, pipe:...
  //   tls_verify=1 and ca_file=<the system's CA bundle>: for TLS schemes (https, rtmps, tls).
  // "rtsp_transport": "auto" means FFmpeg's default (UDP, falling back to TCP).
  std::vector<std::pair<std::string, std::string>> options;
  IoTimeouts timeouts;
  // Low latency: unless given in `options`, fflags=nobuffer and max_delay=0 (RTP/RTSP: no
  // reorder wait). Probing keeps FFmpeg's defaults (demuxer.cpp says why).
  bool low_latency = false;
};

// The protocols a network source may open (itself and everything it refers to).
extern const char* const kNetworkProtocolWhitelist;

class Demuxer {
 public:
  // `known_video_stream` >= 0: the source was opened before and this is its video stream
  // index; lets a reopen skip stream probing where the container allows. `cancel` may be
  // shared with the rest of the pipeline (null: a private one).
  // Throws Error(SourceNotAllowed) when the source or a resource it refers to uses a protocol
  // outside protocol_whitelist, Error(SourceCertificate) when a TLS certificate fails
  // verification, Error(Source) when no video stream parameters can be found (damaged).
  explicit Demuxer(const std::string& url, int known_video_stream = -1,
                   std::shared_ptr<CancelToken> cancel = nullptr, DemuxerOptions options = {});
  Demuxer(const Demuxer&) = delete;
  Demuxer& operator=(const Demuxer&) = delete;

  AVFormatContext* context() const { return ctx_.get(); }
  const std::string& url() const { return url_; }
  int video_stream_index() const { return video_index_; }
  int audio_stream_index() const { return audio_index_; }
  AVStream* video_stream() const;
  AVStream* audio_stream() const;
  bool seekable() const;
  const std::shared_ptr<CancelToken>& cancel_token() const { return cancel_; }
  const IoTimeouts& timeouts() const { return timeouts_; }  // resolved for this source
  // A live source: a network stream (rtsp, rtmp, udp, rtp, srt, ...) or a capture device. Its
  // frames come at the sender's pace, so real-time playback hands them on as they arrive.
  bool live() const { return live_; }
  const DemuxerOptions& options() const { return options_; }  // as given (for a reopen)
  // Names of the caller's options that nothing consumed (misspelt, or not for this source).
  const std::vector<std::string>& unused_options() const { return unused_options_; }

  // Reads the next packet of any stream. Returns false at end of input, including a file that
  // ends early (truncated: counted in read_errors(), what was read stays valid). A read error
  // (I/O failure, or a demuxer that keeps failing) throws Error(Source); a stall throws
  // Error(SourceTimeout); cancel() throws Error(Cancelled).
  bool read(AVPacket* packet);

  // Positions the demuxer at or before `timestamp` (in the video stream's time base).
  void seek(int64_t timestamp);

  int64_t read_errors() const { return read_errors_; }
  // Video packets read so far (reading thread only).
  int64_t video_packets() const { return video_packets_; }

 private:
  static int interrupt_callback(void* opaque);
  // AVFormatContext::io_open of network sources: every resource the source opens (the source
  // itself, playlist segments, keys) gets the source's TLS settings, which FFmpeg's HLS demuxer
  // would not pass on to segment requests.
  static int open_nested(AVFormatContext* s, AVIOContext** pb, const char* url, int flags, AVDictionary** options);
  int64_t io_progress() const;
  void end_call(const BlockingCall& call);
  // Throws the error for a libav call that failed with `code` during `call` ("open", "read"...).
  [[noreturn]] void throw_failure(const BlockingCall& call, int code, ErrorKind kind, const std::string& what,
                                  const std::string& context) const;

  // Throws the typed error a captured FFmpeg explanation points to (whitelist, certificate).
  void throw_if_refused(const std::string& explanation, const std::string& context) const;

  std::string url_;
  std::shared_ptr<CancelToken> cancel_;
  DemuxerOptions options_;
  IoTimeouts timeouts_;
  std::vector<std::string> unused_options_;
  std::vector<std::pair<std::string, std::string>> nested_options_;  // immutable after construction
  decltype(AVFormatContext::io_open) default_io_open_ = nullptr;
  UniqueInputFormatContext ctx_;
  AVFormatContext* io_ctx_ = nullptr;  // the context being opened/read (valid during open too)
  BlockingCall* call_ = nullptr;       // the blocking call in progress (its thread only)
  // Set when a call was cancelled or timed out: FFmpeg keeps the I/O context aborted.
  BlockingCall::Outcome aborted_ = BlockingCall::Outcome::Running;
  int video_index_ = -1;
  int audio_index_ = -1;
  std::atomic<int64_t> read_errors_{0};
  // Reading thread only: to tell a file cut before its first video sample from an empty one.
  int64_t video_packets_ = 0;
  bool seeked_ = false;
  bool live_ = false;  // immutable after construction
};

}  // namespace vistream
