#include "vistream/frame_batch.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>

#include "vistream/decode_lanes.hpp"
#include "vistream/frame_index.hpp"
#include "vistream/video_source.hpp"

namespace vistream {
namespace {

std::vector<int64_t> checked_indices(VideoSource& source, const std::vector<int64_t>& indices) {
  const int64_t count = source.count_frames();  // the filtered frames when a vfilter changes the timeline
  std::vector<int64_t> checked;
  checked.reserve(indices.size());
  for (const int64_t index : indices) {
    const int64_t resolved = index < 0 ? index + count : index;
    if (resolved < 0 || resolved >= count) {
      throw OutOfRangeError("frame index " + std::to_string(index) + " is out of range: the video has " +
                            std::to_string(count) + " frames");
    }
    checked.push_back(resolved);
  }
  return checked;
}

// Shape of one frame as its numpy view has it (see FrameStack).
std::vector<int64_t> frame_shape(AVPixelFormat format, int width, int height) {
  switch (format) {
    case AV_PIX_FMT_GRAY8: return {height, width};
    case AV_PIX_FMT_BGR24:
    case AV_PIX_FMT_RGB24: return {height, width, 3};
    case AV_PIX_FMT_RGBA:
    case AV_PIX_FMT_BGRA:
    case AV_PIX_FMT_ARGB:
    case AV_PIX_FMT_ABGR: return {height, width, 4};
    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_NV12:
      if (width % 2 == 0 && height % 2 == 0) return {height * 3 / 2, width};
      break;
    default: break;
  }
  const char* name = av_get_pix_fmt_name(format);
  throw Error(ErrorKind::InvalidArgument, std::string("stacking ") + (name ? name : "unknown-format") + " frames of " +
                                              std::to_string(width) + "x" + std::to_string(height) +
                                              " needs even width and height (the stacked H*3/2 x W layout); "
                                              "use stack=False and frame.planes");
}

}  // namespace

FrameBatch::FrameBatch(VideoSource& source, const std::vector<int64_t>& indices)
    : FrameBatch(source, checked_indices(source, indices), Checked{}) {}

FrameBatch::FrameBatch(VideoSource& source, const std::vector<int64_t>& slot_indices, Checked)
    : source_(source), targets_(slot_indices), slot_target_(slot_indices.size()) {
  std::sort(targets_.begin(), targets_.end());
  targets_.erase(std::unique(targets_.begin(), targets_.end()), targets_.end());
  for (size_t slot = 0; slot < slot_indices.size(); ++slot) {
    slot_target_[slot] = static_cast<size_t>(
        std::lower_bound(targets_.begin(), targets_.end(), slot_indices[slot]) - targets_.begin());
  }
}

FrameBatch FrameBatch::played_at(VideoSource& source, const std::vector<double>& seconds) {
  for (const double t : seconds) {
    if (!std::isfinite(t)) throw Error(ErrorKind::InvalidArgument, "time must be a finite number of seconds, got " + std::to_string(t));
  }
  if (source.count_frames() > 0 && source.timeline_filtered()) {
    // A vfilter that changes the timeline (fps=...): the filtered frames' times decide.
    std::vector<int64_t> indices;
    indices.reserve(seconds.size());
    const int64_t count = source.count_frames();
    for (const double t : seconds) {
      const int64_t index = source.index_at_time(t, /*clamp_to_last=*/false);
      if (index >= count || t < source.time_of_index(0) - 0.0005) {
        throw OutOfRangeError("time " + std::to_string(t) + " s is outside the filtered video: its frames are on screen from " +
                              std::to_string(source.time_of_index(0)) + " s");
      }
      indices.push_back(index);
    }
    return FrameBatch(source, indices, Checked{});
  }
  const FrameIndex& table = source.frame_table();
  const AVRational time_base = source.demuxer().video_stream()->time_base;
  const double tick = av_q2d(time_base);
  const int64_t count = table.size();
  std::vector<int64_t> indices;
  indices.reserve(seconds.size());
  if (count == 0 && !seconds.empty()) throw OutOfRangeError("the video has no frames");
  if (count == 0) return FrameBatch(source, indices, Checked{});
  const int64_t first_pts = table.pts_at(0);
  const int64_t last_pts = table.pts_at(count - 1);
  int64_t last_duration = count >= 2 ? last_pts - table.pts_at(count - 2) : 0;
  if (last_duration <= 0) {
    const MediaInfo& info = source.info();
    const double fps = info.frame_rate.den ? static_cast<double>(info.frame_rate.num) / info.frame_rate.den : 0.0;
    last_duration = fps > 0 ? std::max<int64_t>(1, std::llround(1.0 / fps / tick)) : 1;
  }
  const int64_t end_pts = last_pts + last_duration;
  for (const double t : seconds) {
    const double ticks = std::nearbyint(t / tick);
    // Compared as doubles first: a time far outside the stream must not overflow int64.
    if (ticks < static_cast<double>(first_pts) || ticks >= static_cast<double>(end_pts)) {
      throw OutOfRangeError("time " + std::to_string(t) + " s is outside the video: its frames are on screen from " +
                            std::to_string(first_pts * tick) + " s to " + std::to_string(end_pts * tick) + " s");
    }
    const int64_t at = static_cast<int64_t>(ticks);
    // The last frame whose pts <= t.
    indices.push_back(std::max<int64_t>(0, table.first_at_or_after(at + 1) - 1));
  }
  return FrameBatch(source, indices, Checked{});
}

std::vector<int64_t> FrameBatch::indices() const {
  std::vector<int64_t> out(slot_target_.size());
  for (size_t slot = 0; slot < out.size(); ++slot) out[slot] = targets_[slot_target_[slot]];
  return out;
}

namespace {

// Decodes targets[begin, end) on `source`, whose begin_targets() covers them, calling
// on_frame(position, frame) for each; should_stop() is asked before each target (lanes: another
// lane failed, or the owner was closed).
template <typename OnFrame, typename ShouldStop>
void decode_targets(VideoSource& source, const std::vector<int64_t>& targets, size_t begin, size_t end,
                    OnFrame&& on_frame, ShouldStop&& should_stop) {
  // Where the source is is unknown at the start (the Reader may have been iterated), so the
  // first target is always asked of seek_to_index(); afterwards `next_index` is the frame
  // next() returns. The very next frame is simply read. For any other target the source
  // decides: it decodes forward when the target's start keyframe was already read (frames
  // before the target are then neither converted nor, when non-reference, decoded), and
  // seeks otherwise.
  bool positioned = false;
  int64_t next_index = 0;
  for (size_t position = begin; position < end; ++position) {
    if (should_stop()) return;
    const int64_t target = targets[position];
    if (!positioned || target != next_index) source.seek_to_index(target);
    for (;;) {
      FramePtr frame = source.next();
      if (!frame) {
        throw Error(ErrorKind::Decode, "frame " + std::to_string(target) +
                                           " could not be decoded: the stream ended before it");
      }
      if (frame->index() == target) {
        next_index = target + 1;
        positioned = true;
        on_frame(position, std::move(frame));
        break;
      }
      if (frame->index() > target) {
        // Damaged data: the decoder skipped the frame the index lists.
        throw Error(ErrorKind::Decode, "frame " + std::to_string(target) +
                                           " could not be decoded: the decoder went on to frame " +
                                           std::to_string(frame->index()));
      }
      // An earlier frame, decoded only to reach the target.
    }
  }
}

// The source decodes only what the targets need (see VideoSource::begin_targets) and, when the
// targets are done (or failed), goes back to plain reading.
struct TargetSession {
  TargetSession(VideoSource& source, std::vector<int64_t> targets) : source(source) {
    source.begin_targets(std::move(targets));
  }
  ~TargetSession() { source.end_targets(); }
  VideoSource& source;
};

// When lanes pay (measured on 2 cores under load, 640x360 and 1080p H.264, see
// docs/architecture.md "Random access"): below a few packets of work, starting threads (and, the
// first time, opening the lanes) costs more than it saves; and a batch whose longest run is most
// of the work stays on the frame-threaded decoder, because a run cannot be split: on lanes the
// batch takes at least that run's single-threaded decode, while the frame-threaded decoder
// decodes everything ~1.15-1.25x faster than one thread (long forward runs, both sizes), so
// lanes win while longest/total < ~0.8; 0.75 leaves a margin for a loaded machine.
constexpr int64_t kMinLaneWork = 8;           // packets, summed over the runs
constexpr double kMaxLongestRunShare = 0.75;  // of the summed work

}  // namespace

std::vector<FrameBatch::Run> FrameBatch::plan_runs() const {
  // The boundaries VideoSource's run_limit() draws (a target whose start keyframe lies beyond
  // the packet right after the run's last needed one starts a new run: a seek is cheaper than
  // decoding the frames between), and one more: a target whose start keyframe is exactly that
  // next packet starts a new run too. One decoder saves a seek by decoding on there; on lanes
  // the split costs a seek but nothing is decoded twice, and the two runs can go in parallel
  // (random access on clips with B-frames often ends a GOP's last target right before the next
  // keyframe, which would chain the whole batch into a few long runs).
  const FrameIndex& table = source_.frame_table();
  std::vector<Run> runs;
  int64_t run_start_order = 0;
  int64_t run_limit = -1;
  for (size_t position = 0; position < targets_.size(); ++position) {
    const int64_t target = targets_[position];
    const int64_t start_order = table.keyframes()[table.start_keyframe(target)].decode_order;
    const int64_t order = table.decode_order_at(target);
    if (runs.empty() || start_order > run_limit) {
      runs.push_back(Run{position, position + 1, 0});
      run_start_order = start_order;
      run_limit = order;
    } else {
      runs.back().end = position + 1;
      run_limit = std::max(run_limit, order);
    }
    runs.back().work = run_limit - run_start_order + 1;
  }
  return runs;
}

bool FrameBatch::decode_on_lanes(const OnFrame& on_frame) {
  if (!lanes_ || targets_.size() < 2) return false;
  const size_t lane_count = lanes_->usable_for(source_);
  if (lane_count < 2) return false;
  const std::vector<Run> runs = plan_runs();
  if (runs.size() < 2) return false;
  int64_t total = 0;
  int64_t longest = 0;
  for (const Run& run : runs) {
    total += run.work;
    longest = std::max(longest, run.work);
  }
  if (total < kMinLaneWork || static_cast<double>(longest) > kMaxLongestRunShare * static_cast<double>(total))
    return false;
  lanes_->decode(source_.shared_frame_table(), std::min(lane_count, runs.size()), runs.size(),
                 [&](VideoSource& lane, size_t run_number) {
                   const Run& run = runs[run_number];
                   TargetSession session(lane, std::vector<int64_t>(targets_.begin() + static_cast<std::ptrdiff_t>(run.begin),
                                                                    targets_.begin() + static_cast<std::ptrdiff_t>(run.end)));
                   decode_targets(lane, targets_, run.begin, run.end, on_frame,
                                  [&] { return lanes_->lane_must_stop(run_number); });
                 });
  // Reading on continues after the last target, as after a batch decoded by the source itself.
  source_.resume_at(targets_.back() + 1);
  return true;
}

void FrameBatch::visit(const OnFrame& on_frame) {
  if (targets_.empty()) return;
  if (decode_on_lanes(on_frame)) return;
  TargetSession session(source_, targets_);
  decode_targets(source_, targets_, 0, targets_.size(), on_frame, [] { return false; });
}

std::vector<FramePtr> FrameBatch::frames() {
  std::vector<FramePtr> by_target(targets_.size());
  visit([&](size_t position, FramePtr frame) { by_target[position] = std::move(frame); });
  std::vector<FramePtr> out(slot_target_.size());
  for (size_t slot = 0; slot < out.size(); ++slot) out[slot] = by_target[slot_target_[slot]];
  return out;
}

FrameStack FrameBatch::stack() {
  FrameStack result;
  const int64_t slots = static_cast<int64_t>(slot_target_.size());
  // Also refuses a format without a stacked layout before anything is decoded.
  const MediaInfo& info = source_.info();
  const std::vector<int64_t> expected_shape = frame_shape(av_get_pix_fmt(info.output_format.c_str()), info.width, info.height);
  if (slots == 0) {
    result.shape = expected_shape;
    result.shape.insert(result.shape.begin(), 0);
    return result;
  }
  // Slots grouped by target, so each decoded frame is copied to its slots and dropped at once.
  std::vector<size_t> slots_by_target(slot_target_.size());
  std::iota(slots_by_target.begin(), slots_by_target.end(), size_t{0});
  std::stable_sort(slots_by_target.begin(), slots_by_target.end(),
                   [&](size_t a, size_t b) { return slot_target_[a] < slot_target_[b]; });
  // first_slot[p]..first_slot[p + 1]: the range of slots_by_target that target p fills.
  std::vector<size_t> first_slot(targets_.size() + 1, 0);
  for (const size_t target : slot_target_) ++first_slot[target + 1];
  std::partial_sum(first_slot.begin(), first_slot.end(), first_slot.begin());
  // Lanes call this from several threads: the buffer is made by the first frame (under the
  // lock, as is the size check); the copies go to disjoint slots, outside it.
  std::mutex layout_mutex;
  size_t frame_bytes = 0;
  visit([&](size_t position, FramePtr frame) {
    const AVFrame* av = frame->av_frame();
    const auto format = static_cast<AVPixelFormat>(av->format);
    std::vector<int64_t> shape = frame_shape(format, av->width, av->height);
    uint8_t* pixels = nullptr;
    size_t bytes = 0;
    {
      std::lock_guard lock(layout_mutex);
      if (!result.pixels) {
        // Sized by the first frame, not by info(): a filter may change the size.
        frame_bytes = static_cast<size_t>(av_image_get_buffer_size(format, av->width, av->height, 1));
        result.shape = shape;
        result.shape.insert(result.shape.begin(), slots);
        result.pixels.reset(new uint8_t[frame_bytes * static_cast<size_t>(slots)]);  // no zero-fill: every byte is written
      } else if (!std::equal(shape.begin(), shape.end(), result.shape.begin() + 1, result.shape.end())) {
        throw Error(ErrorKind::FrameSizeMismatch,
                    "cannot stack frames of different sizes (frame " + std::to_string(frame->index()) + " is " +
                        std::to_string(av->width) + "x" + std::to_string(av->height) + ", an earlier one " +
                        std::to_string(result.shape[2]) + " wide and " + std::to_string(result.shape[1]) +
                        " rows high): the stream changes size; use stack=False");
      }
      pixels = result.pixels.get();
      bytes = frame_bytes;
    }
    uint8_t* first_copy = nullptr;
    for (size_t k = first_slot[position]; k < first_slot[position + 1]; ++k) {
      uint8_t* destination = pixels + slots_by_target[k] * bytes;
      if (first_copy) {
        std::memcpy(destination, first_copy, bytes);
      } else {
        VS_CHECK(av_image_copy_to_buffer(destination, static_cast<int>(bytes), av->data, av->linesize, format,
                                         av->width, av->height, 1),
                 ErrorKind::Generic, "copying a frame into the stack");
        first_copy = destination;
      }
    }
  });
  return result;
}

}  // namespace vistream
