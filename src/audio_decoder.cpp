#include "vistream/audio_decoder.hpp"

#include "vistream/error.hpp"

namespace vistream {

UniqueCodecContext open_audio_decoder(const AVStream* stream) {
  const AVCodecID codec_id = stream->codecpar->codec_id;
  const AVCodec* codec = avcodec_find_decoder(codec_id);
  if (!codec) throw Error(ErrorKind::Decode, std::string("no decoder for audio codec ") + avcodec_get_name(codec_id));
  UniqueCodecContext decoder(avcodec_alloc_context3(codec));
  if (!decoder) throw std::bad_alloc();
  VS_CHECK(avcodec_parameters_to_context(decoder.get(), stream->codecpar), ErrorKind::Decode,
           "cannot configure audio decoder");
  decoder->pkt_timebase = stream->time_base;
  VS_CHECK(avcodec_open2(decoder.get(), codec, nullptr), ErrorKind::Decode, "cannot open audio decoder");
  return decoder;
}

}  // namespace vistream
