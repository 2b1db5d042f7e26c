#include "vistream/video_decoder.hpp"

#include "vistream/cuda_convert.hpp"
#include "vistream/error.hpp"
#include "vistream/log.hpp"

namespace vistream {
namespace {

// Decoders that decide per frame, while decoding the packet sent, whether it is a
// non-reference frame (H.264: nal_ref_idc == 0, so a B-pyramid's reference B-frames are kept;
// MPEG-1/2/4 and H.263: B-frames, never references there). skip_frame is read when the packet
// is decoded, and frame threads copy it with each packet they take, so it can change from
// one packet to the next. HEVC is handled before the decoder (below). Others (decoders that
// pull packets lazily such as libdav1d, codecs without such frames) decode everything.
bool honours_nonref_skip(AVCodecID id) {
  switch (id) {
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MPEG2VIDEO:
    case AV_CODEC_ID_MPEG4:
    case AV_CODEC_ID_H263:
      return true;
    default:
      return false;
  }
}

// HEVC in mp4/mkv (hvcC extradata, length-prefixed NAL units): the NAL length size when the
// stream has a single temporal sub-layer, else 0. Only then is a "sub-layer non-reference"
// picture (TRAIL_N, RADL_N, RASL_N...) a true non-reference picture: with more sub-layers,
// higher ones may predict from it.
int hevc_single_layer_length_size(const AVCodecParameters* par) {
  if (par->codec_id != AV_CODEC_ID_HEVC || !par->extradata || par->extradata_size < 23) return 0;
  const uint8_t* hvcc = par->extradata;
  if (hvcc[0] != 1) return 0;  // Annex B extradata (MPEG-TS, raw .hevc): start codes, not lengths
  const int temporal_layers = (hvcc[21] >> 3) & 7;  // 0: unknown
  return temporal_layers == 1 ? (hvcc[21] & 3) + 1 : 0;
}

// FFmpeg 5.1's HEVC decoder ignores skip_frame=NONREF; a packet holding a sub-layer
// non-reference picture (and no parameter set) is instead not sent at all. Dropping one
// changes nothing for the others: no later picture references it, and POC derivation skips
// such pictures by definition.
bool hevc_packet_is_nonref(const AVPacket* packet, int length_size) {
  const uint8_t* data = packet->data;
  const int size = packet->size;
  bool nonref_picture = false;
  for (int at = 0; at + length_size <= size;) {
    uint32_t length = 0;
    for (int i = 0; i < length_size; ++i) length = (length << 8) | data[at + i];
    at += length_size;
    if (length < 2 || length > static_cast<uint32_t>(size - at)) return false;  // not what we expect: keep it
    const int type = (data[at] >> 1) & 0x3f;
    if (type >= 32 && type <= 34) return false;  // VPS/SPS/PPS: needed later
    if (type < 32) {
      if (type > 14 || type % 2 != 0) return false;  // a reference or IRAP picture
      nonref_picture = true;
    }
    at += static_cast<int>(length);
  }
  return nonref_picture;
}

// "hevc Main 10 3840x2160 yuv420p10le", for a device's refusal.
std::string describe_stream(const AVCodecContext* ctx) {
  std::string text;
  if (const char* profile = avcodec_profile_name(ctx->codec_id, ctx->profile)) text += std::string(profile) + " ";
  text += std::to_string(ctx->width) + "x" + std::to_string(ctx->height);
  if (const char* format = av_get_pix_fmt_name(ctx->sw_pix_fmt)) text += std::string(" ") + format;
  return text;
}

}  // namespace

VideoDecoder::VideoDecoder(const AVStream* stream, const DecoderOptions& options)
    : hw_frame_(make_frame()) {
  const AVCodec* codec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (!codec) {
    throw Error(ErrorKind::Decode, std::string("no decoder for codec '") +
                                       avcodec_get_name(stream->codecpar->codec_id) + "'");
  }
  ctx_.reset(avcodec_alloc_context3(codec));
  if (!ctx_) throw std::bad_alloc();
  VS_CHECK(avcodec_parameters_to_context(ctx_.get(), stream->codecpar), ErrorKind::Decode,
           "cannot configure decoder");
  ctx_->pkt_timebase = stream->time_base;
  ctx_->thread_count = options.threads;  // 0 = auto
  ctx_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  if (options.low_delay) ctx_->flags |= AV_CODEC_FLAG_LOW_DELAY;
  if (options.low_delay || options.slice_threads) ctx_->thread_type = FF_THREAD_SLICE;
  hevc_length_size_ = hevc_single_layer_length_size(stream->codecpar);
  skips_nonref_ = honours_nonref_skip(codec->id) || hevc_length_size_ > 0;

  open_hardware(options, codec);
  VS_CHECK(avcodec_open2(ctx_.get(), codec, nullptr), ErrorKind::Decode,
           std::string("cannot open decoder ") + codec->name);
}

void VideoDecoder::open_hardware(const DecoderOptions& options, const AVCodec* codec) {
  // "auto" keeps frames on a CUDA device only when NVDEC may decode them: an explicit other
  // hwaccel ("vaapi", "qsv"...) is what the user asked for, and it decodes to the CPU.
  const bool hwaccel_allows_cuda = options.hwaccel == "none" || options.hwaccel == "auto" || options.hwaccel.empty() ||
                                   parse_cuda_ordinal(options.hwaccel) >= 0;
  if (options.device == "auto" && !hwaccel_allows_cuda) {
    hwaccel_note_ = "frames on the CPU (device 'auto'): hwaccel '" + options.hwaccel + "' was asked for";
  } else if (options.device == "auto" && open_device_if_available()) {
    return;
  }
  const int device_ordinal = options.device == "auto" ? -1 : parse_cuda_ordinal(options.device);
  if (options.device != "cpu" && options.device != "auto" && device_ordinal < 0)
    throw Error(ErrorKind::InvalidArgument, "device must be 'cpu', 'cuda' or 'cuda:N', got '" + options.device + "'");
  std::string hwaccel = options.hwaccel;
  if (device_ordinal >= 0) {
    // Frames on a CUDA device come from NVDEC on that device.
    const int hwaccel_ordinal = parse_cuda_ordinal(hwaccel);
    if (hwaccel_ordinal >= 0 && hwaccel_ordinal != device_ordinal)
      throw Error(ErrorKind::InvalidArgument, "hwaccel '" + hwaccel + "' and device '" + options.device +
                                                  "' name different CUDA devices");
    if (hwaccel != "none" && hwaccel != "auto" && hwaccel_ordinal < 0)
      throw Error(ErrorKind::InvalidArgument, "device '" + options.device + "' needs hwaccel 'cuda' (got '" +
                                                  hwaccel + "'): frames on a CUDA device come from NVDEC");
    hwaccel = options.device;
  }
  if (hwaccel == "none" || hwaccel.empty()) return;
  if (hwaccel == "auto") {
    std::string cuda_reason, vaapi_reason;
    {
      log::ScopedDemote quiet;  // absent devices are the normal case for "auto"
      if (try_hw_device(AV_HWDEVICE_TYPE_CUDA, 0, &cuda_reason)) return;
      if (try_hw_device(AV_HWDEVICE_TYPE_VAAPI, -1, &vaapi_reason)) return;
    }
    hwaccel_note_ = "decoding on the CPU: cuda: " + cuda_reason + "; vaapi: " + vaapi_reason;
    av_log(nullptr, AV_LOG_INFO, "vistream: hwaccel auto: %s\n", hwaccel_note_.c_str());
    return;
  }
  const int cuda_ordinal = parse_cuda_ordinal(hwaccel);
  const AVHWDeviceType type =
      cuda_ordinal >= 0 ? AV_HWDEVICE_TYPE_CUDA : av_hwdevice_find_type_by_name(hwaccel.c_str());
  if (type == AV_HWDEVICE_TYPE_NONE) throw Error(ErrorKind::InvalidArgument, "unknown hwaccel '" + hwaccel + "'");
  explicit_hw_ = true;
  log::ScopedCapture details;
  std::string reason;
  if (!try_hw_device(type, cuda_ordinal < 0 ? 0 : cuda_ordinal, &reason)) {
    throw Error(ErrorKind::Hardware, details.annotate("hwaccel '" + hwaccel + "' is not available for " + codec->name +
                                                      " on this machine: " + reason));
  }
  keep_on_device_ = device_ordinal >= 0;
  // Frames handed out keep their NVDEC surface until converted/dropped: room for a few held
  // by the caller beyond what the decoder itself needs.
  if (keep_on_device_) ctx_->extra_hw_frames = 16;
}

bool VideoDecoder::open_device_if_available() {
  std::string reason;
  {
    log::ScopedDemote quiet;  // no GPU is the normal case for "auto"
    if (!try_hw_device(AV_HWDEVICE_TYPE_CUDA, 0, &reason)) {
      // The hwaccel asked for still applies (its "auto" note, if any, replaces this one).
      hwaccel_note_ = "frames on the CPU (device 'auto'): cuda: " + reason;
      av_log(nullptr, AV_LOG_INFO, "vistream: device auto: %s\n", hwaccel_note_.c_str());
      return false;
    }
  }
  keep_on_device_ = true;
  ctx_->extra_hw_frames = 16;  // as for device "cuda" (see open_hardware)
  return true;
}

bool VideoDecoder::try_hw_device(AVHWDeviceType type, int cuda_ordinal, std::string* reason) {
  const AVCodec* codec = ctx_->codec ? ctx_->codec : avcodec_find_decoder(ctx_->codec_id);
  AVPixelFormat format = AV_PIX_FMT_NONE;
  for (int i = 0;; ++i) {
    const AVCodecHWConfig* config = avcodec_get_hw_config(codec, i);
    if (!config) break;
    if ((config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) && config->device_type == type) {
      format = config->pix_fmt;
      break;
    }
  }
  const char* type_name = av_hwdevice_get_type_name(type);
  if (format == AV_PIX_FMT_NONE) {
    if (reason) {
      *reason = type == AV_HWDEVICE_TYPE_CUDA
                    ? std::string("NVDEC cannot decode ") + codec->name + " (this FFmpeg has no cuda hwaccel for it)"
                    : std::string(type_name) + " cannot decode " + codec->name + " in this FFmpeg";
    }
    return false;
  }
  AVBufferRef* device = nullptr;
  if (type == AV_HWDEVICE_TYPE_CUDA) {
    // The process's shared device object (primary context), never a context of FFmpeg's own.
    try {
      cuda_device_ = CudaDevice::get(cuda_ordinal);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Hardware) throw;
      if (reason) *reason = e.what();
      return false;
    }
    device = av_buffer_ref(cuda_device_->hw_device_context());
    if (!device) throw std::bad_alloc();
  } else {
    const int ret = av_hwdevice_ctx_create(&device, type, nullptr, nullptr, 0);
    if (ret < 0) {
      if (reason) *reason = std::string("no ") + type_name + " device: " + av_error_string(ret);
      return false;
    }
  }
  hw_device_.reset(device);
  ctx_->hw_device_ctx = av_buffer_ref(device);
  hw_pixel_format_ = format;
  ctx_->opaque = this;
  ctx_->get_format = &VideoDecoder::pick_hw_format;
  hwaccel_name_ = type_name;
  return true;
}

AVPixelFormat VideoDecoder::pick_hw_format(AVCodecContext* ctx, const AVPixelFormat* formats) {
  auto* self = static_cast<VideoDecoder*>(ctx->opaque);
  for (const AVPixelFormat* f = formats; *f != AV_PIX_FMT_NONE; ++f) {
    if (*f == self->hw_pixel_format_) return *f;
  }
  // The device cannot decode this stream (profile/size): fall back to software decoding.
  self->hw_fallback_.store(true);
  for (const AVPixelFormat* f = formats; *f != AV_PIX_FMT_NONE; ++f) {
    if (!(av_pix_fmt_desc_get(*f)->flags & AV_PIX_FMT_FLAG_HWACCEL)) return *f;
  }
  return AV_PIX_FMT_NONE;
}

void VideoDecoder::send(const AVPacket* packet, bool skip_if_nonref) {
  if (!packet) {
    ctx_->skip_frame = AVDISCARD_DEFAULT;
    if (!draining_) avcodec_send_packet(ctx_.get(), nullptr);
    draining_ = true;
    return;
  }
  if (skip_if_nonref && hevc_length_size_ > 0 && hevc_packet_is_nonref(packet, hevc_length_size_)) return;
  ctx_->skip_frame = skip_if_nonref && skips_nonref_ ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
  const int ret = avcodec_send_packet(ctx_.get(), packet);
  if (ret < 0 && ret != AVERROR(EAGAIN) && ret != AVERROR_EOF) ++errors_;  // corrupt packet: skip it
}

bool VideoDecoder::receive(AVFrame* frame) {
  for (;;) {
    AVFrame* target = hw_pixel_format_ != AV_PIX_FMT_NONE ? hw_frame_.get() : frame;
    const int ret = avcodec_receive_frame(ctx_.get(), target);
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return false;
    if (ret < 0) {
      ++errors_;
      if (ret == AVERROR(ENOMEM)) throw std::bad_alloc();
      continue;  // a broken frame: keep going with the next one
    }
    if (target->decode_error_flags || (target->flags & AV_FRAME_FLAG_CORRUPT)) ++errors_;
    if (target == hw_frame_.get()) {
      if (explicit_hw_ && hw_fallback_.load()) {
        av_frame_unref(target);
        throw Error(ErrorKind::Hardware, std::string("hwaccel '") + hwaccel_name_ + "' refused this " +
                                             ctx_->codec->name + " stream (" + describe_stream(ctx_.get()) +
                                             "): the device does not support its profile, size or bit depth");
      }
      if (keep_on_device_ && target->format == hw_pixel_format_) {
        av_frame_unref(frame);
        av_frame_move_ref(frame, target);
      } else if (target->format == hw_pixel_format_) {
        av_frame_unref(frame);
        VS_CHECK(av_hwframe_transfer_data(frame, target, 0), ErrorKind::Decode,
                 "cannot download hardware frame");
        count_download(frame);
        VS_CHECK(av_frame_copy_props(frame, target), ErrorKind::Decode, "cannot copy frame properties");
        av_frame_unref(target);
      } else {
        av_frame_unref(frame);
        av_frame_move_ref(frame, target);
      }
    }
    return true;
  }
}

void VideoDecoder::count_download(const AVFrame* frame) {
  const int64_t bytes = frame_payload_bytes(frame, static_cast<AVPixelFormat>(frame->format));
  device_to_host_bytes_ += bytes;
  ++device_to_host_copies_;
  process_transfers().device_to_host_bytes += bytes;
  ++process_transfers().device_to_host_copies;
}

void VideoDecoder::flush() {
  avcodec_flush_buffers(ctx_.get());
  ctx_->skip_frame = AVDISCARD_DEFAULT;
  draining_ = false;
}

}  // namespace vistream
