#include "vistream/player.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "vistream/error.hpp"

namespace vistream {

Player::Player(const std::string& url, const PlayerOptions& options) : options_(options) {
  source_ = std::make_unique<VideoSource>(url, options.source);
  AVStream* video = source_->demuxer().video_stream();
  video_time_base_ = video->time_base;
  const Rational rate = source_->info().frame_rate;
  frame_duration_ = rate.num > 0 ? static_cast<double>(rate.den) / rate.num : 0.0;
  if (options.start > 0) ts_offset_ = static_cast<int64_t>(std::llround(options.start / av_q2d(video_time_base_)));
  if (!options.output.empty()) {
    // Everything that can be validated is, before run(): a bad encoder name or output
    // extension fails here, not after decoding has begun.
    muxer_ = std::make_unique<Muxer>(options.output);
    const MediaInfo& info = source_->info();
    VideoEncoderInput input;
    input.width = info.width;
    input.height = info.height;
    input.format = av_get_pix_fmt(options.source.output_format.c_str());
    input.time_base = AVRational{info.time_base.num, info.time_base.den};
    input.frame_rate = AVRational{info.frame_rate.num, info.frame_rate.den};
    input.sample_aspect_ratio = video->codecpar->sample_aspect_ratio;
    encoder_ = std::make_unique<VideoEncoder>(options.encoder, input, muxer_->needs_global_header());
    video_stream_ = muxer_->add_stream(encoder_->context());
    if (options.audio && source_->demuxer().audio_stream()) {
      audio_time_base_ = source_->demuxer().audio_stream()->time_base;
      audio_ = std::make_unique<AudioOutput>(source_->demuxer().audio_stream(), *muxer_, options.afilter);
    }
  }
}

Player::~Player() {
  stop();
  decoded_.abort();
  to_encode_.abort();
}

void Player::stop() {
  stop_requested_.store(true);
  source_->interrupt();
}

void Player::record_error(std::exception_ptr error) {
  {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = error;
  }
  stop_requested_.store(true);
  decoded_.abort();
  to_encode_.abort();
}

void Player::decode_loop() {
  try {
    if (audio_) {
      source_->set_packet_sink([this](AVPacket* packet) {
        UniquePacket held = make_packet();
        av_packet_move_ref(held.get(), packet);
        std::lock_guard lock(audio_mutex_);
        held_audio_.push_back(std::move(held));
      });
    }
    if (options_.start > 0) source_->seek_to_time(options_.start);
    while (!stop_requested_.load()) {
      FramePtr frame = source_->next();
      if (!frame) break;
      ++stats_.frames_decoded;
      if (options_.end >= 0 && frame->time() >= options_.end) break;
      if (!decoded_.push(std::move(frame))) break;
    }
    source_->halt();  // stopped early: no audio packet may arrive after this thread ends
    stats_.decode_errors.store(source_->stats().decode_errors);
    decoded_.close();
  } catch (...) {
    source_->halt();
    record_error(std::current_exception());
  }
}

void Player::encode_loop() {
  try {
    std::vector<UniquePacket> packets;
    const AVRational encoder_tb = encoder_->context()->time_base;
    auto write_all = [&] {
      for (UniquePacket& packet : packets) muxer_->write(packet.get(), video_stream_, encoder_tb);
      packets.clear();
    };
    while (auto frame = to_encode_.pop()) {
      AVFrame* av = (*frame)->av_frame();
      av->pts -= ts_offset_;
      encoder_->encode(av, packets);
      av->pts += ts_offset_;
      write_all();
      ++stats_.frames_encoded;
      video_end_time_ = (*frame)->time() + frame_duration_;
      release_audio(video_end_time_);
    }
    encoder_->encode(nullptr, packets);
    write_all();
  } catch (...) {
    record_error(std::current_exception());
  }
}

void Player::release_audio(double up_to_seconds) {
  const AVRational tb = audio_time_base_;
  const int64_t offset = av_rescale_q(ts_offset_, video_time_base_, tb);
  const int64_t end = options_.end >= 0 ? static_cast<int64_t>(options_.end / av_q2d(tb)) : -1;
  for (;;) {
    UniquePacket packet;
    {
      std::lock_guard lock(audio_mutex_);
      if (held_audio_.empty()) return;
      AVPacket* front = held_audio_.front().get();
      const int64_t ts = front->pts != AV_NOPTS_VALUE ? front->pts : front->dts;
      if (ts != AV_NOPTS_VALUE && ts * av_q2d(tb) >= up_to_seconds) return;
      packet = std::move(held_audio_.front());
      held_audio_.pop_front();
    }
    audio_->write(packet.get(), offset, offset, end);
  }
}

void Player::run() {
  if (ran_) throw Error(ErrorKind::InvalidArgument, "Player.run() can only be called once");
  ran_ = true;
  const auto started = std::chrono::steady_clock::now();
  if (muxer_) {
    try {
      muxer_->start();
    } catch (...) {
      record_error(std::current_exception());
    }
  }
  std::thread decoder([this] { decode_loop(); });
  std::thread encoder;
  if (encoder_) encoder = std::thread([this] { encode_loop(); });

  try {
    while (auto frame = decoded_.pop()) {
      if (hook_ && !hook_(*frame)) stop_requested_.store(true);
      ++stats_.frames_processed;
      if (encoder_ && !to_encode_.push(std::move(*frame))) break;
      if (stop_requested_.load()) break;
    }
  } catch (...) {
    // The hook (user code) failed: keep what was already handed to the encoder, so the
    // file holds every frame before the failure.
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::current_exception();
    stop_requested_.store(true);
  }
  // Normal end or stop(): let the encoder finish what it has; on error the queues are aborted.
  decoded_.abort();
  to_encode_.close();
  decoder.join();
  if (encoder.joinable()) encoder.join();
  try {
    if (audio_) {
      // Normal end: all of the audio. Stopped or failed: audio up to the last video frame,
      // so the file does not play sound over a frozen picture.
      const bool complete = !stop_requested_.load() && !error_;
      release_audio(complete ? std::numeric_limits<double>::infinity() : video_end_time_);
      audio_->finish();
    }
  } catch (...) {
    record_error(std::current_exception());
  }
  try {
    if (muxer_) muxer_->finish();  // always: a failed run still leaves a playable file
  } catch (...) {
    record_error(std::current_exception());
  }
  stats_.elapsed.store(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  stats_.decode_errors.store(source_->stats().decode_errors);
  std::exception_ptr error;
  {
    std::lock_guard lock(error_mutex_);
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace vistream
