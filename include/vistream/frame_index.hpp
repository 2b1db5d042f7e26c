// The display-order table of a video stream's frames, built by scanning packets (no decoding).
// It turns "frame k" into a pts, tells where frame k's packet lies in decode order, and names
// the keyframe to start decoding from, which is what makes seeking frame-exact (and cheap)
// with B-frames, B-pyramids and open GOPs.
#pragma once

#include <cstdint>
#include <vector>

#include "vistream/ffmpeg.hpp"

namespace vistream {

class Demuxer;

class FrameIndex {
 public:
  struct Keyframe {
    int64_t pts;              // display timestamp (stream time base)
    int64_t dts;              // decode timestamp (AV_NOPTS_VALUE when the container has none)
    int64_t pos = -1;         // byte position of its packet in the file (-1: unknown)
    int64_t decode_order = 0; // ordinal of its packet among the stream's video packets
  };

  // Reads every packet of the video stream from the start. Leaves the demuxer at EOF.
  static FrameIndex scan(Demuxer& demuxer);

  int64_t size() const { return static_cast<int64_t>(frames_.size()); }
  int64_t pts_at(int64_t index) const { return frames_[static_cast<size_t>(index)].pts; }
  // Ordinal, among the stream's video packets in decode order, of frame `index`'s packet.
  int64_t decode_order_at(int64_t index) const { return frames_[static_cast<size_t>(index)].decode_order; }
  // When the last frame stops showing: its pts plus its packet's duration (or, without one,
  // the mean frame distance).
  int64_t end_pts() const { return end_pts_; }
  // Index of the frame with exactly this pts, or -1.
  int64_t index_of(int64_t pts) const;
  // Index of the first frame with pts >= `pts` (size() when none).
  int64_t first_at_or_after(int64_t pts) const;
  // Index of the frame on screen at `ticks` (stream time base, fractional): the last frame
  // whose pts <= ticks, where a frame whose pts lies at most `tolerance` ticks after `ticks`
  // counts as started (containers round timestamps, e.g. to milliseconds). The tolerance is
  // capped at a quarter of the frame's distance to its predecessor, so it never swallows a
  // frame. 0 before the first frame.
  int64_t on_screen_at(double ticks, double tolerance) const;
  // Position in keyframes() of the last keyframe whose pts <= `pts` (0 when none).
  size_t keyframe_before(int64_t pts) const;
  // Position in keyframes() of the keyframe to start decoding from to get frame `index`: the
  // latest keyframe at or before the frame's packet in decode order, or the one before it when
  // the frame is a leading picture of that keyframe (decoded after it but shown before it: an
  // open GOP's leading B-frames reference the previous GOP).
  size_t start_keyframe(int64_t index) const;
  const std::vector<Keyframe>& keyframes() const { return keyframes_; }
  // True when some packets had no pts (AVI with B-frames) and their display times were
  // derived from decode order (see scan()).
  bool derived_timestamps() const { return derived_timestamps_; }

 private:
  struct Entry {
    int64_t pts;
    int64_t decode_order;
  };
  std::vector<Entry> frames_;        // sorted by pts: display order
  std::vector<Keyframe> keyframes_;  // decode order
  bool derived_timestamps_ = false;
  int64_t end_pts_ = 0;
};

}  // namespace vistream
