#include "vistream/demuxer.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "vistream/log.hpp"

namespace vistream {

// Every network protocol FFmpeg has that cannot reach local files, devices or processes
// (no file, pipe, unix, subfile, concat, cache, async: those would let a remote playlist read
// local data). The source's own scheme is always added.
const char* const kNetworkProtocolWhitelist =
    "http,https,tls,tcp,udp,udplite,rtp,srtp,rtsp,rtsps,rtmp,rtmps,rtmpt,rtmpts,rtmpe,rtmpte,ffrtmphttp,"
    "httpproxy,srt,rist,sctp,mmsh,mmst,ftp,hls,crypto,data";

namespace {

// A demuxer that fails this many reads in a row without reaching the end is broken, not
// resyncing (ffplay retries such errors; we retry a bounded number of times).
constexpr int kMaxConsecutiveReadErrors = 32;
// EAGAIN (no data yet, non-blocking inputs): how long to wait before asking again.
constexpr auto kRetryDelay = std::chrono::milliseconds(10);

bool is_network(const std::string& url) {
  return url.find("://") != std::string::npos && url.rfind("file:", 0) != 0;
}

double resolve(double requested, double network_default, bool network) {
  if (requested < 0) return network ? network_default : 0.0;
  return std::isfinite(requested) ? requested : 0.0;
}

// "rtsp" for "rtsp://host/x", "" for paths and "pipe:" style URLs without "//".
std::string scheme_of(const std::string& url) {
  const size_t end = url.find("://");
  if (end == std::string::npos || end == 0) return "";
  std::string scheme = url.substr(0, end);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return scheme;
}

// The system's CA bundle (what Python's ssl and curl use), so tls_verify checks against the
// same authorities on every TLS backend FFmpeg may be built with. Empty when none is found
// (GnuTLS then falls back to its own system trust).
const std::string& system_ca_file() {
  static const std::string found = [] {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("SSL_CERT_FILE")) candidates.emplace_back(env);
    if (const char* prefix = std::getenv("CONDA_PREFIX")) candidates.push_back(std::string(prefix) + "/ssl/cacert.pem");
    for (const char* path : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                             "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem"})
      candidates.emplace_back(path);
    for (const std::string& path : candidates) {
      if (!path.empty() && ::access(path.c_str(), R_OK) == 0) return path;
    }
    return std::string();
  }();
  return found;
}

// libavdevice (v4l2, lavfi, x11grab...) registers its input formats once per process.
void register_devices() {
  static std::once_flag once;
  std::call_once(once, [] { avdevice_register_all(); });
}

bool has_option(const std::vector<std::pair<std::string, std::string>>& options, const char* key) {
  return std::any_of(options.begin(), options.end(), [key](const auto& kv) { return kv.first == key; });
}

// Protocols that deliver a stream at the sender's pace (never a file read at disk speed).
bool is_live_scheme(const std::string& scheme) {
  for (const char* name : {"rtsp", "rtsps", "rtmp", "rtmps", "rtmpt", "rtmpts", "rtmpe", "rtmpte", "udp", "udplite",
                           "rtp", "srtp", "srt", "rist", "tcp"})
    if (scheme == name) return true;
  return false;
}

std::string seconds_text(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f", seconds);
  return buffer;
}

}  // namespace

Demuxer::Demuxer(const std::string& url, int known_video_stream, std::shared_ptr<CancelToken> cancel,
                 DemuxerOptions options)
    : url_(url), cancel_(cancel ? std::move(cancel) : std::make_shared<CancelToken>()), options_(std::move(options)) {
  const bool network = is_network(url);
  const std::string scheme = scheme_of(url);
  bool rtsp_auto = scheme == "rtsp" || scheme == "rtsps";
  for (const auto& [key, value] : options_.options) {
    if (key == "rtsp_transport" && value != "auto") rtsp_auto = false;
  }
  timeouts_.open = resolve(options_.timeouts.open,
                           rtsp_auto ? IoTimeouts::kDefaultRtspAutoOpen : IoTimeouts::kDefaultOpen, network);
  timeouts_.read = resolve(options_.timeouts.read, IoTimeouts::kDefaultRead, network);
  const std::string open_name = url == "-" ? "pipe:0" : url;  // "-": standard input, as for ffmpeg

  std::string format_name = options_.format;
  if (format_name.empty() && url.rfind("/dev/video", 0) == 0) format_name = "v4l2";
  const AVInputFormat* input_format = nullptr;
  if (!format_name.empty()) {
    register_devices();
    input_format = av_find_input_format(format_name.c_str());
    if (!input_format)
      throw Error(ErrorKind::InvalidArgument, "unknown input format '" + format_name +
                                                  "' (see `ffmpeg -formats` and `ffmpeg -devices`)");
  }
  // Capture devices (v4l2, x11grab...) are live; lavfi (a generator, "device input") is not.
  const bool capture_device = input_format && input_format->priv_class &&
                              input_format->priv_class->category == AV_CLASS_CATEGORY_DEVICE_VIDEO_INPUT;
  live_ = is_live_scheme(scheme) || capture_device;

  // The caller's options, then the defaults they did not override.
  AVDictionary* raw_options = nullptr;
  struct FreeOnExit {
    AVDictionary*& dict;
    ~FreeOnExit() { av_dict_free(&dict); }
  } free_options{raw_options};
  auto set = [&raw_options](const std::string& key, const std::string& value) {
    if (av_dict_set(&raw_options, key.c_str(), value.c_str(), 0) < 0) throw std::bad_alloc();
  };
  std::vector<std::string> user_keys;
  for (const auto& [key, value] : options_.options) {
    user_keys.push_back(key);
    if (key == "rtsp_transport" && value == "auto") continue;  // FFmpeg's default: UDP, then TCP
    set(key, value);
  }
  if (options_.low_latency) {
    // FFmpeg's low-delay demuxing. Probing is left at FFmpeg's defaults: a shorter probe only
    // shortens the open, and fails it when no keyframe comes within it (a stream joined mid-GOP
    // with keyframes a second or more apart), while the steady-state delay is set by these.
    const std::pair<const char*, const char*> low_latency_defaults[] = {{"fflags", "nobuffer"}, {"max_delay", "0"}};
    for (const auto& [key, value] : low_latency_defaults)
      if (!has_option(options_.options, key)) set(key, value);
  }
  if (network) {
    if (!has_option(options_.options, "protocol_whitelist")) {
      std::string whitelist = kNetworkProtocolWhitelist;
      if (!scheme.empty() && ("," + whitelist + ",").find("," + scheme + ",") == std::string::npos)
        whitelist += "," + scheme;
      set("protocol_whitelist", whitelist);
    }
    // Also for plain http: a redirect or a playlist may lead to https.
    if (!has_option(options_.options, "tls_verify")) set("tls_verify", "1");
    if (!has_option(options_.options, "ca_file") && !system_ca_file().empty()) set("ca_file", system_ca_file());
    for (const char* key : {"tls_verify", "ca_file"}) {
      if (const AVDictionaryEntry* entry = av_dict_get(raw_options, key, nullptr, 0))
        nested_options_.emplace_back(key, entry->value);
    }
  }

  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) throw std::bad_alloc();
  raw->interrupt_callback.callback = &Demuxer::interrupt_callback;
  raw->interrupt_callback.opaque = this;
  if (!nested_options_.empty()) {
    default_io_open_ = raw->io_open;
    raw->io_open = &Demuxer::open_nested;
    raw->opaque = this;
  }
  log::ScopedCapture details;
  {
    BlockingCall call(cancel_.get(), timeouts_.open);
    io_ctx_ = raw;
    call_ = &call;
    // On failure avformat_open_input frees the context itself. It leaves in the dictionary
    // the options nothing consumed.
    const int ret = avformat_open_input(&raw, open_name.c_str(), input_format, &raw_options);
    call_ = nullptr;
    io_ctx_ = raw;
    if (ret >= 0) ctx_.reset(raw);
    if (ret < 0 || call.outcome() != BlockingCall::Outcome::Running) {
      const std::string context = details.annotate("cannot open '" + url + "'");
      if (call.outcome() == BlockingCall::Outcome::Running) throw_if_refused(context, context);
      throw_failure(call, ret, ErrorKind::Source, "open", context);
    }
  }
  for (const AVDictionaryEntry* left = nullptr; (left = av_dict_get(raw_options, "", left, AV_DICT_IGNORE_SUFFIX));) {
    // TLS settings of a network source also apply to what it opens later (segments, redirects).
    const bool for_nested = std::any_of(nested_options_.begin(), nested_options_.end(),
                                        [left](const auto& kv) { return kv.first == left->key; });
    if (!for_nested && std::find(user_keys.begin(), user_keys.end(), left->key) != user_keys.end())
      unused_options_.push_back(left->key);
  }
  if (!unused_options_.empty() && known_video_stream < 0) {  // once per source, not per reopen
    std::string names;
    for (const std::string& name : unused_options_) names += (names.empty() ? "" : ", ") + name;
    av_log(nullptr, AV_LOG_WARNING, "vistream: input options not used by '%s': %s\n", url.c_str(), names.c_str());
  }
  // Reopening a source already probed: when the container header lists every stream (mp4,
  // mkv, ...) the streams and their indices are known, and probing (which decodes frames)
  // would only cost time. Headerless formats (MPEG-TS) create streams while probing. The mov
  // demuxer clears the header's size of MPEG-4 Part 2 / H.263 tracks so that the decoder sets it:
  // such a stream has no size until probed, so it is probed again.
  const bool reuse_probe = known_video_stream >= 0 && !(ctx_->ctx_flags & AVFMTCTX_NOHEADER) &&
                           known_video_stream < static_cast<int>(ctx_->nb_streams) &&
                           ctx_->streams[known_video_stream]->codecpar->width > 0;
  if (!reuse_probe) {
    BlockingCall call(cancel_.get(), timeouts_.open);  // probing is still part of opening
    call_ = &call;
    const int ret = avformat_find_stream_info(ctx_.get(), nullptr);
    call_ = nullptr;
    const std::string context = details.annotate("cannot read stream info of '" + url + "'");
    // A playlist whose segments were refused can still "probe" (no streams): refusal first.
    throw_if_refused(context, context);
    // Probing treats a failed read as the end of its data: a stall there still fails the open.
    if (ret < 0 || call.outcome() != BlockingCall::Outcome::Running)
      throw_failure(call, ret, ErrorKind::Source, "open", context);
  }
  if (known_video_stream >= 0 && known_video_stream < static_cast<int>(ctx_->nb_streams)) {
    video_index_ = known_video_stream;
  } else {
    video_index_ = av_find_best_stream(ctx_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    // Cover art (attached pictures) is not a video track.
    if (video_index_ >= 0 && (ctx_->streams[video_index_]->disposition & AV_DISPOSITION_ATTACHED_PIC))
      video_index_ = -1;
  }
  audio_index_ = av_find_best_stream(ctx_.get(), AVMEDIA_TYPE_AUDIO, -1, video_index_, nullptr, 0);
  if (video_index_ < 0) video_index_ = -1;
  if (audio_index_ < 0) audio_index_ = -1;
  if (const AVStream* video = video_stream(); video && (video->codecpar->width <= 0 || video->codecpar->height <= 0)) {
    // Probing found the stream but never its parameters: nothing of it can be decoded.
    throw Error(ErrorKind::Source, "cannot open '" + url + "': the size of its video stream is unknown (" +
                                       "the data is truncated or damaged, or a live stream sent no keyframe " +
                                       "while it was probed)");
  }
  for (unsigned i = 0; i < ctx_->nb_streams; ++i) {
    if (static_cast<int>(i) != video_index_ && static_cast<int>(i) != audio_index_)
      ctx_->streams[i]->discard = AVDISCARD_ALL;
  }
}

AVStream* Demuxer::video_stream() const {
  return video_index_ >= 0 ? ctx_->streams[video_index_] : nullptr;
}

AVStream* Demuxer::audio_stream() const {
  return audio_index_ >= 0 ? ctx_->streams[audio_index_] : nullptr;
}

bool Demuxer::seekable() const {
  return ctx_->pb ? (ctx_->pb->seekable & AVIO_SEEKABLE_NORMAL) != 0 : false;
}

int64_t Demuxer::io_progress() const {
  return io_ctx_ && io_ctx_->pb ? io_ctx_->pb->pos : -1;
}

void Demuxer::end_call(const BlockingCall& call) {
  call_ = nullptr;
  switch (call.outcome()) {
    case BlockingCall::Outcome::Running:
      break;
    case BlockingCall::Outcome::Interrupted:
      // Ctrl-C is not the source's fault: clear the abort FFmpeg left on the I/O context, so
      // the caller may go on reading (a network read may lose what was in flight).
      if (ctx_ && ctx_->pb && ctx_->pb->error == AVERROR_EXIT) {
        ctx_->pb->error = 0;
        ctx_->pb->eof_reached = 0;
      }
      break;
    default:
      aborted_ = call.outcome();  // the I/O context stays aborted: later reads report why
  }
}

void Demuxer::throw_failure(const BlockingCall& call, int code, ErrorKind kind, const std::string& what,
                            const std::string& context) const {
  const BlockingCall::Outcome outcome =
      call.outcome() != BlockingCall::Outcome::Running ? call.outcome() : aborted_;
  switch (outcome) {
    case BlockingCall::Outcome::Cancelled:
      throw Error(ErrorKind::Cancelled, "'" + url_ + "': " + what + " cancelled");
    case BlockingCall::Outcome::Interrupted:
      throw Error(ErrorKind::Interrupted, "'" + url_ + "': " + what + " interrupted");
    case BlockingCall::Outcome::TimedOut:
      throw Error(ErrorKind::SourceTimeout, "'" + url_ + "': " + what + " stalled: no data for " +
                                                seconds_text(call.timeout()) + " s (timeout)");
    case BlockingCall::Outcome::Running:
      break;
  }
  if (code == AVERROR(ETIMEDOUT)) kind = ErrorKind::SourceTimeout;  // the protocol's own timeout
  throw_av_error(code, kind, context);
}

void Demuxer::throw_if_refused(const std::string& explanation, const std::string& context) const {
  if (explanation.find("not on whitelist") != std::string::npos || explanation.find("on blacklist") != std::string::npos)
    throw Error(ErrorKind::SourceNotAllowed, context + " (refused by protocol_whitelist; pass input_options="
                                                       "{\"protocol_whitelist\": ...} to allow it)");
  const bool certificate = explanation.find("ertificate") != std::string::npos;
  if (certificate && (explanation.find("verif") != std::string::npos || explanation.find("hostname") != std::string::npos))
    throw Error(ErrorKind::SourceCertificate, context + " (TLS certificate not trusted; pass input_options="
                                                        "{\"ca_file\": ...} or, to skip the check, {\"tls_verify\": \"0\"})");
}

bool Demuxer::read(AVPacket* packet) {
  BlockingCall call(cancel_.get(), timeouts_.read);
  int consecutive_errors = 0;
  for (;;) {
    call_ = &call;
    int ret;
    {
      // A playlist may open its next segment here: a refused one must not pass as a gap.
      log::ScopedCapture details;
      ret = av_read_frame(ctx_.get(), packet);
      const std::string explanation = details.annotate("");
      if (!explanation.empty()) {
        end_call(call);
        if (ret >= 0 && explanation.find("whitelist") != std::string::npos) av_packet_unref(packet);
        throw_if_refused(explanation, details.annotate("cannot read '" + url_ + "'"));
      }
    }
    end_call(call);
    if (ret >= 0) {  // even if aborted meanwhile: a packet the demuxer had buffered
      if (packet->stream_index == video_index_) ++video_packets_;
      return true;
    }
    if (call.outcome() != BlockingCall::Outcome::Running || aborted_ != BlockingCall::Outcome::Running)
      throw_failure(call, ret, ErrorKind::Source, "read", "cannot read '" + url_ + "'");
    if (ret == AVERROR_EOF) {
      const AVStream* video = video_stream();
      if (!seeked_ && video_packets_ == 0 && video && video->nb_frames > 0) {
        // The header lists video samples but the data ends before the first: a cut file.
        ++read_errors_;
        av_log(nullptr, AV_LOG_WARNING, "vistream: '%s' ends before its first video packet (%lld listed)\n",
               url_.c_str(), static_cast<long long>(video->nb_frames));
      }
      return false;
    }
    if (ret == AVERROR(EAGAIN)) {
      // No data yet: wait on the token (stop() wakes it) instead of spinning; the read's stall
      // deadline keeps running.
      cancel_->sleep_for(kRetryDelay);
      if (call.should_abort(io_progress()))
        throw_failure(call, ret, ErrorKind::Source, "read", "cannot read '" + url_ + "'");
      continue;
    }
    ++read_errors_;
    AVIOContext* pb = ctx_->pb;
    if (pb && pb->error < 0 && pb->error != AVERROR_EOF)
      throw_av_error(pb->error, ErrorKind::Source, "cannot read '" + url_ + "'");  // I/O failure
    if (pb && avio_feof(pb)) {
      // The data ended inside a packet: a truncated file. What was read stays valid.
      av_log(nullptr, AV_LOG_WARNING, "vistream: '%s' ends early (%s)\n", url_.c_str(), av_error_string(ret).c_str());
      return false;
    }
    // Damaged data: the demuxer resyncs on the next call, unless it keeps failing.
    if (++consecutive_errors >= kMaxConsecutiveReadErrors)
      throw_av_error(ret, ErrorKind::Source, "cannot read '" + url_ + "'");
  }
}

void Demuxer::seek(int64_t timestamp) {
  seeked_ = true;
  BlockingCall call(cancel_.get(), timeouts_.read);
  call_ = &call;
  const int ret = av_seek_frame(ctx_.get(), video_index_, timestamp, AVSEEK_FLAG_BACKWARD);
  end_call(call);
  if (ret < 0) throw_failure(call, ret, ErrorKind::Source, "seek", "cannot seek in '" + url_ + "'");
}

int Demuxer::open_nested(AVFormatContext* s, AVIOContext** pb, const char* url, int flags, AVDictionary** options) {
  auto* self = static_cast<Demuxer*>(s->opaque);
  AVDictionary* local = nullptr;
  AVDictionary** effective = options ? options : &local;
  for (const auto& [key, value] : self->nested_options_) {
    if (!av_dict_get(*effective, key.c_str(), nullptr, 0)) av_dict_set(effective, key.c_str(), value.c_str(), 0);
  }
  const int ret = self->default_io_open_(s, pb, url, flags, effective);
  av_dict_free(&local);
  return ret;
}

int Demuxer::interrupt_callback(void* opaque) {
  auto* self = static_cast<Demuxer*>(opaque);
  if (self->call_) return self->call_->should_abort(self->io_progress()) ? 1 : 0;
  return self->cancel_->cancelled() ? 1 : 0;
}

}  // namespace vistream
