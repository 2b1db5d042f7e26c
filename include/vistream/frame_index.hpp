// The display-order table of a video stream's frames, built by scanning packets (no decoding).
// It turns "frame k" into a pts and finds the keyframe to start decoding from, which is what
// makes seeking frame-exact with B-frames and open GOPs.
#pragma once

#include <cstdint>
#include <vector>

#include "vistream/ffmpeg.hpp"

namespace vistream {

class Demuxer;

class FrameIndex {
 public:
  struct Keyframe {
    int64_t pts;
    int64_t dts;  // decode timestamp; the demuxer seeks by it
  };

  // Reads every packet of the video stream from the start. Leaves the demuxer at EOF.
  static FrameIndex scan(Demuxer& demuxer);

  int64_t size() const { return static_cast<int64_t>(pts_.size()); }
  int64_t pts_at(int64_t index) const { return pts_[static_cast<size_t>(index)]; }
  // Index of the frame with exactly this pts, or -1.
  int64_t index_of(int64_t pts) const;
  // Index of the first frame with pts >= `pts` (size() when none).
  int64_t first_at_or_after(int64_t pts) const;
  // Position in keyframes() of the last keyframe whose pts <= `pts` (0 when none).
  size_t keyframe_before(int64_t pts) const;
  const std::vector<Keyframe>& keyframes() const { return keyframes_; }

 private:
  std::vector<int64_t> pts_;         // sorted: display order
  std::vector<Keyframe> keyframes_;  // decode order
};

}  // namespace vistream
