#include "vistream/muxer.hpp"

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <sys/stat.h>
#include <thread>

#include "vistream/error.hpp"
#include "vistream/log.hpp"

namespace vistream {
namespace {

using Clock = std::chrono::steady_clock;

// A network call (connect, header, one packet) may block this long before it counts as a
// failure: bounded so a dead server never holds the file outputs back for more than this.
constexpr auto kNetworkCallTimeout = std::chrono::seconds(5);
constexpr double kDefaultReconnectDelayMax = 10.0;
constexpr double kFirstReconnectDelay = 0.5;
// How long finish() lets connected network outputs send what is queued (and their trailer)
// before it cancels them: a stream is not worth holding the end of a run for.
constexpr auto kFinishDrainTime = std::chrono::seconds(2);
// A network output's queue: a link slower than the encoder (a congested uplink) loses whole
// GOPs rather than growing memory or delaying the other outputs. ~1000 packets is 15-30 s of
// audio+video; the byte bound covers high bitrates.
constexpr size_t kMaxQueuedPackets = 1024;
constexpr size_t kMaxQueuedBytes = 32u << 20;

std::string scheme_of(const std::string& url) {
  const size_t colon = url.find("://");
  if (colon == std::string::npos) return {};
  std::string scheme = url.substr(0, colon);
  for (char& c : scheme) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return scheme;
}

// The container a protocol carries when none is named: what servers of that protocol expect.
const char* format_for_scheme(const std::string& scheme) {
  if (scheme == "rtmp" || scheme == "rtmps" || scheme == "rtmpt" || scheme == "rtmpts") return "flv";
  if (scheme == "rtsp" || scheme == "rtsps") return "rtsp";
  if (scheme == "srt" || scheme == "udp" || scheme == "tcp" || scheme == "rist") return "mpegts";
  if (scheme == "rtp") return "rtp_mpegts";
  return nullptr;
}

bool option_given(const OutputTarget& target, const char* name) {
  for (const auto& [key, value] : target.options)
    if (key == name) return true;
  return false;
}

bool is_segmenting(const AVOutputFormat* format) {
  return strcmp(format->name, "segment") == 0 || strcmp(format->name, "stream_segment") == 0 ||
         strcmp(format->name, "hls") == 0;
}

bool file_exists(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0;
}

void attach_rotation(AVStream* stream, double degrees) {
  int32_t matrix[9];
  // `degrees` is what av_display_rotation_get() (and ffprobe) reports; _set() takes the
  // opposite sign: get(set(x)) == -x.
  av_display_rotation_set(matrix, -degrees);
#if VS_HAVE_CODECPAR_SIDE_DATA
  AVPacketSideData* data = av_packet_side_data_new(&stream->codecpar->coded_side_data,
                                                   &stream->codecpar->nb_coded_side_data,
                                                   AV_PKT_DATA_DISPLAYMATRIX, sizeof(matrix), 0);
  if (!data) throw std::bad_alloc();
  memcpy(data->data, matrix, sizeof(matrix));
#else
  uint8_t* data = av_stream_new_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, sizeof(matrix));
  if (!data) throw std::bad_alloc();
  memcpy(data, matrix, sizeof(matrix));
#endif
}

}  // namespace

NamePattern name_pattern(const std::string& url) {
  NamePattern found = NamePattern::None;
  for (size_t i = 0; i + 1 < url.size(); ++i) {
    if (url[i] != '%') continue;
    if (url[i + 1] == '%') {  // a literal percent sign
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < url.size() && isdigit(static_cast<unsigned char>(url[j]))) ++j;
    if (j >= url.size() || !isalpha(static_cast<unsigned char>(url[j]))) continue;
    // %d (with a width: %03d) numbers segments; any other field is strftime's (%Y, %H...).
    if (url[j] != 'd') return NamePattern::Dated;
    found = NamePattern::Numbered;
  }
  return found;
}

bool is_network_output(const std::string& url) {
  const std::string scheme = scheme_of(url);
  return !scheme.empty() && scheme != "file";
}

const AVOutputFormat* output_format_for(const OutputTarget& target) {
  const std::string& url = target.url;
  const AVOutputFormat* format = nullptr;
  if (!target.format.empty()) {
    format = av_guess_format(target.format.c_str(), nullptr, nullptr);
    if (!format)
      throw Error(ErrorKind::InvalidArgument, "output_format '" + target.format + "' is not an FFmpeg muxer");
  } else if (const char* name = format_for_scheme(scheme_of(url))) {
    format = av_guess_format(name, nullptr, nullptr);
  } else {
    format = av_guess_format(nullptr, url.c_str(), nullptr);
  }
  if (!format) {
    throw Error(ErrorKind::InvalidArgument,
                "cannot tell the container format from output name '" + url +
                    "' (use an extension such as .mp4, .mkv, .mov, .ts, .m3u8, a protocol such as rtmp://, "
                    "rtsp://, srt://, udp://, or output_format=)");
  }
  if (target.segment_time > 0 && !is_segmenting(format)) {
    if (is_network_output(url))
      throw Error(ErrorKind::InvalidArgument, "segment_time applies to files, not to '" + url + "'");
    format = av_guess_format("segment", nullptr, nullptr);
  }
  return format;
}

Muxer::Muxer(std::vector<OutputTarget> targets) {
  if (targets.empty()) throw Error(ErrorKind::InvalidArgument, "no output given");
  for (OutputTarget& target : targets) {
    Sink sink;
    sink.format = output_format_for(target);
    sink.network = is_network_output(target.url);
    sink.status.url = target.url;
    sink.status.format = sink.format->name;
    sink.status.network = sink.network;
    sink.target = std::move(target);
    sinks_.push_back(std::move(sink));
  }
}

Muxer::~Muxer() {
  try {
    finish();
  } catch (...) {
    // Destructors must not throw; finish() already did what it could.
  }
}

bool Muxer::needs_global_header() const {
  for (const Sink& sink : sinks_)
    if (sink.format->flags & AVFMT_GLOBALHEADER) return true;
  return false;
}

const AVOutputFormat* Muxer::format() const { return sinks_.front().format; }

const AVOutputFormat* Muxer::carried_format(const Sink& sink) {
  const AVOutputFormat* format = sink.format;
  if (!is_segmenting(format) && !(format->flags & AVFMT_NOFILE)) return format;
  if (strcmp(format->name, "rtsp") == 0) return format;  // its own table: what RTP can carry
  // Segments and HLS: the container of each piece.
  const AVOutputFormat* inner = av_guess_format(nullptr, sink.target.url.c_str(), nullptr);
  if (strcmp(format->name, "hls") == 0 || !inner || is_segmenting(inner)) inner = av_guess_format("mpegts", nullptr, nullptr);
  return inner;
}

bool Muxer::accepts_codec(AVCodecID codec) const {
  // avformat_query_codec: 1 listed, 0 refused, < 0 the container keeps no list (mpegts).
  for (const Sink& sink : sinks_)
    if (avformat_query_codec(carried_format(sink), codec, FF_COMPLIANCE_NORMAL) == 0) return false;
  return true;
}

bool Muxer::accepts(const AVCodecParameters* parameters, AVRational time_base) const {
  for (const Sink& sink : sinks_) {
    const AVOutputFormat* format = carried_format(sink);
    if (avformat_query_codec(format, parameters->codec_id, FF_COMPLIANCE_NORMAL) == 0) return false;
    // No trial header for these (they open files or connections): the codec table must do.
    if (format == sink.format && ((format->flags & AVFMT_NOFILE) || is_segmenting(format))) continue;
    // The header is where containers refuse what their tag table allows (Opus in .mov).
    AVFormatContext* raw = nullptr;
    if (avformat_alloc_output_context2(&raw, format, nullptr, nullptr) < 0 || !raw) return false;
    UniqueOutputFormatContext trial(raw);
    AVStream* stream = avformat_new_stream(raw, nullptr);
    if (!stream || avcodec_parameters_copy(stream->codecpar, parameters) < 0) return false;
    stream->codecpar->codec_tag = 0;
    stream->time_base = time_base;
    if (avio_open_dyn_buf(&raw->pb) < 0) return false;
    int ret;
    {
      log::ScopedDemote quiet;  // a refusal here is an answer, not an error
      ret = avformat_write_header(raw, nullptr);
    }
    uint8_t* bytes = nullptr;
    avio_close_dyn_buf(raw->pb, &bytes);
    av_free(bytes);
    raw->pb = nullptr;
    if (ret < 0) return false;
  }
  return true;
}

int Muxer::add_stream(const AVCodecContext* encoder) {
  std::lock_guard lock(write_mutex_);
  StreamSpec spec;
  spec.parameters.reset(avcodec_parameters_alloc());
  if (!spec.parameters) throw std::bad_alloc();
  VS_CHECK(avcodec_parameters_from_context(spec.parameters.get(), encoder), ErrorKind::Encoder,
           "cannot set up output stream");
  spec.time_base = encoder->time_base;
  spec.frame_rate = encoder->codec_type == AVMEDIA_TYPE_VIDEO ? encoder->framerate : AVRational{0, 1};
  streams_.push_back(std::move(spec));
  return static_cast<int>(streams_.size()) - 1;
}

int Muxer::add_copy_stream(const AVStream* input) {
  std::lock_guard lock(write_mutex_);
  StreamSpec spec;
  spec.parameters.reset(avcodec_parameters_alloc());
  if (!spec.parameters) throw std::bad_alloc();
  VS_CHECK(avcodec_parameters_copy(spec.parameters.get(), input->codecpar), ErrorKind::Encoder,
           "cannot set up output stream");
  spec.parameters->codec_tag = 0;  // let the muxer pick the tag valid for its container
  spec.time_base = input->time_base;
  spec.frame_rate = AVRational{0, 1};
  streams_.push_back(std::move(spec));
  return static_cast<int>(streams_.size()) - 1;
}

void Muxer::set_rotation(double degrees) {
  std::lock_guard lock(write_mutex_);
  rotation_ = degrees;
}

void Muxer::open_sink(Sink& sink, const AVIOInterruptCB* interrupt) const {
  const OutputTarget& target = sink.target;
  const std::string& url = target.url;
  AVFormatContext* raw = nullptr;
  VS_CHECK(avformat_alloc_output_context2(&raw, sink.format, nullptr, url.c_str()), ErrorKind::Encoder,
           "cannot set up output '" + url + "'");
  sink.ctx.reset(raw);
  AVFormatContext* ctx = raw;
  if (interrupt) ctx->interrupt_callback = *interrupt;
  for (const StreamSpec& spec : streams_) {
    AVStream* stream = avformat_new_stream(ctx, nullptr);
    if (!stream) throw std::bad_alloc();
    VS_CHECK(avcodec_parameters_copy(stream->codecpar, spec.parameters.get()), ErrorKind::Encoder,
             "cannot set up output stream");
    stream->time_base = spec.time_base;
    if (spec.parameters->codec_type == AVMEDIA_TYPE_VIDEO) {
      stream->avg_frame_rate = spec.frame_rate;
      if (rotation_ != 0.0) attach_rotation(stream, rotation_);
    }
  }
  Dictionary options;
  for (const auto& [key, value] : target.options) options.set(key.c_str(), value.c_str());
  const std::string name = sink.format->name;
  auto set_default = [&](const char* key, const std::string& value) {
    if (!option_given(target, key)) options.set(key, value.c_str());
  };
  if (name == "segment") {
    const AVOutputFormat* inner = av_guess_format(nullptr, url.c_str(), nullptr);
    set_default("segment_format", inner && !is_segmenting(inner) ? inner->name : "mpegts");
    if (target.segment_time > 0) set_default("segment_time", std::to_string(target.segment_time));
    set_default("reset_timestamps", "1");  // each segment starts at 0: plays on its own
    if (name_pattern(url) == NamePattern::Dated) set_default("strftime", "1");
    if (inner && (strstr(inner->name, "mp4") || strstr(inner->name, "mov")))
      set_default("segment_format_options", "movflags=+faststart");
  } else if (name == "hls") {
    if (target.segment_time > 0) set_default("hls_time", std::to_string(target.segment_time));
  } else if (name.find("mp4") != std::string::npos || name.find("mov") != std::string::npos) {
    set_default("movflags", "+faststart");
  }
  if (scheme_of(url) == "udp") set_default("pkt_size", "1316");  // 7 TS packets: no IP fragmentation
  // RTSP publishing over TCP (interleaved): a server that vanishes without closing the
  // connection is noticed when the send buffer fills (the write deadline), and nothing is lost
  // to the network. Over UDP (an explicit rtsp_transport=udp) RTP writes never fail: only a
  // server that closes the control connection is noticed (FFmpeg polls it per packet).
  if (name == "rtsp") set_default("rtsp_transport", "tcp");
  const bool existed = !sink.network && file_exists(url);
  log::ScopedCapture details;
  if (!(sink.format->flags & AVFMT_NOFILE)) {
    const int ret = avio_open2(&ctx->pb, url.c_str(), AVIO_FLAG_WRITE, &ctx->interrupt_callback, options.address());
    if (ret < 0) {
      throw Error(ErrorKind::Source,
                  details.annotate("cannot open output '" + url + "': " + av_error_string(ret)));
    }
  }
  const int ret = avformat_write_header(ctx, options.address());
  if (ret < 0) {
    const std::string reason = details.annotate("cannot write header of '" + url + "': " + av_error_string(ret));
    sink.ctx.reset();  // closes the file
    // Nothing useful is in it: a 0-byte (or header-less) file must not be left behind.
    if (!sink.network && !existed && !(sink.format->flags & AVFMT_NOFILE)) std::remove(url.c_str());
    // For a stream the header is the handshake with the server (rtsp: ANNOUNCE/RECORD).
    throw Error(sink.network ? ErrorKind::Source : ErrorKind::Encoder, reason);
  }
  if (AVDictionaryEntry* unused = av_dict_get(options.get(), "", nullptr, AV_DICT_IGNORE_SUFFIX)) {
    av_log(nullptr, AV_LOG_WARNING, "vistream: output '%s' ignored option '%s'\n", url.c_str(), unused->key);
  }
  sink.open = true;
}


int Muxer::close_sink(Sink& sink, bool write_trailer) {
  if (!sink.ctx) return 0;
  int ret = 0;
  if (sink.open && write_trailer) ret = av_write_trailer(sink.ctx.get());
  AVFormatContext* ctx = sink.ctx.get();
  if (ret >= 0 && ctx->pb && ctx->pb->error < 0) ret = ctx->pb->error;
  if (ctx->pb && !(ctx->oformat->flags & AVFMT_NOFILE)) {
    const int closed = avio_closep(&ctx->pb);  // the last buffered bytes are written here
    if (ret >= 0 && closed < 0) ret = closed;
  }
  sink.ctx.reset();
  sink.open = false;
  return ret;
}

// ------------------------------------------------------------------------------------------
// One network output's link thread: connects, writes queued packets, reconnects with backoff.

class NetworkLink {
 public:
  NetworkLink(Muxer& muxer, Muxer::Sink& sink)
      : muxer_(muxer),
        sink_(sink),
        delay_cap_(sink.target.reconnect_delay_max > 0 ? sink.target.reconnect_delay_max
                                                       : kDefaultReconnectDelayMax) {}
  ~NetworkLink() {
    cancel();
    if (thread_.joinable()) thread_.join();
  }
  NetworkLink(const NetworkLink&) = delete;
  NetworkLink& operator=(const NetworkLink&) = delete;

  void start() { thread_ = std::thread([this] { run(); }); }

  // Waits until the first connection attempt ended: "" when it connected, else why not.
  std::string wait_first_attempt() {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return first_attempt_done_; });
    return first_error_;
  }

  // The writer's thread (under the muxer's write lock): queues a reference to the packet, or
  // drops it (counted) while the output is down or waits for a keyframe. Never blocks on I/O.
  void enqueue(const AVPacket* packet, int stream_index, AVRational time_base, bool video) {
    int64_t dropped = 0;
    bool queued = false;
    {
      std::lock_guard lock(mutex_);
      packets_offered_ = true;
      const bool keyframe = video && (packet->flags & AV_PKT_FLAG_KEY);
      if (!accepting_ || (need_keyframe_ && !keyframe)) {
        dropped = 1;
      } else {
        if (queue_.size() >= kMaxQueuedPackets || queued_bytes_ + packet->size > kMaxQueuedBytes) {
          // The link cannot keep up: drop what waits (whole GOPs, oldest first) and restart
          // at a keyframe instead of sending a stream that cannot be decoded.
          dropped = static_cast<int64_t>(queue_.size());
          queue_.clear();
          queued_bytes_ = 0;
          need_keyframe_ = true;
          muxer_.keyframe_wanted_ = true;
        }
        if (need_keyframe_ && !keyframe) {
          ++dropped;
        } else {
          need_keyframe_ = false;
          Queued item{make_packet(), stream_index, time_base};
          if (av_packet_ref(item.packet.get(), packet) < 0) throw std::bad_alloc();
          queued_bytes_ += static_cast<size_t>(std::max(0, packet->size));
          queue_.push_back(std::move(item));
          queued = true;
        }
      }
    }
    if (dropped) muxer_.update_status(sink_, [&](OutputStatus& s) { s.packets_dropped += dropped; });
    if (queued) wake_.notify_all();
  }

  // Sends what is queued, then the trailer, then ends. A link that is down has nothing to send:
  // its pending attempt (a connect blocked on a silent host) is cancelled at once.
  void request_finish() {
    bool down = false;
    {
      std::lock_guard lock(mutex_);
      finishing_ = true;
      down = !accepting_;
    }
    if (down) cancel();
    wake_.notify_all();
  }

  // Aborts whatever the link does, a blocked connect or write included (AVIOInterruptCB).
  void cancel() {
    cancelled_ = true;
    {
      std::lock_guard lock(mutex_);  // a waiter between its check and its wait sees it
    }
    wake_.notify_all();
  }

  // Joins the thread, cancelling it if it has not ended by `deadline`.
  void join(Clock::time_point deadline) {
    {
      std::unique_lock lock(mutex_);
      if (!wake_.wait_until(lock, deadline, [&] { return ended_; })) {
        lock.unlock();
        cancel();
      }
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Queued {
    UniquePacket packet;
    int stream_index;
    AVRational time_base;
  };

  static int interrupt(void* opaque) {
    const NetworkLink* link = static_cast<const NetworkLink*>(opaque);
    return link->cancelled_ || Clock::now() > link->deadline_ ? 1 : 0;
  }

  void run() {
    for (;;) {
      if (!sink_.open) {
        {
          std::unique_lock lock(mutex_);
          wake_.wait_until(lock, retry_at_, [&] { return finishing_ || cancelled_.load(); });
          if (finishing_ || cancelled_) break;  // closed while down: nothing left to send
        }
        connect();
        continue;
      }
      Queued item;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return !queue_.empty() || finishing_ || cancelled_.load(); });
        if (cancelled_ || queue_.empty()) break;  // cancelled, or finishing with everything sent
        item = std::move(queue_.front());
        queue_.pop_front();
        queued_bytes_ -= static_cast<size_t>(std::max(0, item.packet->size));
      }
      send(item);
    }
    end();
  }

  void connect() {
    const AVIOInterruptCB callback{&NetworkLink::interrupt, this};
    deadline_ = Clock::now() + kNetworkCallTimeout;
    try {
      muxer_.open_sink(sink_, &callback);
    } catch (const Error& error) {
      fail(error.what());
      return;
    }
    bool waits_for_keyframe = false;
    {
      std::lock_guard lock(mutex_);
      accepting_ = true;
      // Joining a stream already under way: start at a keyframe. At the very start the first
      // packets are the stream's beginning (and the audio before the first picture).
      waits_for_keyframe = need_keyframe_ = packets_offered_;
      first_attempt_done_ = true;
      first_error_.clear();
    }
    wake_.notify_all();
    if (waits_for_keyframe) muxer_.keyframe_wanted_ = true;
    bool reconnected = false;
    muxer_.update_status(sink_, [&](OutputStatus& s) {
      s.connected = true;
      s.state = "connected";
      reconnected = s.failures > 0;
      if (reconnected) ++s.reconnects;
    });
    if (reconnected)
      av_log(nullptr, AV_LOG_INFO, "vistream: output '%s' reconnected\n", sink_.target.url.c_str());
    backoff_ = kFirstReconnectDelay;
  }

  void send(Queued& item) {
    AVPacket* packet = item.packet.get();
    AVStream* stream = sink_.ctx->streams[item.stream_index];
    packet->stream_index = item.stream_index;
    av_packet_rescale_ts(packet, item.time_base, stream->time_base);
    packet->pos = -1;
    deadline_ = Clock::now() + kNetworkCallTimeout;
    log::ScopedCapture details;
    int ret = av_interleaved_write_frame(sink_.ctx.get(), packet);
    if (ret >= 0 && sink_.ctx->pb && sink_.ctx->pb->error < 0) ret = sink_.ctx->pb->error;
    if (ret < 0) {
      fail(details.annotate("cannot write to '" + sink_.target.url + "': " + av_error_string(ret)));
      return;
    }
    muxer_.update_status(sink_, [](OutputStatus& s) { ++s.packets_written; });
  }

  // Closes the connection without finishing the stream. The rtsp muxer's trailer is also what
  // closes its sockets (TEARDOWN, then the control and RTP connections), so it always runs
  // there, bounded by the deadline or cut short by a cancel.
  void close_unfinished() {
    deadline_ = Clock::now() + std::chrono::seconds(1);
    Muxer::close_sink(sink_, /*write_trailer=*/(sink_.format->flags & AVFMT_NOFILE) != 0);
  }

  // Under mutex_: the link takes no more packets and drops what waits (returned, to be
  // counted); the first attempt, if still pending, is over.
  int64_t stop_accepting_locked() {
    accepting_ = false;
    const auto dropped = static_cast<int64_t>(queue_.size());
    queue_.clear();
    queued_bytes_ = 0;
    first_attempt_done_ = true;
    return dropped;
  }

  // A connect or a write failed: close, drop what waits, retry after the backoff.
  void fail(const std::string& reason) {
    close_unfinished();
    int64_t dropped = 0;
    {
      std::lock_guard lock(mutex_);
      if (!first_attempt_done_) first_error_ = reason;  // before stop_accepting_locked ends the attempt
      dropped = stop_accepting_locked();
    }
    wake_.notify_all();
    if (cancelled_) {  // our own abort (finish, close), not the server's failure
      muxer_.update_status(sink_, [&](OutputStatus& s) { s.packets_dropped += dropped; });
      return;
    }
    muxer_.update_status(sink_, [&](OutputStatus& s) {
      ++s.failures;
      s.last_error = reason;
      s.connected = false;
      s.state = "reconnecting";
      s.packets_dropped += dropped;
    });
    retry_at_ = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(backoff_ * 1000));
    av_log(nullptr, AV_LOG_WARNING, "vistream: output '%s' failed (%s); retrying in %.1f s\n",
           sink_.target.url.c_str(), reason.c_str(), backoff_);
    backoff_ = std::min(backoff_ * 2, delay_cap_);
  }

  void end() {
    const bool was_connected = sink_.open;
    // Errors closing a stream change nothing: it ends either way.
    if (sink_.open && !cancelled_) {
      deadline_ = Clock::now() + kNetworkCallTimeout;
      Muxer::close_sink(sink_, /*write_trailer=*/true);
    } else {
      close_unfinished();
    }
    int64_t dropped = 0;
    {
      std::lock_guard lock(mutex_);
      dropped = stop_accepting_locked();
      ended_ = true;
    }
    wake_.notify_all();
    muxer_.update_status(sink_, [&](OutputStatus& s) {
      s.packets_dropped += dropped;
      s.connected = false;
      s.state = "closed";
      if (!was_connected && s.last_error.empty()) s.last_error = "closed while not connected";
    });
  }

  Muxer& muxer_;
  Muxer::Sink& sink_;  // its ctx/open belong to this link's thread
  const double delay_cap_;

  // Guarded by mutex_ (wake_ signals every change).
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  size_t queued_bytes_ = 0;
  bool accepting_ = false;       // connected: enqueue() keeps packets
  bool need_keyframe_ = false;   // drop until a video keyframe
  bool packets_offered_ = false;  // enqueue() was ever called
  bool finishing_ = false;
  bool first_attempt_done_ = false;
  std::string first_error_;
  bool ended_ = false;

  std::atomic<bool> cancelled_{false};  // any thread sets it; the interrupt callback reads it

  // Link thread only.
  Clock::time_point deadline_{};  // of the libav call in progress
  Clock::time_point retry_at_{};
  double backoff_ = kFirstReconnectDelay;
  std::thread thread_;  // started and joined by the muxer's thread
};

// ------------------------------------------------------------------------------------------

void Muxer::start() {
  std::lock_guard lock(write_mutex_);
  if (started_) return;
  bool any_file = false;
  for (const Sink& sink : sinks_) any_file = any_file || !sink.network;
  auto close_all = [&] {
    for (Sink& sink : sinks_) {
      if (sink.link) sink.link->cancel();
      sink.link.reset();  // joins
      if (!sink.network) close_sink(sink, /*write_trailer=*/true);
      update_status(sink, [](OutputStatus& s) {
        s.connected = false;
        s.state = "closed";
      });
    }
    finished_ = true;
  };
  for (Sink& sink : sinks_) {
    if (sink.network) continue;
    try {
      open_sink(sink, nullptr);
    } catch (const Error&) {
      close_all();
      throw;
    }
    update_status(sink, [](OutputStatus& s) {
      s.connected = true;
      s.state = "connected";
    });
  }
  for (Sink& sink : sinks_) {
    if (!sink.network) continue;
    sink.link = std::make_shared<NetworkLink>(*this, sink);
    sink.link->start();
  }
  if (!any_file) {
    // Only streams: a URL that cannot connect is an error the caller must see now.
    for (Sink& sink : sinks_) {
      const std::string error = sink.link->wait_first_attempt();
      if (!error.empty()) {
        close_all();
        throw Error(ErrorKind::Source, error);
      }
    }
  }
  started_ = true;
  for (Pending& pending : pending_) write_locked(pending.packet.get(), pending.stream_index, pending.time_base);
  pending_.clear();
}

void Muxer::write(AVPacket* packet, int stream_index, AVRational time_base) {
  std::lock_guard lock(write_mutex_);
  if (finished_) return;
  if (!started_) {
    UniquePacket held = make_packet();
    av_packet_move_ref(held.get(), packet);
    pending_.push_back(Pending{std::move(held), stream_index, time_base});
    return;
  }
  write_locked(packet, stream_index, time_base);
}

void Muxer::write_locked(AVPacket* packet, int stream_index, AVRational time_base) {
  const bool video = streams_[stream_index].parameters->codec_type == AVMEDIA_TYPE_VIDEO;
  for (Sink& sink : sinks_) {
    if (sink.link)
      sink.link->enqueue(packet, stream_index, time_base, video);
    else
      write_to_file(sink, packet, stream_index, time_base);
  }
  av_packet_unref(packet);
}

void Muxer::write_to_file(Sink& sink, const AVPacket* packet, int stream_index, AVRational time_base) {
  if (!sink.open) {
    update_status(sink, [](OutputStatus& s) { ++s.packets_dropped; });
    return;
  }
  UniquePacket copy = make_packet();
  VS_CHECK(av_packet_ref(copy.get(), packet), ErrorKind::Encoder, "cannot copy a packet");
  AVStream* stream = sink.ctx->streams[stream_index];
  copy->stream_index = stream_index;
  av_packet_rescale_ts(copy.get(), time_base, stream->time_base);
  copy->pos = -1;
  log::ScopedCapture details;
  int ret = av_interleaved_write_frame(sink.ctx.get(), copy.get());
  // Muxers write through avio's buffer and do not all report a failed flush (mp4's mdat):
  // the I/O context's sticky error tells a full disk at the packet that hit it, not at the end.
  if (ret >= 0 && sink.ctx->pb && sink.ctx->pb->error < 0) ret = sink.ctx->pb->error;
  if (ret < 0) {
    const std::string reason = details.annotate("cannot write to '" + sink.target.url + "': " + av_error_string(ret));
    write_failed_ = true;
    update_status(sink, [&](OutputStatus& s) {
      ++s.failures;
      s.last_error = reason;
    });
    throw Error(ErrorKind::Encoder, reason);
  }
  update_status(sink, [](OutputStatus& s) { ++s.packets_written; });
}

void Muxer::finish() {
  std::lock_guard lock(write_mutex_);
  if (finished_) return;
  finished_ = true;
  if (!started_) return;
  // Streams drain on their own threads while the files get their trailers.
  for (Sink& sink : sinks_)
    if (sink.link) sink.link->request_finish();
  std::string first_error;
  for (Sink& sink : sinks_) {
    if (sink.network) continue;
    const int ret = close_sink(sink, /*write_trailer=*/true);
    if (ret < 0) {
      write_failed_ = true;
      if (first_error.empty()) first_error = "cannot finalize '" + sink.target.url + "': " + av_error_string(ret);
    }
    update_status(sink, [](OutputStatus& s) {
      s.connected = false;
      s.state = "closed";
    });
  }
  const Clock::time_point drain_deadline = Clock::now() + kFinishDrainTime;
  for (Sink& sink : sinks_) {
    if (!sink.link) continue;
    sink.link->join(drain_deadline);
    sink.link.reset();
  }
  finalized_ = first_error.empty() && !write_failed_;
  if (!first_error.empty()) throw Error(ErrorKind::Encoder, first_error);
}

bool Muxer::finalized() const {
  std::lock_guard lock(write_mutex_);
  return finalized_;
}

std::vector<OutputStatus> Muxer::status() const {
  std::lock_guard lock(status_mutex_);
  std::vector<OutputStatus> result;
  for (const Sink& sink : sinks_) result.push_back(sink.status);
  return result;
}

}  // namespace vistream
