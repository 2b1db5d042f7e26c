#include "vistream/av_ptr.hpp"

#include <new>

namespace vistream {

UniqueFrame make_frame() {
  AVFrame* frame = av_frame_alloc();
  if (!frame) throw std::bad_alloc();
  return UniqueFrame(frame);
}

UniquePacket make_packet() {
  AVPacket* packet = av_packet_alloc();
  if (!packet) throw std::bad_alloc();
  return UniquePacket(packet);
}

}  // namespace vistream
