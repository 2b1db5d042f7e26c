#include "vistream/demuxer.hpp"

#include "vistream/error.hpp"
#include "vistream/log.hpp"

namespace vistream {

Demuxer::Demuxer(const std::string& url, int known_video_stream) : url_(url) {
  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) throw std::bad_alloc();
  raw->interrupt_callback.callback = &Demuxer::interrupt_callback;
  raw->interrupt_callback.opaque = this;
  log::ScopedCapture details;
  // On failure avformat_open_input frees the context itself.
  VS_CHECK(avformat_open_input(&raw, url.c_str(), nullptr, nullptr), ErrorKind::Source,
           details.annotate("cannot open '" + url + "'"));
  ctx_.reset(raw);
  // Reopening a source already probed: when the container header lists every stream (mp4,
  // mkv, ...) the streams and their indices are known, and probing (which decodes frames)
  // would only cost time. Headerless formats (MPEG-TS) create streams while probing.
  const bool reuse_probe = known_video_stream >= 0 && !(ctx_->ctx_flags & AVFMTCTX_NOHEADER) &&
                           known_video_stream < static_cast<int>(ctx_->nb_streams);
  if (!reuse_probe) {
    VS_CHECK(avformat_find_stream_info(ctx_.get(), nullptr), ErrorKind::Source,
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

bool Demuxer::read(AVPacket* packet) {
  for (;;) {
    const int ret = av_read_frame(ctx_.get(), packet);
    if (ret >= 0) return true;
    if (ret == AVERROR(EAGAIN)) continue;
    if (ret == AVERROR_EXIT) return false;  // interrupted on purpose
    if (ret != AVERROR_EOF) ++read_errors_;  // damaged input ends here; what was read stays valid
    return false;
  }
}

void Demuxer::seek(int64_t timestamp) {
  VS_CHECK(av_seek_frame(ctx_.get(), video_index_, timestamp, AVSEEK_FLAG_BACKWARD),
           ErrorKind::Source, "cannot seek in '" + url_ + "'");
}

int Demuxer::interrupt_callback(void* opaque) {
  return static_cast<Demuxer*>(opaque)->interrupted_.load() ? 1 : 0;
}

}  // namespace vistream
