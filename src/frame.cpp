#include "vistream/frame.hpp"

#include <cstring>

#include "vistream/cuda_device.hpp"
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

int Frame::device_ordinal() const {
  if (!on_device()) return -1;
  const auto* frames = reinterpret_cast<const AVHWFramesContext*>(frame_->hw_frames_ctx->data);
  return cuda_ordinal_of(frames->device_ref);
}

AVPixelFormat Frame::memory_format() const {
  if (!on_device()) return pixel_format();
  return reinterpret_cast<const AVHWFramesContext*>(frame_->hw_frames_ctx->data)->sw_format;
}

std::vector<TensorLayout> Frame::plane_layouts() const {
  const AVFrame* av = frame_.get();
  const AVPixelFormat format = memory_format();
  const int ordinal = on_device() ? device_ordinal() : -1;
  const int height = av->height, width = av->width;
  const int chroma_height = (height + 1) / 2, chroma_width = (width + 1) / 2;
  auto plane = [&](int index, int bits, std::vector<int64_t> shape) {
    TensorLayout layout;
    layout.data = av->data[index];
    layout.device_ordinal = ordinal;
    layout.element_bits = bits;
    const int element_bytes = bits / 8;
    const int pitch = av->linesize[index];
    if (!layout.data || pitch <= 0 || pitch % element_bytes != 0) {
      throw Error(ErrorKind::InvalidArgument, "plane " + std::to_string(index) + " of this " + pixel_format_name() +
                                                  " frame has pitch " + std::to_string(pitch) +
                                                  ", not a positive multiple of its " +
                                                  std::to_string(element_bytes) + "-byte samples");
    }
    layout.ndim = static_cast<int>(shape.size());
    const int64_t row = pitch / element_bytes;
    const int64_t pixel = shape.size() == 3 ? shape[2] : 1;
    if (row < shape[1] * pixel)
      throw Error(ErrorKind::InvalidArgument, "plane " + std::to_string(index) + " rows overlap (pitch " +
                                                  std::to_string(pitch) + " < row size)");
    for (size_t d = 0; d < shape.size(); ++d) layout.shape[d] = shape[d];
    layout.strides[0] = row;
    layout.strides[1] = pixel;
    if (shape.size() == 3) layout.strides[2] = 1;
    return layout;
  };
  switch (format) {
    case AV_PIX_FMT_NV12:
      return {plane(0, 8, {height, width}), plane(1, 8, {chroma_height, chroma_width, 2})};
    case AV_PIX_FMT_P010LE:
    case AV_PIX_FMT_P016LE:
      return {plane(0, 16, {height, width}), plane(1, 16, {chroma_height, chroma_width, 2})};
    case AV_PIX_FMT_YUV420P:
      return {plane(0, 8, {height, width}), plane(1, 8, {chroma_height, chroma_width}),
              plane(2, 8, {chroma_height, chroma_width})};
    default:
      break;
  }
  const int channels = on_device() ? 0 : packed_channels();
  if (channels == 1) return {plane(0, 8, {height, width})};
  if (channels > 1) return {plane(0, 8, {height, width, channels})};
  throw Error(ErrorKind::InvalidArgument, std::string("no tensor layout for ") + av_get_pix_fmt_name(format) +
                                              (on_device() ? " device frames" : " frames"));
}

FramePtr Frame::download() const {
  if (!on_device()) throw Error(ErrorKind::InvalidArgument, "download() of a frame already in host memory");
  UniqueFrame host = make_frame();
  VS_CHECK(av_hwframe_transfer_data(host.get(), frame_.get(), 0), ErrorKind::Hardware,
           "cannot download a device frame to host memory");
  VS_CHECK(av_frame_copy_props(host.get(), frame_.get()), ErrorKind::Generic, "cannot copy frame properties");
  auto copy = std::make_shared<Frame>(std::move(host), index_, time_);
  copy->revisit_ = revisit_;
  copy->serial_ = serial_;
  copy->discontinuity_ = discontinuity_;
  return copy;
}

}  // namespace vistream
