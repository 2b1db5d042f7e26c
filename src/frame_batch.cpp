#include "vistream/frame_batch.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

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

template <typename OnFrame>
void FrameBatch::visit(OnFrame&& on_frame) {
  if (targets_.empty()) return;
  // Where the source is is unknown at the start (the Reader may have been iterated), so the
  // first target is always asked of seek_to_index(); afterwards `next_index` is the frame
  // next() returns. The very next frame is simply read. For any other target the source
  // decides: it decodes forward when the target's start keyframe was already read (frames
  // before the target are then neither converted nor, when non-reference, decoded), and
  // seeks otherwise.
  bool positioned = false;
  int64_t next_index = 0;
  // The source decodes only what the targets need (see VideoSource::begin_targets) and, when
  // the batch ends (or fails), goes back to plain reading.
  source_.begin_targets(targets_);
  struct EndTargets {
    VideoSource& source;
    ~EndTargets() { source.end_targets(); }
  } end_targets{source_};
  for (size_t position = 0; position < targets_.size(); ++position) {
    const int64_t target = targets_[position];
    if (!positioned || target != next_index) source_.seek_to_index(target);
    for (;;) {
      FramePtr frame = source_.next();
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
  size_t next_slot = 0;
  size_t frame_bytes = 0;
  visit([&](size_t position, FramePtr frame) {
    const AVFrame* av = frame->av_frame();
    const auto format = static_cast<AVPixelFormat>(av->format);
    std::vector<int64_t> shape = frame_shape(format, av->width, av->height);
    if (!result.pixels) {
      // Sized by the first frame, not by info(): a filter may change the size.
      frame_bytes = static_cast<size_t>(av_image_get_buffer_size(format, av->width, av->height, 1));
      result.shape = shape;
      result.shape.insert(result.shape.begin(), slots);
      result.pixels.reset(new uint8_t[frame_bytes * static_cast<size_t>(slots)]);  // no zero-fill: every byte is written
    } else if (!std::equal(shape.begin(), shape.end(), result.shape.begin() + 1, result.shape.end())) {
      throw Error(ErrorKind::InvalidArgument, "cannot stack frames of different sizes (frame " +
                                                  std::to_string(frame->index()) + " is " + std::to_string(av->width) +
                                                  "x" + std::to_string(av->height) + "); use stack=False");
    }
    uint8_t* first_copy = nullptr;
    for (; next_slot < slots_by_target.size() && slot_target_[slots_by_target[next_slot]] == position; ++next_slot) {
      uint8_t* destination = result.pixels.get() + slots_by_target[next_slot] * frame_bytes;
      if (first_copy) {
        std::memcpy(destination, first_copy, frame_bytes);
      } else {
        VS_CHECK(av_image_copy_to_buffer(destination, static_cast<int>(frame_bytes), av->data, av->linesize, format,
                                         av->width, av->height, 1),
                 ErrorKind::Generic, "copying a frame into the stack");
        first_copy = destination;
      }
    }
  });
  return result;
}

}  // namespace vistream
