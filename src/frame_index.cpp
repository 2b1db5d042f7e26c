#include "vistream/frame_index.hpp"

#include <algorithm>

#include "vistream/demuxer.hpp"

namespace vistream {

FrameIndex FrameIndex::scan(Demuxer& demuxer) {
  FrameIndex index;
  AVStream* stream = demuxer.video_stream();
  // Only packet headers matter; skip decoding entirely and drop other streams' packets.
  UniquePacket packet = make_packet();
  while (demuxer.read(packet.get())) {
    if (packet->stream_index == stream->index) {
      const int64_t pts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
      if (pts != AV_NOPTS_VALUE && !(packet->flags & AV_PKT_FLAG_DISCARD)) {
        index.pts_.push_back(pts);
        if (packet->flags & AV_PKT_FLAG_KEY) {
          const int64_t dts = packet->dts != AV_NOPTS_VALUE ? packet->dts : pts;
          index.keyframes_.push_back(Keyframe{pts, dts});
        }
      }
    }
    av_packet_unref(packet.get());
  }
  std::sort(index.pts_.begin(), index.pts_.end());
  index.pts_.erase(std::unique(index.pts_.begin(), index.pts_.end()), index.pts_.end());
  if (index.keyframes_.empty() && !index.pts_.empty())
    index.keyframes_.push_back(Keyframe{index.pts_.front(), index.pts_.front()});
  return index;
}

int64_t FrameIndex::index_of(int64_t pts) const {
  auto it = std::lower_bound(pts_.begin(), pts_.end(), pts);
  return (it != pts_.end() && *it == pts) ? it - pts_.begin() : -1;
}

int64_t FrameIndex::first_at_or_after(int64_t pts) const {
  return std::lower_bound(pts_.begin(), pts_.end(), pts) - pts_.begin();
}

size_t FrameIndex::keyframe_before(int64_t pts) const {
  // Keyframes are in decode order; their pts increase in practice, but do not rely on it.
  size_t best = 0;
  bool found = false;
  for (size_t i = 0; i < keyframes_.size(); ++i) {
    if (keyframes_[i].pts <= pts && (!found || keyframes_[i].pts >= keyframes_[best].pts)) {
      best = i;
      found = true;
    }
  }
  return best;
}

}  // namespace vistream
