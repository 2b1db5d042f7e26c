#include "vistream/frame.hpp"

#include "vistream/error.hpp"

namespace vistream {

Frame::Frame(UniqueFrame frame, int64_t index, double time)
    : frame_(std::move(frame)), index_(index), time_(time) {}

const char* Frame::pixel_format_name() const {
  const char* name = av_get_pix_fmt_name(pixel_format());
  return name ? name : "none";
}

void Frame::ensure_writable() {
  if (writable_) return;
  VS_CHECK(av_frame_make_writable(frame_.get()), ErrorKind::Generic, "making frame writable");
  writable_ = true;
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
