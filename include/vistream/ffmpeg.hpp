// The single place that includes FFmpeg's C headers and papers over API differences
// between the FFmpeg releases we support (4.4 through 7.x). Every other file includes this
// header instead of <libav*/...> directly, so a version check lives in exactly one place.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/display.h>
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

// AVChannelLayout replaced channels/channel_layout in libavutil 57.24 (FFmpeg 5.1).
#define VS_HAVE_CH_LAYOUT (LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 24, 100))
// Stream side data moved into codecpar->coded_side_data in libavcodec 60.29 (FFmpeg 6.1).
#define VS_HAVE_CODECPAR_SIDE_DATA (LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(60, 29, 100))

namespace vistream::compat {

inline int channel_count(const AVCodecParameters* par) {
#if VS_HAVE_CH_LAYOUT
  return par->ch_layout.nb_channels;
#else
  return par->channels;
#endif
}

inline int channel_count(const AVFrame* frame) {
#if VS_HAVE_CH_LAYOUT
  return frame->ch_layout.nb_channels;
#else
  return frame->channels;
#endif
}

// Returns the display matrix attached to a stream, or nullptr.
inline const int32_t* display_matrix(const AVStream* stream) {
#if VS_HAVE_CODECPAR_SIDE_DATA
  const AVPacketSideData* sd = av_packet_side_data_get(stream->codecpar->coded_side_data,
                                                       stream->codecpar->nb_coded_side_data,
                                                       AV_PKT_DATA_DISPLAYMATRIX);
  return sd ? reinterpret_cast<const int32_t*>(sd->data) : nullptr;
#else
  return reinterpret_cast<const int32_t*>(
      av_stream_get_side_data(const_cast<AVStream*>(stream), AV_PKT_DATA_DISPLAYMATRIX, nullptr));
#endif
}

}  // namespace vistream::compat
