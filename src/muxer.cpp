#include "vistream/muxer.hpp"

#include <cstdio>
#include <cstring>
#include <sys/stat.h>

#include "vistream/error.hpp"
#include "vistream/log.hpp"

namespace vistream {
namespace {

using Clock = std::chrono::steady_clock;

// A network call (connect, header, one packet) may block this long before it counts as a
// failure: bounded so a dead server never holds the file outputs back for more than this.
constexpr auto kNetworkCallTimeout = std::chrono::seconds(5);
constexpr double kDefaultReconnectDelayMax = 10.0;

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

// "rec-%03d.mp4" numbers segments; a name with strftime fields other than %d
// ("rec-%Y%m%d-%H%M%S.mp4") is expanded with the time instead.
bool numbered_pattern(const std::string& url) {
  for (size_t i = 0; i + 1 < url.size(); ++i) {
    if (url[i] != '%') continue;
    if (url[i + 1] == '%') {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < url.size() && isdigit(static_cast<unsigned char>(url[j]))) ++j;
    if (j < url.size() && url[j] != 'd' && isalpha(static_cast<unsigned char>(url[j]))) return false;
  }
  return true;
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

bool has_name_pattern(const std::string& url) {
  for (size_t i = 0; i + 1 < url.size(); ++i) {
    if (url[i] != '%') continue;
    if (url[i + 1] == '%') {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < url.size() && isdigit(static_cast<unsigned char>(url[j]))) ++j;
    if (j < url.size() && isalpha(static_cast<unsigned char>(url[j]))) return true;
  }
  return false;
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

bool Muxer::accepts(const AVCodecParameters* parameters, AVRational time_base) const {
  for (const Sink& sink : sinks_) {
    const AVOutputFormat* format = sink.format;
    if (is_segmenting(format) || (format->flags & AVFMT_NOFILE)) {
      // No trial header for these (they open files or connections): ask the codec table of
      // the container they carry.
      const AVOutputFormat* inner = av_guess_format(nullptr, sink.target.url.c_str(), nullptr);
      if (strcmp(format->name, "hls") == 0 || !inner || is_segmenting(inner)) inner = av_guess_format("mpegts", nullptr, nullptr);
      if (strcmp(format->name, "rtsp") == 0) {
        if (avformat_query_codec(format, parameters->codec_id, FF_COMPLIANCE_NORMAL) == 0) return false;
        continue;
      }
      format = inner;
    }
    if (avformat_query_codec(format, parameters->codec_id, FF_COMPLIANCE_NORMAL) == 0) return false;
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
  std::lock_guard lock(mutex_);
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
  std::lock_guard lock(mutex_);
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
  std::lock_guard lock(mutex_);
  rotation_ = degrees;
}

int Muxer::interrupt(void* opaque) {
  const Sink* sink = static_cast<const Sink*>(opaque);
  return Clock::now() > sink->deadline ? 1 : 0;
}

void Muxer::open_sink(Sink& sink) {
  const OutputTarget& target = sink.target;
  const std::string& url = target.url;
  AVFormatContext* raw = nullptr;
  VS_CHECK(avformat_alloc_output_context2(&raw, sink.format, nullptr, url.c_str()), ErrorKind::Encoder,
           "cannot set up output '" + url + "'");
  sink.ctx.reset(raw);
  AVFormatContext* ctx = raw;
  if (sink.network) {
    ctx->interrupt_callback.callback = &Muxer::interrupt;
    ctx->interrupt_callback.opaque = &sink;
    sink.deadline = Clock::now() + kNetworkCallTimeout;
  }
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
    if (!numbered_pattern(url)) set_default("strftime", "1");
    if (inner && (strstr(inner->name, "mp4") || strstr(inner->name, "mov")))
      set_default("segment_format_options", "movflags=+faststart");
  } else if (name == "hls") {
    if (target.segment_time > 0) set_default("hls_time", std::to_string(target.segment_time));
  } else if (name.find("mp4") != std::string::npos || name.find("mov") != std::string::npos) {
    set_default("movflags", "+faststart");
  }
  if (scheme_of(url) == "udp") set_default("pkt_size", "1316");  // 7 TS packets: no IP fragmentation
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
  sink.status.connected = true;
}

void Muxer::close_sink(Sink& sink, bool write_trailer) {
  if (!sink.ctx) return;
  int ret = 0;
  if (sink.open && write_trailer) {
    if (sink.network) sink.deadline = Clock::now() + kNetworkCallTimeout;
    ret = av_write_trailer(sink.ctx.get());
  }
  AVFormatContext* ctx = sink.ctx.get();
  if (ret >= 0 && ctx->pb && ctx->pb->error < 0) ret = ctx->pb->error;
  if (ctx->pb && !(ctx->oformat->flags & AVFMT_NOFILE)) {
    const int closed = avio_closep(&ctx->pb);  // the last buffered bytes are written here
    if (ret >= 0 && closed < 0) ret = closed;
  }
  sink.ctx.reset();
  sink.open = false;
  sink.status.connected = false;
  if (!sink.network && ret < 0) write_failed_ = true;
  if (!sink.network) VS_CHECK(ret, ErrorKind::Encoder, "cannot finalize '" + sink.target.url + "'");
}

void Muxer::fail_network_sink(Sink& sink, const std::string& reason) {
  ++sink.status.failures;
  sink.status.last_error = reason;
  try {
    close_sink(sink, /*write_trailer=*/false);
  } catch (...) {
    // Closing a broken connection may fail too; it is closed either way.
  }
  const double cap = sink.target.reconnect_delay_max > 0 ? sink.target.reconnect_delay_max : kDefaultReconnectDelayMax;
  sink.retry_at = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(sink.backoff * 1000));
  av_log(nullptr, AV_LOG_WARNING, "vistream: output '%s' failed (%s); retrying in %.1f s\n",
         sink.target.url.c_str(), reason.c_str(), sink.backoff);
  sink.backoff = std::min(sink.backoff * 2, cap);
}

void Muxer::start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  bool any_file = false;
  for (const Sink& sink : sinks_) any_file = any_file || !sink.network;
  for (Sink& sink : sinks_) {
    try {
      open_sink(sink);
    } catch (const Error& error) {
      // Files must start; a network output next to a file recording is retried while the
      // recording goes on (the server may come up later).
      if (!sink.network || !any_file) {
        for (Sink& opened : sinks_) {
          try {
            close_sink(opened, /*write_trailer=*/true);
          } catch (...) {
          }
        }
        finished_ = true;
        throw;
      }
      fail_network_sink(sink, error.what());
    }
  }
  started_ = true;
  for (Pending& pending : pending_) write_locked(pending.packet.get(), pending.stream_index, pending.time_base);
  pending_.clear();
}

void Muxer::write(AVPacket* packet, int stream_index, AVRational time_base) {
  std::lock_guard lock(mutex_);
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
  for (Sink& sink : sinks_) write_to_sink(sink, packet, stream_index, time_base);
  av_packet_unref(packet);
}

void Muxer::write_to_sink(Sink& sink, const AVPacket* packet, int stream_index, AVRational time_base) {
  if (!sink.open) {
    if (!sink.network || Clock::now() < sink.retry_at) {
      ++sink.status.packets_dropped;
      return;
    }
    try {
      open_sink(sink);
      sink.wait_keyframe = true;  // a stream rejoined mid-way must start decodable
      ++sink.status.reconnects;
      sink.backoff = 0.5;
      av_log(nullptr, AV_LOG_INFO, "vistream: output '%s' reconnected\n", sink.target.url.c_str());
    } catch (const Error& error) {
      fail_network_sink(sink, error.what());
      ++sink.status.packets_dropped;
      return;
    }
  }
  const AVCodecParameters* parameters = streams_[stream_index].parameters.get();
  if (sink.wait_keyframe) {
    if (parameters->codec_type != AVMEDIA_TYPE_VIDEO || !(packet->flags & AV_PKT_FLAG_KEY)) {
      ++sink.status.packets_dropped;
      return;
    }
    sink.wait_keyframe = false;
  }
  UniquePacket copy = make_packet();
  VS_CHECK(av_packet_ref(copy.get(), packet), ErrorKind::Encoder, "cannot copy a packet");
  AVStream* stream = sink.ctx->streams[stream_index];
  copy->stream_index = stream_index;
  av_packet_rescale_ts(copy.get(), time_base, stream->time_base);
  copy->pos = -1;
  if (sink.network) sink.deadline = Clock::now() + kNetworkCallTimeout;
  log::ScopedCapture details;
  int ret = av_interleaved_write_frame(sink.ctx.get(), copy.get());
  // Muxers write through avio's buffer and do not all report a failed flush (mp4's mdat):
  // the I/O context's sticky error tells a full disk at the packet that hit it, not at the end.
  if (ret >= 0 && sink.ctx->pb && sink.ctx->pb->error < 0) ret = sink.ctx->pb->error;
  if (ret < 0) {
    const std::string reason = details.annotate("cannot write to '" + sink.target.url + "': " + av_error_string(ret));
    if (!sink.network) {
      write_failed_ = true;
      throw Error(ErrorKind::Encoder, reason);
    }
    fail_network_sink(sink, reason);
    return;
  }
  ++sink.status.packets_written;
}

void Muxer::finish() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (!started_) return;
  std::string first_error;
  for (Sink& sink : sinks_) {
    try {
      close_sink(sink, /*write_trailer=*/true);
    } catch (const Error& error) {
      if (first_error.empty()) first_error = error.what();
    }
  }
  finalized_ = first_error.empty() && !write_failed_;
  if (!first_error.empty()) throw Error(ErrorKind::Encoder, first_error);
}

bool Muxer::finalized() const {
  std::lock_guard lock(mutex_);
  return finalized_;
}

std::vector<OutputStatus> Muxer::status() const {
  std::lock_guard lock(mutex_);
  std::vector<OutputStatus> result;
  for (const Sink& sink : sinks_) result.push_back(sink.status);
  return result;
}

}  // namespace vistream
