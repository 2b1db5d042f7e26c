#include "vistream/frame.hpp"

#include <cstring>

#include "vistream/error.hpp"

namespace vistream {

Frame::Frame(UniqueFrame frame, int64_t index, double time)
    : frame_(std::move(frame)), index_(index), time_(time) {}

const char* Frame::pixel_format_name() const {
  const char* name = av_get_pix_fmt_name(pixel_format());
  return name ? name : "none";
}

namespace {

// True when the planes already lie back to back from data[0] with linesize == width.
bool in_stacked_layout(const AVFrame* frame) {
  uint8_t* planes[4] = {};
  int linesizes[4] = {};
  const int size = av_image_fill_arrays(planes, linesizes, frame->data[0],
                                        static_cast<AVPixelFormat>(frame->format), frame->width, frame->height, 1);
  if (size < 0) return false;
  for (int p = 0; p < 4; ++p) {
    if (planes[p] != frame->data[p] || (planes[p] && linesizes[p] != frame->linesize[p])) return false;
  }
  // The whole picture must be inside the first buffer (views are built on buf[0] alone).
  return frame->buf[0] && frame->data[0] >= frame->buf[0]->data &&
         frame->data[0] + size <= frame->buf[0]->data + frame->buf[0]->size;
}

// Replaces `frame`'s buffers by one new buffer in the stacked layout holding the same picture.
void copy_to_stacked_layout(AVFrame* frame) {
  const auto format = static_cast<AVPixelFormat>(frame->format);
  const int size = av_image_get_buffer_size(format, frame->width, frame->height, 1);
  VS_CHECK(size, ErrorKind::Generic, "sizing a stacked frame buffer");
  // Padding as FFmpeg gives its own buffers: SIMD code may read a little past the last row.
  UniqueBufferRef buffer(av_buffer_alloc(size + AV_INPUT_BUFFER_PADDING_SIZE));
  if (!buffer) throw std::bad_alloc();
  std::memset(buffer->data + size, 0, AV_INPUT_BUFFER_PADDING_SIZE);  // the picture is copied over the rest
  UniqueFrame stacked = make_frame();
  stacked->format = frame->format;
  stacked->width = frame->width;
  stacked->height = frame->height;
  VS_CHECK(av_frame_copy_props(stacked.get(), frame), ErrorKind::Generic, "copying frame properties");
  VS_CHECK(av_image_fill_arrays(stacked->data, stacked->linesize, buffer->data, format, frame->width,
                                frame->height, 1),
           ErrorKind::Generic, "laying out a stacked frame");
  av_image_copy(stacked->data, stacked->linesize, const_cast<const uint8_t**>(frame->data), frame->linesize,
                format, frame->width, frame->height);
  stacked->buf[0] = buffer.release();
  // Same AVFrame object, new buffers: the old ones go back to their owner (decoder, pool).
  av_frame_unref(frame);
  av_frame_move_ref(frame, stacked.get());
}

}  // namespace

void Frame::ensure_writable() {
  if (writable_) return;
  if (stacked_format()) {
    if (!av_frame_is_writable(frame_.get()) || !in_stacked_layout(frame_.get()))
      copy_to_stacked_layout(frame_.get());
  } else {
    VS_CHECK(av_frame_make_writable(frame_.get()), ErrorKind::Generic, "making frame writable");
  }
  writable_ = true;
}

bool Frame::stacked_format() const {
  const AVPixelFormat format = pixel_format();
  return (format == AV_PIX_FMT_YUV420P || format == AV_PIX_FMT_NV12) && frame_->width % 2 == 0 &&
         frame_->height % 2 == 0;
}

int Frame::packed_channels() const {
  switch (pixel_format()) {
    case AV_PIX_FMT_GRAY8: return 1;
    case AV_PIX_FMT_BGR24:
    case AV_PIX_FMT_RGB24: return 3;
    case AV_PIX_FMT_RGBA:
    case AV_PIX_FMT_BGRA:
    case AV_PIX_FMT_ARGB:
    case AV_PIX_FMT_ABGR: return 4;
    default: return 0;
  }
}

}  // namespace vistream
