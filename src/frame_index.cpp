#include "vistream/frame_index.hpp"

#include <algorithm>
#include <cmath>

#include "vistream/demuxer.hpp"

namespace vistream {
namespace {

struct ScannedPacket {
  int64_t pts;
  int64_t dts;
  int64_t pos;
  int64_t duration;
  int64_t decode_order;
  bool key;
  bool discard;
};

// AVI (and other dts-only containers) with B-frames: libavformat gives B-frames pts = dts and
// leaves the reference frames (I/P) without pts. A reference frame is shown when the next
// reference frame arrives (MPEG reordering), which is also the timestamp the decoder gives it
// (the dts of the packet that makes it come out); the last one is shown one frame after
// everything else. Without this the index would be one frame off against decoded frames.
// Only that pattern is derived: some packets with pts, and keyframes without (a container
// that merely leaves pts out now and then, e.g. MPEG-TS, stamps its keyframes).
bool derive_missing_pts(std::vector<ScannedPacket>& packets) {
  bool some_with = false;
  bool some_without = false;
  bool keyframe_with = false;
  for (const ScannedPacket& p : packets) {
    if (p.pts != AV_NOPTS_VALUE) some_with = true;
    else if (p.dts != AV_NOPTS_VALUE) some_without = true;
    if (p.key && p.pts != AV_NOPTS_VALUE) keyframe_with = true;
  }
  if (!some_with || !some_without || keyframe_with) {
    for (ScannedPacket& p : packets) {
      if (p.pts == AV_NOPTS_VALUE) p.pts = p.dts;  // nothing to reorder: decode order is display order
    }
    return false;
  }
  int64_t latest = AV_NOPTS_VALUE;
  int64_t step = 0;
  for (const ScannedPacket& p : packets) {
    const int64_t ts = p.pts != AV_NOPTS_VALUE ? p.pts : p.dts;
    if (ts != AV_NOPTS_VALUE && (latest == AV_NOPTS_VALUE || ts > latest)) latest = ts;
    if (p.duration > 0) step = p.duration;
  }
  if (step <= 0) step = 1;
  ScannedPacket* waiting = nullptr;  // the last reference frame seen, not shown yet
  for (ScannedPacket& p : packets) {
    if (p.pts != AV_NOPTS_VALUE || p.dts == AV_NOPTS_VALUE) continue;
    if (waiting) waiting->pts = p.dts;
    waiting = &p;
  }
  if (waiting) waiting->pts = latest + step;
  return true;
}

}  // namespace

FrameIndex FrameIndex::scan(Demuxer& demuxer) {
  FrameIndex index;
  AVStream* stream = demuxer.video_stream();
  // Only packet headers matter; skip decoding entirely and drop other streams' packets.
  std::vector<ScannedPacket> packets;
  UniquePacket packet = make_packet();
  int64_t decode_order = 0;
  while (demuxer.read(packet.get())) {
    if (packet->stream_index == stream->index) {
      // Every video packet takes an ordinal, as it will when read again for decoding.
      packets.push_back(ScannedPacket{packet->pts, packet->dts, packet->pos, packet->duration, decode_order++,
                                      (packet->flags & AV_PKT_FLAG_KEY) != 0,
                                      (packet->flags & AV_PKT_FLAG_DISCARD) != 0});
    }
    av_packet_unref(packet.get());
  }
  index.derived_timestamps_ = derive_missing_pts(packets);
  for (const ScannedPacket& p : packets) {
    if (p.pts == AV_NOPTS_VALUE) continue;
    if (p.key) index.keyframes_.push_back(Keyframe{p.pts, p.dts, p.pos, p.decode_order});
    if (!p.discard) index.frames_.push_back(Entry{p.pts, p.decode_order});
  }
  std::stable_sort(index.frames_.begin(), index.frames_.end(),
                   [](const Entry& a, const Entry& b) { return a.pts < b.pts; });
  index.frames_.erase(std::unique(index.frames_.begin(), index.frames_.end(),
                                  [](const Entry& a, const Entry& b) { return a.pts == b.pts; }),
                      index.frames_.end());
  if (!index.frames_.empty()) {
    const int64_t last = index.frames_.back().pts;
    int64_t duration = 0;
    for (const ScannedPacket& p : packets) {
      if (p.pts == last && !p.discard) duration = p.duration;
    }
    if (duration <= 0) {
      const size_t n = index.frames_.size();
      duration = n > 1 ? std::max<int64_t>(1, (last - index.frames_.front().pts) / static_cast<int64_t>(n - 1)) : 1;
    }
    index.end_pts_ = last + duration;
  }
  if (index.keyframes_.empty() && !index.frames_.empty()) {
    // No packet says "key": decoding can only start at the beginning.
    const Entry& first = index.frames_.front();
    index.keyframes_.push_back(Keyframe{first.pts, first.pts, -1, 0});
  }
  return index;
}

int64_t FrameIndex::index_of(int64_t pts) const {
  auto it = std::lower_bound(frames_.begin(), frames_.end(), pts,
                             [](const Entry& e, int64_t value) { return e.pts < value; });
  return (it != frames_.end() && it->pts == pts) ? it - frames_.begin() : -1;
}

int64_t FrameIndex::first_at_or_after(int64_t pts) const {
  return std::lower_bound(frames_.begin(), frames_.end(), pts,
                          [](const Entry& e, int64_t value) { return e.pts < value; }) -
         frames_.begin();
}

int64_t FrameIndex::on_screen_at(double ticks, double tolerance) const {
  if (frames_.empty()) return 0;
  // The last frame that starts at or before ticks + tolerance...
  int64_t found = std::upper_bound(frames_.begin(), frames_.end(), ticks + tolerance,
                                   [](double value, const Entry& e) { return value < static_cast<double>(e.pts); }) -
                  frames_.begin() - 1;
  // ...unless it starts after ticks by more than its share of the tolerance.
  while (found > 0) {
    const double start = static_cast<double>(frames_[static_cast<size_t>(found)].pts);
    const double gap = start - static_cast<double>(frames_[static_cast<size_t>(found - 1)].pts);
    if (start - ticks <= std::min(tolerance, gap / 4)) break;
    --found;
  }
  return std::max<int64_t>(found, 0);
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

size_t FrameIndex::start_keyframe(int64_t index) const {
  if (keyframes_.empty() || index < 0 || index >= size()) return 0;
  const Entry& target = frames_[static_cast<size_t>(index)];
  // The latest keyframe whose packet comes at or before the target's in decode order.
  auto after = std::upper_bound(keyframes_.begin(), keyframes_.end(), target.decode_order,
                                [](int64_t order, const Keyframe& k) { return order < k.decode_order; });
  if (after == keyframes_.begin()) return 0;  // before the first keyframe: from the start
  size_t pos = static_cast<size_t>(after - keyframes_.begin()) - 1;
  // A leading picture (shown before its keyframe) may reference the previous GOP: start there.
  while (pos > 0 && target.pts < keyframes_[pos].pts) --pos;
  return pos;
}

}  // namespace vistream
