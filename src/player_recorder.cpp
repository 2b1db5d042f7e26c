#include "vistream/player_recorder.hpp"

#include <cmath>

#include "vistream/ffmpeg.hpp"

#include "vistream/cuda_convert.hpp"
#include "vistream/error.hpp"
#include "vistream/player.hpp"
#include "vistream/test_hooks.hpp"

namespace vistream {
namespace {

VideoFormat encoder_input_for(VideoSource& source, const std::string& pixel_format) {
  const MediaInfo& info = source.info();
  VideoFormat input;
  input.width = info.width;
  input.height = info.height;
  input.format = av_get_pix_fmt(pixel_format.c_str());
  input.time_base = AVRational{info.time_base.num, info.time_base.den};
  input.frame_rate = AVRational{info.frame_rate.num, info.frame_rate.den};
  input.sample_aspect_ratio = source.demuxer().video_stream()->codecpar->sample_aspect_ratio;
  return input;
}

// The rotation written into the outputs: the one asked for, else the source's display matrix
// unless the frames reaching the encoder are already upright (a quarter turn swapped their
// width and height). When the source learns to autorotate (SourceOptions::autorotate, issue 10's
// faults work), its "frames were turned" flag must also return 0 here: a 180-degree turn swaps
// nothing.
double output_rotation(const PlayerOptions& options, VideoSource& source) {
  if (options.encoder.rotation) return *options.encoder.rotation;
  // Frames the source turned upright (autorotate) must not be turned again by the player.
  if (source.info().autorotated) return 0.0;
  const int32_t* matrix = compat::display_matrix(source.demuxer().video_stream());
  if (!matrix) return 0.0;
  const double degrees = av_display_rotation_get(matrix);
  return std::isnan(degrees) ? 0.0 : degrees;
}

// `reference` describes a device frame's BGR0 picture (data[0] a CUdeviceptr) and holds it.
void refer_to_device_picture(const Frame& frame, AVFrame* reference) {
  const DeviceImage& picture = *frame.device_picture();
  reference->buf[0] = av_buffer_ref(picture.memory.get());
  if (!reference->buf[0]) throw std::bad_alloc();
  reference->format = AV_PIX_FMT_BGR0;
  reference->width = static_cast<int>(picture.layout.shape[1]);
  reference->height = static_cast<int>(picture.layout.shape[0]);
  reference->data[0] = picture.layout.data;
  reference->linesize[0] = static_cast<int>(picture.layout.strides[0]);
  reference->pts = frame.pts();
  reference->best_effort_timestamp = frame.av_frame()->best_effort_timestamp;
  reference->sample_aspect_ratio = frame.av_frame()->sample_aspect_ratio;
}

int64_t timestamp_of(const AVPacket* packet) { return packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts; }

}  // namespace

PlayerRecorder::PlayerRecorder(const PlayerOptions& options, VideoSource& source, PlayerStats& stats)
    : options_(options), stats_(stats), keeps_gaps_(source.demuxer().live()) {
  EncoderOptions encoder = options.encoder;
  encoder.rotation = output_rotation(options, source);
  // Device frames reach the encoder as their BGR0 pictures on the GPU (Frame::device_picture).
  encoder.device = frames_device(options.source.decoder.device, source.info().hwaccel);
  writer_ = std::make_unique<Writer>(
      std::vector<std::string>{options.output}, encoder,
      encoder_input_for(source, encoder.device == "cpu" ? options.source.output_format : "bgr0"));
  // The source may change size mid-stream (the callback gets each frame at its own size); the
  // file keeps the size it started with.
  writer_->scale_other_sizes();
  video_time_base_ = source.demuxer().video_stream()->time_base;
  const Rational rate = source.info().frame_rate;
  frame_duration_ = rate.num > 0 ? static_cast<double>(rate.den) / rate.num : 0.0;
  if (options.start > 0) ts_offset_ = static_cast<int64_t>(std::llround(options.start / av_q2d(video_time_base_)));
  if (const AVStream* audio = source.demuxer().audio_stream(); audio && options.audio) {
    audio_time_base_ = audio->time_base;
    audio_ = std::make_unique<AudioOutput>(audio, writer_->muxer(), options.afilter);
  }
}

void PlayerRecorder::start() { writer_->start(); }

void PlayerRecorder::hold_audio(AVPacket* packet, uint64_t serial) {
  UniquePacket held = make_packet();
  av_packet_move_ref(held.get(), packet);
  std::lock_guard lock(held_audio_mutex_);
  if (serial < held_audio_floor_) return;  // read before a seek
  held_audio_.push_back(HeldAudio{std::move(held), serial});
}

void PlayerRecorder::drop_audio_before(uint64_t serial) {
  std::lock_guard lock(held_audio_mutex_);
  held_audio_floor_ = serial;
  held_audio_.clear();
}

void PlayerRecorder::encode_loop() {
  // The encoder's own reference to each frame's buffers: the Frame itself is shared with
  // Python and the display thread and is never written here (only this reference's pts).
  UniqueFrame encoder_reference = make_frame();
  while (auto frame = to_encode_.pop()) {
    const int64_t pts = (*frame)->av_frame()->pts;
    // The file is a forward timeline: frames shown again after a backward seek or step are
    // not written twice.
    if (pts != AV_NOPTS_VALUE && pts <= last_video_pts_) continue;
    // A frame without a timestamp must not reset the forward rule (the Writer's guard gives
    // it one); resetting it let repeated timestamps through after a live join.
    if (pts != AV_NOPTS_VALUE) last_video_pts_ = pts;
    if (keeps_gaps_) note_outage(**frame);
    encode_frame(**frame, encoder_reference.get());
    last_capture_time_ = (*frame)->capture_time();
    last_frame_time_ = (*frame)->time();
    video_end_time_ = (*frame)->time() + frame_duration_;
    release_audio(video_end_time_);
  }
  writer_->flush();
}

void PlayerRecorder::note_outage(const Frame& frame) {
  if (!frame.reconnected() || frame.serial() == gap_serial_) return;
  gap_serial_ = frame.serial();
  const double downtime = stats_.reconnect_downtime.load();
  double missing = downtime - downtime_counted_;
  downtime_counted_ = downtime;
  if (std::isfinite(frame.capture_time()) && std::isfinite(last_capture_time_) && std::isfinite(last_frame_time_)) {
    // What the wall clock says was missing, beyond the media time the source's mapping left.
    missing = (frame.capture_time() - last_capture_time_) - (frame.time() - last_frame_time_);
  }
  if (missing > 0) gap_ += missing;
  gap_by_serial_.emplace_back(static_cast<uint64_t>(gap_serial_), gap_);
}

double PlayerRecorder::gap_of_generation(uint64_t serial) const {
  for (auto it = gap_by_serial_.rbegin(); it != gap_by_serial_.rend(); ++it)
    if (it->first <= serial) return it->second;
  return 0.0;
}

void PlayerRecorder::encode_frame(const Frame& frame, AVFrame* encoder_reference) {
  if (frame.device_picture()) {
    refer_to_device_picture(frame, encoder_reference);
  } else {
    VS_CHECK(av_frame_ref(encoder_reference, frame.av_frame()), ErrorKind::Encoder, "referencing a frame to encode");
  }
  if (encoder_reference->pts != AV_NOPTS_VALUE) {
    encoder_reference->pts -= ts_offset_;
    if (gap_ > 0) encoder_reference->pts += std::llround(gap_ / av_q2d(video_time_base_));
  }
  test_pause_point("encode_frame");  // seeded race: the hook and the display hold `frame` now
  bool written = false;
  try {
    written = writer_->write(encoder_reference);
  } catch (...) {
    av_frame_unref(encoder_reference);
    throw;
  }
  av_frame_unref(encoder_reference);
  if (written) ++stats_.frames_encoded;
  const WriterStats counts = writer_->counters();
  stats_.frames_dropped_timestamps = counts.frames_dropped;
  stats_.timestamps_filled = counts.timestamps_filled;
}

void PlayerRecorder::release_audio(double up_to_seconds) {
  if (!audio_) return;
  const AVRational tb = audio_time_base_;
  const int64_t offset = av_rescale_q(ts_offset_, video_time_base_, tb);
  const int64_t end = options_.end >= 0 ? static_cast<int64_t>(options_.end / av_q2d(tb)) : -1;
  for (;;) {
    HeldAudio held;
    {
      std::lock_guard lock(held_audio_mutex_);
      if (held_audio_.empty()) return;
      const int64_t ts = timestamp_of(held_audio_.front().packet.get());
      if (ts != AV_NOPTS_VALUE && ts * av_q2d(tb) >= up_to_seconds) return;
      held = std::move(held_audio_.front());
      held_audio_.pop_front();
    }
    AVPacket* packet = held.packet.get();
    const int64_t ts = timestamp_of(packet);
    if (ts != AV_NOPTS_VALUE) {
      if (ts <= last_audio_ts_) continue;  // already written before a backward seek
      last_audio_ts_ = ts;
    }
    // Trimmed and gap-moved like the video of its generation (start/end stay source times).
    const int64_t gap = std::llround(gap_of_generation(held.serial) / av_q2d(tb));
    audio_->write(packet, offset - gap, offset, end);
  }
}

void PlayerRecorder::finish_audio(bool complete) {
  if (!audio_) return;
  // Stopped or failed: audio up to the last video frame, so the file does not play sound over
  // a frozen picture.
  release_audio(complete ? INFINITY : video_end_time_);
  audio_->finish();
}

}  // namespace vistream
