#include "vistream/muxer.hpp"

#include <cstring>

#include "vistream/error.hpp"

namespace vistream {

Muxer::Muxer(const std::string& path) : path_(path) {
  AVFormatContext* raw = nullptr;
  const int ret = avformat_alloc_output_context2(&raw, nullptr, nullptr, path.c_str());
  if (ret < 0 || !raw) {
    throw Error(ErrorKind::InvalidArgument,
                "cannot tell the container format from output name '" + path +
                    "' (use an extension such as .mp4, .mkv, .mov, .ts)");
  }
  ctx_.reset(raw);
}

Muxer::~Muxer() {
  try {
    finish();
  } catch (...) {
    // Destructors must not throw; finish() already did what it could.
  }
}

bool Muxer::needs_global_header() const { return (ctx_->oformat->flags & AVFMT_GLOBALHEADER) != 0; }

int Muxer::add_stream(const AVCodecContext* encoder) {
  std::lock_guard lock(mutex_);
  AVStream* stream = avformat_new_stream(ctx_.get(), nullptr);
  if (!stream) throw std::bad_alloc();
  VS_CHECK(avcodec_parameters_from_context(stream->codecpar, encoder), ErrorKind::Encoder,
           "cannot set up output stream");
  stream->time_base = encoder->time_base;
  if (encoder->codec_type == AVMEDIA_TYPE_VIDEO) stream->avg_frame_rate = encoder->framerate;
  return stream->index;
}

int Muxer::add_copy_stream(const AVStream* input) {
  std::lock_guard lock(mutex_);
  AVStream* stream = avformat_new_stream(ctx_.get(), nullptr);
  if (!stream) throw std::bad_alloc();
  VS_CHECK(avcodec_parameters_copy(stream->codecpar, input->codecpar), ErrorKind::Encoder,
           "cannot set up output stream");
  stream->codecpar->codec_tag = 0;  // let the muxer pick the tag valid for its container
  stream->time_base = input->time_base;
  return stream->index;
}

void Muxer::start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  if (!(ctx_->oformat->flags & AVFMT_NOFILE)) {
    VS_CHECK(avio_open(&ctx_->pb, path_.c_str(), AVIO_FLAG_WRITE), ErrorKind::Source,
             "cannot open output '" + path_ + "'");
  }
  Dictionary options;
  const char* name = ctx_->oformat->name;
  if (strstr(name, "mp4") || strstr(name, "mov")) options.set("movflags", "+faststart");
  VS_CHECK(avformat_write_header(ctx_.get(), options.address()), ErrorKind::Encoder,
           "cannot write header of '" + path_ + "'");
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
  AVStream* stream = ctx_->streams[stream_index];
  packet->stream_index = stream_index;
  av_packet_rescale_ts(packet, time_base, stream->time_base);
  packet->pos = -1;
  int ret = av_interleaved_write_frame(ctx_.get(), packet);
  // Muxers write through avio's buffer and do not all report a failed flush (mp4's mdat):
  // the I/O context's sticky error tells a full disk at the packet that hit it, not at the end.
  if (ret >= 0 && ctx_->pb && ctx_->pb->error < 0) ret = ctx_->pb->error;
  if (ret < 0) write_failed_ = true;
  VS_CHECK(ret, ErrorKind::Encoder, "cannot write to '" + path_ + "'");
}

bool Muxer::finalized() const {
  std::lock_guard lock(mutex_);
  return finalized_;
}

void Muxer::finish() {
  std::lock_guard lock(mutex_);
  if (finished_ || !started_) {
    finished_ = true;
    return;
  }
  finished_ = true;
  int ret = av_write_trailer(ctx_.get());
  if (ret >= 0 && ctx_->pb && ctx_->pb->error < 0) ret = ctx_->pb->error;
  if (ctx_->pb && !(ctx_->oformat->flags & AVFMT_NOFILE)) {
    const int closed = avio_closep(&ctx_->pb);  // the last buffered bytes are written here
    if (ret >= 0 && closed < 0) ret = closed;
  }
  finalized_ = ret >= 0 && !write_failed_;
  VS_CHECK(ret, ErrorKind::Encoder, "cannot finalize '" + path_ + "'");
}

}  // namespace vistream
