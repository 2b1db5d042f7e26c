#include "vistream/demuxer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "vistream/log.hpp"

namespace vistream {
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

std::string seconds_text(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f", seconds);
  return buffer;
}

}  // namespace

Demuxer::Demuxer(const std::string& url, int known_video_stream, std::shared_ptr<CancelToken> cancel,
                 IoTimeouts timeouts)
    : url_(url), cancel_(cancel ? std::move(cancel) : std::make_shared<CancelToken>()) {
  const bool network = is_network(url);
  timeouts_.open = resolve(timeouts.open, IoTimeouts::kDefaultOpen, network);
  timeouts_.read = resolve(timeouts.read, IoTimeouts::kDefaultRead, network);
  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) throw std::bad_alloc();
  raw->interrupt_callback.callback = &Demuxer::interrupt_callback;
  raw->interrupt_callback.opaque = this;
  log::ScopedCapture details;
  {
    BlockingCall call(cancel_.get(), timeouts_.open);
    io_ctx_ = raw;
    call_ = &call;
    // On failure avformat_open_input frees the context itself.
    const int ret = avformat_open_input(&raw, url.c_str(), nullptr, nullptr);
    call_ = nullptr;
    io_ctx_ = raw;
    if (ret >= 0) ctx_.reset(raw);
    if (ret < 0 || call.outcome() != BlockingCall::Outcome::Running)
      throw_failure(call, ret, ErrorKind::Source, "open", details.annotate("cannot open '" + url + "'"));
  }
  // Reopening a source already probed: when the container header lists every stream (mp4,
  // mkv, ...) the streams and their indices are known, and probing (which decodes frames)
  // would only cost time. Headerless formats (MPEG-TS) create streams while probing.
  const bool reuse_probe = known_video_stream >= 0 && !(ctx_->ctx_flags & AVFMTCTX_NOHEADER) &&
                           known_video_stream < static_cast<int>(ctx_->nb_streams);
  if (!reuse_probe) {
    BlockingCall call(cancel_.get(), timeouts_.open);  // probing is still part of opening
    call_ = &call;
    const int ret = avformat_find_stream_info(ctx_.get(), nullptr);
    call_ = nullptr;
    // Probing treats a failed read as the end of its data: a stall there still fails the open.
    if (ret < 0 || call.outcome() != BlockingCall::Outcome::Running)
      throw_failure(call, ret, ErrorKind::Source, "open",
                    details.annotate("cannot read stream info of '" + url + "'"));
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

bool Demuxer::read(AVPacket* packet) {
  BlockingCall call(cancel_.get(), timeouts_.read);
  int consecutive_errors = 0;
  for (;;) {
    call_ = &call;
    const int ret = av_read_frame(ctx_.get(), packet);
    end_call(call);
    if (ret >= 0) return true;  // even if aborted meanwhile: a packet the demuxer had buffered
    if (call.outcome() != BlockingCall::Outcome::Running || aborted_ != BlockingCall::Outcome::Running)
      throw_failure(call, ret, ErrorKind::Source, "read", "cannot read '" + url_ + "'");
    if (ret == AVERROR_EOF) return false;
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
  BlockingCall call(cancel_.get(), timeouts_.read);
  call_ = &call;
  const int ret = av_seek_frame(ctx_.get(), video_index_, timestamp, AVSEEK_FLAG_BACKWARD);
  end_call(call);
  if (ret < 0) throw_failure(call, ret, ErrorKind::Source, "seek", "cannot seek in '" + url_ + "'");
}

int Demuxer::interrupt_callback(void* opaque) {
  auto* self = static_cast<Demuxer*>(opaque);
  if (self->call_) return self->call_->should_abort(self->io_progress()) ? 1 : 0;
  return self->cancel_->cancelled() ? 1 : 0;
}

}  // namespace vistream
