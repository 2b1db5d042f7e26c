#include "vistream/audio_output.hpp"

#include "vistream/audio_decoder.hpp"
#include "vistream/error.hpp"
#include "vistream/muxer.hpp"

namespace vistream {

AudioOutput::AudioOutput(const AVStream* input, Muxer& muxer, const std::string& afilter)
    : input_time_base_(input->time_base), muxer_(muxer), frame_(make_frame()) {
  copy_ = afilter.empty() &&
          muxer.accepts(input->codecpar, input->time_base);
  if (copy_) {
    stream_index_ = muxer.add_copy_stream(input);
    return;
  }
  decoder_ = open_audio_decoder(input);

  const AVCodec* encoder = avcodec_find_encoder(AV_CODEC_ID_AAC);
  if (!encoder) throw Error(ErrorKind::Encoder, "this FFmpeg has no AAC encoder");
  encoder_.reset(avcodec_alloc_context3(encoder));
  if (!encoder_) throw std::bad_alloc();
  AudioChainOutput format = AudioChainOutput::for_stream(input->codecpar, AV_SAMPLE_FMT_FLTP);
  encoder_->sample_fmt = format.sample_format;
  encoder_->sample_rate = format.sample_rate;
#if VS_HAVE_CH_LAYOUT
  av_channel_layout_default(&encoder_->ch_layout, format.channels);
#else
  encoder_->channels = format.channels;
  encoder_->channel_layout = av_get_default_channel_layout(format.channels);
#endif
  encoder_->time_base = AVRational{1, encoder_->sample_rate};
  encoder_->bit_rate = 128000 * format.channels / 2;
  if (muxer.needs_global_header()) encoder_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  VS_CHECK(avcodec_open2(encoder_.get(), encoder, nullptr), ErrorKind::Encoder, "cannot open AAC encoder");
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
    VS_CHECK(avcodec_send_frame(encoder_.get(), filtered.get()), ErrorKind::Encoder, "AAC encoder failed");
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
