#include "vistream/audio_output.hpp"

#include "vistream/audio_decoder.hpp"
#include "vistream/error.hpp"
#include "vistream/filter_graph.hpp"
#include "vistream/muxer.hpp"

namespace vistream {

AudioOutput::AudioOutput(const AVStream* input, Muxer& muxer, const std::string& afilter)
    : input_time_base_(input->time_base), muxer_(muxer), afilter_(afilter), frame_(make_frame()) {
  const AVCodecID codec_id = input->codecpar->codec_id;
  copy_ = afilter.empty() &&
          avformat_query_codec(muxer.format(), codec_id, FF_COMPLIANCE_NORMAL) == 1;
  if (copy_) {
    stream_index_ = muxer.add_copy_stream(input);
    return;
  }
  decoder_ = open_audio_decoder(input);

  const AVCodec* encoder = avcodec_find_encoder(AV_CODEC_ID_AAC);
  if (!encoder) throw Error(ErrorKind::Encoder, "this FFmpeg has no AAC encoder");
  encoder_.reset(avcodec_alloc_context3(encoder));
  if (!encoder_) throw std::bad_alloc();
  encoder_->sample_fmt = AV_SAMPLE_FMT_FLTP;
  encoder_->sample_rate = input->codecpar->sample_rate > 0 ? input->codecpar->sample_rate : 48000;
#if VS_HAVE_CH_LAYOUT
  const int channels = std::max(1, std::min(2, input->codecpar->ch_layout.nb_channels));
  av_channel_layout_default(&encoder_->ch_layout, channels);
#else
  const int channels = std::max(1, std::min(2, input->codecpar->channels));
  encoder_->channels = channels;
  encoder_->channel_layout = av_get_default_channel_layout(channels);
#endif
  encoder_->time_base = AVRational{1, encoder_->sample_rate};
  encoder_->bit_rate = 128000 * channels / 2;
  if (muxer.needs_global_header()) encoder_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  VS_CHECK(avcodec_open2(encoder_.get(), encoder, nullptr), ErrorKind::Encoder, "cannot open AAC encoder");
  stream_index_ = muxer.add_stream(encoder_.get());
}

void AudioOutput::configure_filter(const AVFrame* first) {
  UniqueFilterGraph graph(avfilter_graph_alloc());
  if (!graph) throw std::bad_alloc();
  AVFilterContext* source = nullptr;
  AVFilterContext* sink = nullptr;
  create_audio_endpoints(graph.get(), first, input_time_base_, &source, &sink);
#if VS_HAVE_CH_LAYOUT
  const std::string out_layout = default_layout_name(encoder_->ch_layout.nb_channels);
#else
  const std::string out_layout = default_layout_name(encoder_->channels);
#endif
  std::string description = afilter_.empty() ? std::string() : afilter_ + ",";
  description += "aresample=" + std::to_string(encoder_->sample_rate) +
                 ",aformat=sample_fmts=fltp:channel_layouts=" + out_layout;
  link_filter_graph(graph.get(), source, sink, description, "audio", afilter_);
  if (encoder_->frame_size > 0) av_buffersink_set_frame_size(sink, static_cast<unsigned>(encoder_->frame_size));
  graph_ = std::move(graph);
  source_ = source;
  sink_ = sink;
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
    if (!graph_) configure_filter(frame_.get());
    frame_->pts = frame_->best_effort_timestamp;
    VS_CHECK(av_buffersrc_add_frame(source_, frame_.get()), ErrorKind::Filter, "audio filter graph failed");
    encode_filtered(false);
  }
}

void AudioOutput::encode_filtered(bool flush) {
  UniqueFrame filtered = make_frame();
  for (;;) {
    const int ret = av_buffersink_get_frame(sink_, filtered.get());
    if (ret == AVERROR(EAGAIN)) return;
    if (ret == AVERROR_EOF) break;
    VS_CHECK(ret, ErrorKind::Filter, "audio filter graph failed");
    const AVRational tb = av_buffersink_get_time_base(sink_);
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
  if (copy_ || !graph_) return;
  avcodec_send_packet(decoder_.get(), nullptr);
  while (avcodec_receive_frame(decoder_.get(), frame_.get()) >= 0) {
    frame_->pts = frame_->best_effort_timestamp;
    av_buffersrc_add_frame(source_, frame_.get());
  }
  av_buffersrc_add_frame(source_, nullptr);
  encode_filtered(true);
}

}  // namespace vistream
