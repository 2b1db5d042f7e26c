// Batch retrieval: many frames of one VideoSource, asked by index or by time in any order
// (duplicates allowed), fetched in one forward pass. The distinct indices are visited once each
// in increasing order; the source seeks only when the next one cannot be reached by decoding
// forward from the current position (a keyframe lies between them, so starting from that
// keyframe is cheaper), and results come back in the order asked.
//
// With decode lanes (with_lanes(), see decode_lanes.hpp) the batch is planned as *runs* (a seek
// to a keyframe, then decoding forward to the run's last target: the same decisions the
// sequential walk makes) and, when the rule in decode_on_lanes() says it pays, the runs are
// decoded in parallel on single-threaded lanes instead of on the source's frame-threaded
// decoder; the frames are the same either way, and afterwards the source reads on after the
// last target as it would have.
//
// Not thread-safe, like the VideoSource it drives: the caller serializes (the bindings run a
// whole batch as one Reader operation). Arguments are checked before the first seek, so a bad
// batch leaves the source where it was.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vistream/error.hpp"
#include "vistream/frame.hpp"

namespace vistream {

class DecodeLanes;
class VideoSource;

// An index or time outside the stream. Kind InvalidArgument for C++ callers that only look at
// the kind; the bindings raise it as vistream.FrameIndexError (an IndexError).
class OutOfRangeError : public Error {
 public:
  explicit OutOfRangeError(const std::string& message) : Error(ErrorKind::InvalidArgument, message) {}
};

// Frames copied back to back into one buffer, each laid out like the frame's numpy view
// (rows without padding): shape (N, H, W, C) for packed formats, (N, H, W) for gray,
// (N, H*3/2, W) for yuv420p/nv12.
struct FrameStack {
  std::vector<int64_t> shape;
  std::unique_ptr<uint8_t[]> pixels;  // shape's product bytes; null when N == 0
};

class FrameBatch {
 public:
  // Frames by 0-based display index; negative indices count from the end (-1: the last).
  // Builds the source's frame index if needed (Error(Source) for a live source); throws
  // OutOfRangeError when an index is outside [-count, count).
  FrameBatch(VideoSource& source, const std::vector<int64_t>& indices);

  // The frame on screen at each time (seconds on the stream's clock, as Frame.time): the one
  // with pts <= t < next pts. `t` is compared at the stream's timestamp precision (rounded to
  // the nearest tick), so a container that rounds timestamps (mkv: 1 ms) still yields frame k
  // for t = k / fps. The last frame is on screen until its pts plus the previous frame interval.
  // Error(InvalidArgument) for NaN or infinite times, OutOfRangeError for times before the
  // first frame or after the last one.
  static FrameBatch played_at(VideoSource& source, const std::vector<double>& seconds);

  // Lets the batch decode its runs on `lanes` (the owner's, opened for this source; null: none).
  FrameBatch& with_lanes(DecodeLanes* lanes) {
    lanes_ = lanes;
    return *this;
  }

  size_t size() const { return slot_target_.size(); }
  // Index of the frame each slot (position in the request) gets.
  std::vector<int64_t> indices() const;

  // The frames, one per slot in the order asked; duplicates share one Frame.
  std::vector<FramePtr> frames();
  // The frames copied into one buffer, one per slot in the order asked. Each decoded frame is
  // copied into its slots and released at once, so memory beyond the result stays bounded.
  // Error(InvalidArgument) when frames differ in size or their format has no stacked layout.
  FrameStack stack();

 private:
  struct Checked {};  // the indices are known to be in range and non-negative
  FrameBatch(VideoSource& source, const std::vector<int64_t>& slot_indices, Checked);
  // Calls on_frame(target position, frame) once for each distinct index: in increasing order
  // on the calling thread, or, on lanes, from the lanes' threads (each position once, so
  // writes to per-position storage need no lock).
  using OnFrame = std::function<void(size_t position, FramePtr frame)>;
  void visit(const OnFrame& on_frame);
  // Targets [begin, end) decoding from one seek to a keyframe onward (positions in targets_);
  // `work`: packets decoded from that keyframe to the last one the run needs.
  struct Run {
    size_t begin = 0;
    size_t end = 0;
    int64_t work = 0;
  };
  std::vector<Run> plan_runs() const;
  // Decodes the batch on lanes when they apply and pay (see the .cpp); false: it did not.
  bool decode_on_lanes(const OnFrame& on_frame);

  VideoSource& source_;
  DecodeLanes* lanes_ = nullptr;
  std::vector<int64_t> targets_;      // distinct indices, increasing
  std::vector<size_t> slot_target_;   // for each slot: its position in targets_
};

}  // namespace vistream
