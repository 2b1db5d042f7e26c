#include "vistream/video_encoder.hpp"

#include "vistream/error.hpp"
#include "vistream/log.hpp"

namespace vistream {
namespace {

// Encoders whose timestamps must fit in 16 bits (MPEG-4 part 2 and friends) get 1/fps instead
// of the source's fine time base.
bool needs_coarse_time_base(const AVCodec* codec) {
  return codec->id == AV_CODEC_ID_MPEG4 || codec->id == AV_CODEC_ID_MPEG2VIDEO ||
         codec->id == AV_CODEC_ID_MPEG1VIDEO || codec->id == AV_CODEC_ID_H263;
}

// The device type of encoders that only take frames in device memory (VAAPI, QSV).
AVHWDeviceType hardware_frames_device(const AVCodec* codec) {
  for (const AVPixelFormat* f = codec->pix_fmts; f && *f != AV_PIX_FMT_NONE; ++f) {
    if (*f == AV_PIX_FMT_VAAPI) return AV_HWDEVICE_TYPE_VAAPI;
    if (*f == AV_PIX_FMT_QSV) return AV_HWDEVICE_TYPE_QSV;
  }
  return AV_HWDEVICE_TYPE_NONE;
}

AVPixelFormat pick_pixel_format(const AVCodec* codec) {
  // yuv420p first: it is what browsers and players everywhere decode.
  const AVPixelFormat* formats = codec->pix_fmts;
  if (!formats) return AV_PIX_FMT_YUV420P;
  for (const AVPixelFormat* f = formats; *f != AV_PIX_FMT_NONE; ++f)
    if (*f == AV_PIX_FMT_YUV420P) return *f;
  for (const AVPixelFormat* f = formats; *f != AV_PIX_FMT_NONE; ++f)
    if (*f == AV_PIX_FMT_NV12) return *f;
  return formats[0];
}

}  // namespace

std::vector<std::string> VideoEncoder::candidates(const std::string& codec) {
  // Hardware first (NVENC takes system-memory frames; VAAPI/QSV get frames uploaded to the
  // device), then software encoders.
  if (codec == "hevc" || codec == "h265") return {"hevc_nvenc", "hevc_vaapi", "hevc_qsv", "libx265"};
  if (codec == "av1")
    return {"av1_nvenc", "av1_vaapi", "av1_qsv", "libsvtav1", "libaom-av1", "librav1e"};
  if (codec == "mpeg4") return {"mpeg4"};
  return {"h264_nvenc", "h264_vaapi", "h264_qsv", "libx264", "libopenh264", "mpeg4"};
}

VideoEncoder::VideoEncoder(const EncoderOptions& options, const VideoFormat& input,
                           bool global_header)
    : input_(input), global_header_(global_header), converted_(make_frame()) {
  if (options.encoder != "auto" && !options.encoder.empty()) {
    std::string reason;
    if (!try_open(options.encoder, options, true, &reason))
      throw Error(ErrorKind::Encoder, "encoder '" + options.encoder + "' cannot be used: " + reason);
    return;
  }
  std::string tried;
  for (const std::string& name : candidates(options.codec)) {
    std::string reason;
    if (try_open(name, options, false, &reason)) return;
    tried += "\n  " + name + ": " + reason;
  }
  throw Error(ErrorKind::Encoder, "no usable encoder for codec '" + options.codec + "'; tried:" + tried);
}

bool VideoEncoder::try_open(const std::string& name, const EncoderOptions& options,
                            bool explicit_choice, std::string* reason) {
  const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str());
  if (!codec) {
    *reason = "not found in this FFmpeg build";
    return false;
  }
  if (codec->type != AVMEDIA_TYPE_VIDEO) {
    *reason = "not a video encoder";
    return false;
  }
  UniqueCodecContext ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw std::bad_alloc();
  ctx->width = input_.width;
  ctx->height = input_.height;
  ctx->pix_fmt = pick_pixel_format(codec);
  AVPixelFormat upload_format = AV_PIX_FMT_NONE;  // system-memory format uploaded to the device
  UniqueBufferRef frames_ctx;
  if (const AVHWDeviceType device_type = hardware_frames_device(codec); device_type != AV_HWDEVICE_TYPE_NONE) {
    AVBufferRef* device = nullptr;
    log::ScopedCapture details;
    const int ret = av_hwdevice_ctx_create(&device, device_type, nullptr, nullptr, 0);
    if (ret < 0) {
      *reason = details.annotate("no " + std::string(av_hwdevice_get_type_name(device_type)) +
                                 " device: " + av_error_string(ret));
      return false;
    }
    UniqueBufferRef device_ref(device);
    frames_ctx.reset(av_hwframe_ctx_alloc(device));
    if (!frames_ctx) throw std::bad_alloc();
    auto* frames = reinterpret_cast<AVHWFramesContext*>(frames_ctx->data);
    frames->format = device_type == AV_HWDEVICE_TYPE_VAAPI ? AV_PIX_FMT_VAAPI : AV_PIX_FMT_QSV;
    frames->sw_format = AV_PIX_FMT_NV12;
    frames->width = input_.width;
    frames->height = input_.height;
    frames->initial_pool_size = 32;
    const int init = av_hwframe_ctx_init(frames_ctx.get());
    if (init < 0) {
      *reason = details.annotate("cannot allocate device frames: " + av_error_string(init));
      return false;
    }
    ctx->pix_fmt = frames->format;
    ctx->hw_frames_ctx = av_buffer_ref(frames_ctx.get());
    upload_format = AV_PIX_FMT_NV12;
  }
  ctx->sample_aspect_ratio = input_.sample_aspect_ratio;
  const AVRational rate = input_.frame_rate.num > 0 ? input_.frame_rate : AVRational{30, 1};
  ctx->framerate = rate;
  ctx->time_base = input_.time_base;
  if (needs_coarse_time_base(codec) && ctx->time_base.den > 65535) ctx->time_base = av_inv_q(rate);
  if (global_header_) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (options.bit_rate > 0) ctx->bit_rate = options.bit_rate;
  if (options.gop > 0) ctx->gop_size = options.gop;
  ctx->thread_count = 0;
  Dictionary opts;
  if (!options.preset.empty()) opts.set("preset", options.preset.c_str());
  if (options.crf >= 0) {
    if (name.find("nvenc") != std::string::npos) {
      opts.set("cq", options.crf);
    } else if (name == "mpeg4" || name == "libopenh264") {
      ctx->flags |= AV_CODEC_FLAG_QSCALE;
      ctx->global_quality = FF_QP2LAMBDA * std::max(1, std::min(31, options.crf / 2));
    } else {
      opts.set("crf", options.crf);
    }
  } else if (options.bit_rate <= 0 && (name == "mpeg4")) {
    // mpeg4's default 200 kb/s is unwatchable; ask for constant quality instead.
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * 3;
  }
  int ret;
  log::ScopedCapture details;
  if (explicit_choice) {
    ret = avcodec_open2(ctx.get(), codec, opts.address());
  } else {
    log::ScopedDemote quiet;  // "auto" expects most hardware encoders to be absent
    ret = avcodec_open2(ctx.get(), codec, opts.address());
  }
  if (ret < 0) {
    *reason = details.annotate(av_error_string(ret));
    av_log(nullptr, AV_LOG_VERBOSE, "vistream: encoder %s unavailable: %s\n",
           name.c_str(), reason->c_str());
    return false;
  }
  if (AVDictionaryEntry* unused = av_dict_get(opts.get(), "", nullptr, AV_DICT_IGNORE_SUFFIX)) {
    av_log(nullptr, AV_LOG_WARNING, "vistream: encoder %s ignored option '%s'\n", name.c_str(), unused->key);
  }
  ctx_ = std::move(ctx);
  name_ = name;
  av_log(nullptr, AV_LOG_INFO, "vistream: encoding video with %s (%s, %dx%d)\n", name.c_str(),
         av_get_pix_fmt_name(ctx_->pix_fmt), ctx_->width, ctx_->height);

  hw_frames_ = std::move(frames_ctx);
  converted_->format = upload_format != AV_PIX_FMT_NONE ? upload_format : ctx_->pix_fmt;
  converted_->width = ctx_->width;
  converted_->height = ctx_->height;
  VS_CHECK(av_frame_get_buffer(converted_.get(), 0), ErrorKind::Encoder, "cannot allocate encoder frame");
  const AVPixelFormat target = static_cast<AVPixelFormat>(converted_->format);
  sws_.reset(sws_getContext(input_.width, input_.height, input_.format, ctx_->width, ctx_->height,
                            target, SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!sws_) throw Error(ErrorKind::Encoder, "cannot convert frames to " + std::string(av_get_pix_fmt_name(target)));
  return true;
}

void VideoEncoder::encode(const AVFrame* frame, std::vector<UniquePacket>& out) {
  if (!frame) {
    VS_CHECK(avcodec_send_frame(ctx_.get(), nullptr), ErrorKind::Encoder, "cannot flush encoder " + name_);
    drain(out);
    return;
  }
  // The encoder may still hold the previous picture (lookahead); only then is a new buffer made.
  VS_CHECK(av_frame_make_writable(converted_.get()), ErrorKind::Encoder, "cannot allocate encoder frame");
  sws_scale(sws_.get(), frame->data, frame->linesize, 0, frame->height, converted_->data,
            converted_->linesize);
  int64_t pts = av_rescale_q(frame->pts, input_.time_base, ctx_->time_base);
  if (pts <= last_pts_) pts = last_pts_ + 1;  // a coarser time base must not merge frames
  last_pts_ = pts;
  converted_->pts = pts;
  converted_->sample_aspect_ratio = frame->sample_aspect_ratio;
  AVFrame* to_send = converted_.get();
  UniqueFrame device_frame;
  if (hw_frames_) {
    device_frame = make_frame();
    VS_CHECK(av_hwframe_get_buffer(hw_frames_.get(), device_frame.get(), 0), ErrorKind::Encoder,
             "cannot get a device frame for " + name_);
    VS_CHECK(av_hwframe_transfer_data(device_frame.get(), converted_.get(), 0), ErrorKind::Encoder,
             "cannot upload a frame for " + name_);
    device_frame->pts = pts;
    device_frame->sample_aspect_ratio = frame->sample_aspect_ratio;
    to_send = device_frame.get();
  }
  VS_CHECK(avcodec_send_frame(ctx_.get(), to_send), ErrorKind::Encoder,
           "encoder " + name_ + " rejected a frame");
  drain(out);
}

void VideoEncoder::drain(std::vector<UniquePacket>& out) {
  for (;;) {
    UniquePacket packet = make_packet();
    const int ret = avcodec_receive_packet(ctx_.get(), packet.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
    VS_CHECK(ret, ErrorKind::Encoder, "encoder " + name_ + " failed");
    out.push_back(std::move(packet));
  }
}

}  // namespace vistream
