#include "vistream/audio_output.hpp"

#include <algorithm>

#include "vistream/audio_decoder.hpp"
#include "vistream/error.hpp"
#include "vistream/muxer.hpp"

namespace vistream {
namespace {

// Audio encoders by preference: AAC where the container lists it (mp4, mov, flv, mkv, ts),
// Opus for WebM (and RTP/Ogg), then MPEG audio layer 2 and AC-3 for containers refusing both.
// libopus before FFmpeg's experimental native encoder.
constexpr const char* kAudioEncoders[] = {"aac", "libopus", "opus", "mp2", "ac3"};

// The sample format the encoder takes: planar float when it can (AAC, AC-3), else packed
// float (libopus), else its first.
AVSampleFormat sample_format_for(const AVCodec* encoder) {
  const AVSampleFormat* formats = encoder->sample_fmts;
  if (!formats) return AV_SAMPLE_FMT_FLTP;
  for (AVSampleFormat wanted : {AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_FLT}) {
    for (const AVSampleFormat* f = formats; *f != AV_SAMPLE_FMT_NONE; ++f)
      if (*f == wanted) return wanted;
  }
  return formats[0];
}

// The source's rate when the encoder takes it, else 48 kHz when it can (Opus), else its highest.
int sample_rate_for(const AVCodec* encoder, int source_rate) {
  const int* rates = encoder->supported_samplerates;
  if (!rates) return source_rate;
  int best = 0;
  bool has_48k = false;
  for (const int* rate = rates; *rate; ++rate) {
    if (*rate == source_rate) return source_rate;
    has_48k = has_48k || *rate == 48000;
    best = std::max(best, *rate);
  }
  return has_48k ? 48000 : best;
}

}  // namespace

const AVCodec* audio_encoder_for(const Muxer& muxer) {
  std::string refused;
  for (const char* name : kAudioEncoders) {
    const AVCodec* encoder = avcodec_find_encoder_by_name(name);
    if (!encoder) continue;
    if (muxer.accepts_codec(encoder->id)) return encoder;
    refused += std::string(refused.empty() ? "" : ", ") + name;
  }
  throw Error(ErrorKind::Encoder, "no audio encoder of this FFmpeg suits the output container (" +
                                      std::string(muxer.format()->name) + " refuses " +
                                      (refused.empty() ? std::string("nothing, but none is built in") : refused) +
                                      "); use audio=False");
}

AudioOutput::AudioOutput(const AVStream* input, Muxer& muxer, const std::string& afilter)
    : input_time_base_(input->time_base), muxer_(muxer), frame_(make_frame()) {
  copy_ = afilter.empty() &&
          muxer.accepts(input->codecpar, input->time_base);
  if (copy_) {
    stream_index_ = muxer.add_copy_stream(input);
    return;
  }
  decoder_ = open_audio_decoder(input);

  const AVCodec* encoder = audio_encoder_for(muxer);
  encoder_.reset(avcodec_alloc_context3(encoder));
  if (!encoder_) throw std::bad_alloc();
  AudioChainOutput format = AudioChainOutput::for_stream(input->codecpar, sample_format_for(encoder));
  format.sample_rate = sample_rate_for(encoder, format.sample_rate);
  encoder_->sample_fmt = format.sample_format;
  encoder_->sample_rate = format.sample_rate;
#if VS_HAVE_CH_LAYOUT
  av_channel_layout_default(&encoder_->ch_layout, format.channels);
#else
  encoder_->channels = format.channels;
  encoder_->channel_layout = av_get_default_channel_layout(format.channels);
#endif
  encoder_->time_base = AVRational{1, encoder_->sample_rate};
  encoder_->bit_rate = (encoder->id == AV_CODEC_ID_OPUS ? 64000 : 128000) * format.channels / 2;
  // FFmpeg's own Opus encoder is marked experimental; it is only chosen without libopus.
  if (encoder->capabilities & AV_CODEC_CAP_EXPERIMENTAL) encoder_->strict_std_compliance = FF_COMPLIANCE_EXPERIMENTAL;
  if (muxer.needs_global_header()) encoder_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  VS_CHECK(avcodec_open2(encoder_.get(), encoder, nullptr), ErrorKind::Encoder,
           std::string("cannot open audio encoder ") + encoder->name);
  stream_index_ = muxer.add_stream(encoder_.get());
  format.frame_size = encoder_->frame_size;  // known once opened
  chain_.emplace(input_time_base_, afilter, format);
}

void AudioOutput::write(AVPacket* packet, int64_t offset, int64_t start, int64_t end) {
  const int64_t ts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
  if (ts != AV_NOPTS_VALUE && (ts < start || (end >= 0 && ts >= end))) return;
  offset_ = offset;
  if (copy_) {
    if (packet->pts != AV_NOPTS_VALUE) packet->pts -= offset;
    if (packet->dts != AV_NOPTS_VALUE) packet->dts -= offset;
    muxer_.write(packet, stream_index_, input_time_base_);
    return;
  }
  if (avcodec_send_packet(decoder_.get(), packet) < 0) return;  // corrupt audio: skip the packet
  for (;;) {
    const int ret = avcodec_receive_frame(decoder_.get(), frame_.get());
    if (ret < 0) break;
    chain_->push(frame_.get());
    encode_filtered(false);
  }
}

void AudioOutput::encode_filtered(bool flush) {
  UniqueFrame filtered = make_frame();
  const AVRational tb = chain_->output_time_base();
  while (chain_->pull(filtered.get())) {
    filtered->pts = av_rescale_q(filtered->pts - av_rescale_q(offset_, input_time_base_, tb), tb,
                                 encoder_->time_base);
    VS_CHECK(avcodec_send_frame(encoder_.get(), filtered.get()), ErrorKind::Encoder, "audio encoder failed");
    av_frame_unref(filtered.get());
    UniquePacket packet = make_packet();
    while (avcodec_receive_packet(encoder_.get(), packet.get()) >= 0)
      muxer_.write(packet.get(), stream_index_, encoder_->time_base);
  }
  if (!flush) return;
  avcodec_send_frame(encoder_.get(), nullptr);
  UniquePacket packet = make_packet();
  while (avcodec_receive_packet(encoder_.get(), packet.get()) >= 0)
    muxer_.write(packet.get(), stream_index_, encoder_->time_base);
}

void AudioOutput::finish() {
  if (copy_ || !chain_->configured()) return;
  avcodec_send_packet(decoder_.get(), nullptr);
  while (avcodec_receive_frame(decoder_.get(), frame_.get()) >= 0) chain_->push(frame_.get());
  chain_->push(nullptr);
  encode_filtered(true);
}

}  // namespace vistream
