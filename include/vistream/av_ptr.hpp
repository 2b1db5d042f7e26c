// RAII owners for every libav object the core holds. A raw libav pointer that owns
// something never outlives the statement that created it: it goes straight into one of these.
#pragma once

#include <memory>

#include "vistream/ffmpeg.hpp"

namespace vistream {

namespace detail {
struct FormatInputDeleter {
  void operator()(AVFormatContext* ctx) const { avformat_close_input(&ctx); }
};
struct FormatOutputDeleter {
  void operator()(AVFormatContext* ctx) const {
    if (ctx->pb && !(ctx->oformat->flags & AVFMT_NOFILE)) avio_closep(&ctx->pb);
    avformat_free_context(ctx);
  }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* ctx) const { avcodec_free_context(&ctx); }
};
struct FrameDeleter {
  void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
struct PacketDeleter {
  void operator()(AVPacket* packet) const { av_packet_free(&packet); }
};
struct FilterGraphDeleter {
  void operator()(AVFilterGraph* graph) const { avfilter_graph_free(&graph); }
};
struct FilterInOutDeleter {
  void operator()(AVFilterInOut* io) const { avfilter_inout_free(&io); }
};
struct SwsDeleter {
  void operator()(SwsContext* ctx) const { sws_freeContext(ctx); }
};
struct BufferRefDeleter {
  void operator()(AVBufferRef* ref) const { av_buffer_unref(&ref); }
};
}  // namespace detail

using UniqueInputFormatContext = std::unique_ptr<AVFormatContext, detail::FormatInputDeleter>;
using UniqueOutputFormatContext = std::unique_ptr<AVFormatContext, detail::FormatOutputDeleter>;
using UniqueCodecContext = std::unique_ptr<AVCodecContext, detail::CodecContextDeleter>;
using UniqueFrame = std::unique_ptr<AVFrame, detail::FrameDeleter>;
using UniquePacket = std::unique_ptr<AVPacket, detail::PacketDeleter>;
using UniqueFilterGraph = std::unique_ptr<AVFilterGraph, detail::FilterGraphDeleter>;
using UniqueFilterInOut = std::unique_ptr<AVFilterInOut, detail::FilterInOutDeleter>;
using UniqueSwsContext = std::unique_ptr<SwsContext, detail::SwsDeleter>;
using UniqueBufferRef = std::unique_ptr<AVBufferRef, detail::BufferRefDeleter>;

// Allocators that never return null: allocation failure becomes std::bad_alloc.
UniqueFrame make_frame();
UniquePacket make_packet();

// An owning AVDictionary for passing options; release() hands it to libav calls that take AVDictionary**.
class Dictionary {
 public:
  Dictionary() = default;
  Dictionary(const Dictionary&) = delete;
  Dictionary& operator=(const Dictionary&) = delete;
  ~Dictionary() { av_dict_free(&dict_); }
  void set(const char* key, const char* value) { av_dict_set(&dict_, key, value, 0); }
  void set(const char* key, int64_t value) { av_dict_set_int(&dict_, key, value, 0); }
  AVDictionary** address() { return &dict_; }
  AVDictionary* get() const { return dict_; }

 private:
  AVDictionary* dict_ = nullptr;
};

}  // namespace vistream
