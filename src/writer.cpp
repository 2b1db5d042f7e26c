#include "vistream/writer.hpp"

#include "vistream/error.hpp"

namespace vistream {
namespace {

// "auto" encodes what the container can carry: a .webm named output gets VP9 (then AV1, VP8)
// instead of failing at its header after the first frame. An explicit encoder is left alone
// (FFmpeg's refusal names it).
EncoderOptions for_container(EncoderOptions options, const Muxer& muxer) {
  if (options.encoder != "auto" || muxer.accepts_codec(VideoEncoder::codec_id(options.codec))) return options;
  for (const char* family : {"h264", "hevc", "vp9", "av1", "vp8", "mpeg4"}) {
    if (!muxer.accepts_codec(VideoEncoder::codec_id(family))) continue;
    av_log(nullptr, AV_LOG_INFO, "vistream: %s does not carry %s video; encoding %s instead\n",
           muxer.format()->name, options.codec.c_str(), family);
    options.codec = family;
    return options;
  }
  return options;  // nothing fits: the encoder opens and the header's error names the container
}

}  // namespace

std::vector<OutputTarget> output_targets(const std::vector<std::string>& urls, const EncoderOptions& options) {
  std::vector<std::string> all = urls;
  all.insert(all.end(), options.extra_outputs.begin(), options.extra_outputs.end());
  std::vector<OutputTarget> targets;
  bool segmented = false;
  for (const std::string& url : all) {
    if (url.empty()) throw Error(ErrorKind::InvalidArgument, "an output name is empty");
    OutputTarget target;
    target.url = url;
    target.format = options.output_format;
    target.options = options.output_options;
    // Cut: outputs named for it (a pattern) and HLS playlists; "rec.mp4" beside "seg-%03d.mp4"
    // stays whole, and so does a stream pushed beside a segmented recording.
    const bool playlist = url.size() > 5 && url.compare(url.size() - 5, 5, ".m3u8") == 0;
    if (options.segment_time > 0 && !is_network_output(url) && (has_name_pattern(url) || playlist)) {
      target.segment_time = options.segment_time;
      segmented = true;
    }
    target.reconnect_delay_max = options.reconnect_delay_max;
    targets.push_back(std::move(target));
  }
  if (options.segment_time > 0 && !segmented) {
    throw Error(ErrorKind::InvalidArgument,
                "segment_time needs an output named with a pattern, such as 'rec-%03d.mp4' (numbered) or "
                "'rec-%Y%m%d-%H%M%S.mp4' (dated), or an .m3u8 playlist");
  }
  return targets;
}

Writer::Writer(std::vector<std::string> urls, const EncoderOptions& options, const VideoFormat& frames)
    : frames_(frames), device_frames_(!options.device.empty() && options.device != "cpu") {
  if (frames.width <= 0 || frames.height <= 0)
    throw Error(ErrorKind::InvalidArgument, "frame size must be positive, got " + std::to_string(frames.width) +
                                                "x" + std::to_string(frames.height));
  muxer_ = std::make_unique<Muxer>(output_targets(urls, options));
  encoder_ = std::make_unique<VideoEncoder>(for_container(options, *muxer_), frames, muxer_->needs_global_header());
  if (options.rotation && *options.rotation != 0.0) muxer_->set_rotation(*options.rotation);
  video_stream_ = muxer_->add_stream(encoder_->context());
  if (frames.frame_rate.num > 0) {
    frame_duration_ = std::max<int64_t>(1, av_rescale_q(1, av_inv_q(frames.frame_rate), frames.time_base));
  }
}

Writer::~Writer() {
  try {
    finish();
  } catch (...) {
    // The muxer's destructor still closes what it can.
  }
}

void Writer::add_audio_from(const std::string& url) {
  if (started_) throw Error(ErrorKind::Generic, "audio must be added before the first frame is written");
  audio_source_ = std::make_unique<Demuxer>(url);
  const AVStream* stream = audio_source_->audio_stream();
  if (!stream) throw Error(ErrorKind::InvalidArgument, "'" + url + "' has no audio stream");
  if (AVStream* video = audio_source_->video_stream()) video->discard = AVDISCARD_ALL;  // only its sound
  audio_ = std::make_unique<AudioOutput>(stream, *muxer_, "");
}

void Writer::release_audio(double up_to_seconds) {
  if (!audio_) return;
  const AVStream* stream = audio_source_->audio_stream();
  for (;;) {
    if (!next_audio_) {
      if (audio_ended_) return;
      UniquePacket packet = make_packet();
      if (!audio_source_->read(packet.get())) {
        audio_ended_ = true;
        return;
      }
      if (packet->stream_index != stream->index) continue;
      next_audio_ = std::move(packet);
    }
    const int64_t ts = next_audio_->pts != AV_NOPTS_VALUE ? next_audio_->pts : next_audio_->dts;
    if (ts != AV_NOPTS_VALUE && ts * av_q2d(stream->time_base) >= up_to_seconds) return;
    audio_->write(next_audio_.get(), 0, INT64_MIN, -1);
    next_audio_.reset();
  }
}

void Writer::start() {
  if (started_) return;
  muxer_->start();
  started_ = true;
}

bool Writer::write(AVFrame* frame) {
  if (flushed_) throw Error(ErrorKind::Generic, "the writer is closed");
  start();
  int64_t pts = frame->pts != AV_NOPTS_VALUE ? frame->pts : frame->best_effort_timestamp;
  if (pts == AV_NOPTS_VALUE) {
    pts = last_pts_ == INT64_MIN ? 0 : last_pts_ + frame_duration_;
    ++timestamps_filled_;
  } else if (pts <= last_pts_) {
    ++frames_dropped_;
    return false;
  }
  const bool other_size = frame->width != frames_.width || frame->height != frames_.height;
  // Device pictures (data[0] a CUDA pointer) are not scaled on the host.
  if ((other_size && (!scales_other_sizes_ || device_frames_)) || frame->format != frames_.format) {
    const char* format = av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format));
    throw Error(ErrorKind::InvalidArgument,
                "frame is " + std::to_string(frame->width) + "x" + std::to_string(frame->height) + " " +
                    (format ? format : "?") + "; this writer was opened for " + std::to_string(frames_.width) +
                    "x" + std::to_string(frames_.height) + " " + av_get_pix_fmt_name(frames_.format));
  }
  last_pts_ = pts;
  frame->pts = pts;
  AVFrame* picture = other_size ? scaled_to_output(frame) : frame;
  if (muxer_->take_keyframe_request()) encoder_->request_keyframe();  // a stream (re)joined
  encoder_->encode(picture, packets_);
  ++frames_written_;
  write_packets();
  video_end_ = (pts + frame_duration_) * av_q2d(frames_.time_base);
  release_audio(video_end_);
  return true;
}

AVFrame* Writer::scaled_to_output(const AVFrame* frame) {
  if (frame->width != scaled_from_width_ || frame->height != scaled_from_height_) {
    scaled_from_width_ = frame->width;
    scaled_from_height_ = frame->height;
    av_log(nullptr, AV_LOG_WARNING, "vistream: the frames changed size to %dx%d; the output stays %dx%d (scaled)\n",
           frame->width, frame->height, frames_.width, frames_.height);
  }
  scaler_.reset(sws_getCachedContext(scaler_.release(), frame->width, frame->height, frames_.format, frames_.width,
                                     frames_.height, frames_.format, SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!scaler_)
    throw Error(ErrorKind::Encoder, "cannot scale a " + std::to_string(frame->width) + "x" +
                                        std::to_string(frame->height) + " frame to the output's " +
                                        std::to_string(frames_.width) + "x" + std::to_string(frames_.height));
  if (!scaled_ || !av_frame_is_writable(scaled_.get())) {  // an encoder may still hold the last one
    scaled_ = make_frame();
    scaled_->format = frames_.format;
    scaled_->width = frames_.width;
    scaled_->height = frames_.height;
    VS_CHECK(av_frame_get_buffer(scaled_.get(), 0), ErrorKind::Encoder, "allocating a scaled frame");
  }
  sws_scale(scaler_.get(), frame->data, frame->linesize, 0, frame->height, scaled_->data, scaled_->linesize);
  VS_CHECK(av_frame_copy_props(scaled_.get(), frame), ErrorKind::Encoder, "copying a frame's properties");
  return scaled_.get();
}

void Writer::write_packets() {
  const AVRational time_base = encoder_->context()->time_base;
  for (UniquePacket& packet : packets_) muxer_->write(packet.get(), video_stream_, time_base);
  packets_.clear();
}

void Writer::flush() {
  if (flushed_) return;
  flushed_ = true;
  if (!started_) return;  // nothing was encoded
  encoder_->encode(nullptr, packets_);
  write_packets();
  if (audio_) {
    release_audio(video_end_);  // no sound over a picture that has ended
    audio_->finish();
  }
}

void Writer::finish() {
  if (finished_) return;
  finished_ = true;
  try {
    flush();
  } catch (...) {
    muxer_->finish();  // the trailer still goes out: a playable file up to the failure
    throw;
  }
  muxer_->finish();
}

WriterStats Writer::counters() const {
  WriterStats stats;
  stats.frames_written = frames_written_;
  stats.frames_dropped = frames_dropped_;
  stats.timestamps_filled = timestamps_filled_;
  return stats;
}

WriterStats Writer::stats() const {
  WriterStats stats = counters();
  if (audio_) stats.audio = audio_->copying() ? "copy" : "transcode";
  stats.outputs = muxer_->status();
  return stats;
}

}  // namespace vistream
