#include "vistream/video_encoder.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "cuda_driver.hpp"
#include "vistream/cuda_convert.hpp"
#include "vistream/cuda_device.hpp"
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


// The system-memory format converted frames have before they are uploaded to a device.
constexpr AVPixelFormat kDeviceUploadFormat = AV_PIX_FMT_NV12;

const AVCodec* find_video_encoder(const std::string& name, std::string* reason) {
  const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str());
  if (!codec) {
    *reason = "not found in this FFmpeg build";
    return nullptr;
  }
  if (codec->type != AVMEDIA_TYPE_VIDEO) {
    *reason = "not a video encoder";
    return nullptr;
  }
  return codec;
}

// A pool of device frames for an encoder that only takes those (VAAPI, QSV); null with the
// reason when the device or the pool cannot be made here.
UniqueBufferRef make_device_frame_pool(AVHWDeviceType device_type, int width, int height, std::string* reason) {
  AVBufferRef* device = nullptr;
  log::ScopedCapture details;
  const int ret = av_hwdevice_ctx_create(&device, device_type, nullptr, nullptr, 0);
  if (ret < 0) {
    *reason = details.annotate("no " + std::string(av_hwdevice_get_type_name(device_type)) +
                               " device: " + av_error_string(ret));
    return nullptr;
  }
  UniqueBufferRef device_ref(device);
  UniqueBufferRef pool(av_hwframe_ctx_alloc(device));
  if (!pool) throw std::bad_alloc();
  auto* frames = reinterpret_cast<AVHWFramesContext*>(pool->data);
  frames->format = device_type == AV_HWDEVICE_TYPE_VAAPI ? AV_PIX_FMT_VAAPI : AV_PIX_FMT_QSV;
  frames->sw_format = kDeviceUploadFormat;
  frames->width = width;
  frames->height = height;
  frames->initial_pool_size = 32;
  const int init = av_hwframe_ctx_init(pool.get());
  if (init < 0) {
    *reason = details.annotate("cannot allocate device frames: " + av_error_string(init));
    return nullptr;
  }
  return pool;
}

void set_timing_and_layout(AVCodecContext* ctx, const AVCodec* codec, const VideoFormat& input,
                           bool global_header) {
  ctx->sample_aspect_ratio = input.sample_aspect_ratio;
  const AVRational rate = input.frame_rate.num > 0 ? input.frame_rate : AVRational{30, 1};
  ctx->framerate = rate;
  ctx->time_base = input.time_base;
  if (needs_coarse_time_base(codec) && ctx->time_base.den > 65535) ctx->time_base = av_inv_q(rate);
  if (global_header) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  ctx->thread_count = 0;
}

// Bit rate, GOP, preset and quality, in each encoder family's own terms.
void set_rate_control(const std::string& name, const EncoderOptions& options, AVCodecContext* ctx,
                      Dictionary& codec_options) {
  if (options.bit_rate > 0) ctx->bit_rate = options.bit_rate;
  if (options.gop > 0) ctx->gop_size = options.gop;
  if (!options.preset.empty()) codec_options.set("preset", options.preset.c_str());
  const bool qscale_only = name == "mpeg4" || name == "libopenh264";
  if (options.crf >= 0) {
    if (name.find("nvenc") != std::string::npos) {
      codec_options.set("cq", options.crf);
    } else if (qscale_only) {
      ctx->flags |= AV_CODEC_FLAG_QSCALE;
      ctx->global_quality = FF_QP2LAMBDA * std::max(1, std::min(31, options.crf / 2));
    } else {
      codec_options.set("crf", options.crf);
    }
  } else if (options.bit_rate <= 0 && name == "mpeg4") {
    // mpeg4's default 200 kb/s is unwatchable; ask for constant quality instead.
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * 3;
  } else if (options.bit_rate <= 0 && name.rfind("libvpx", 0) == 0) {
    // libvpx's default is 256 kb/s whatever the picture size: constant quality instead
    // (bit rate 0 + crf), as FFmpeg's VP9 guide recommends.
    codec_options.set("crf", 32);
    ctx->bit_rate = 0;
  }
  if (name.rfind("libvpx", 0) == 0 && options.preset.empty()) {
    // Its default ("good", cpu-used 1) encodes 720p at a few frames/s on two cores; the
    // realtime settings are ~8x faster for ~30% more bytes at the same crf (measured on the
    // test clip), and VP9 encodes rows in parallel.
    codec_options.set("deadline", "realtime");
    codec_options.set("cpu-used", 8);
    if (name == "libvpx-vp9") codec_options.set("row-mt", 1);
  }
}

// Opens the codec; an "auto" candidate's failure is expected (most hardware is absent), so
// FFmpeg's complaints about it are demoted. False with FFmpeg's reason.
bool open_codec(AVCodecContext* ctx, const AVCodec* codec, Dictionary& codec_options, bool explicit_choice,
                std::string* reason) {
  log::ScopedCapture details;
  int ret;
  if (explicit_choice) {
    ret = avcodec_open2(ctx, codec, codec_options.address());
  } else {
    log::ScopedDemote quiet;
    ret = avcodec_open2(ctx, codec, codec_options.address());
  }
  if (ret < 0) {
    *reason = details.annotate(av_error_string(ret));
    return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> VideoEncoder::candidates(const std::string& codec) {
  // Hardware first (NVENC takes system-memory frames; VAAPI/QSV get frames uploaded to the
  // device), then software encoders.
  if (codec == "hevc" || codec == "h265") return {"hevc_nvenc", "hevc_vaapi", "hevc_qsv", "libx265"};
  if (codec == "av1")
    return {"av1_nvenc", "av1_vaapi", "av1_qsv", "libsvtav1", "libaom-av1", "librav1e"};
  if (codec == "mpeg4") return {"mpeg4"};
  if (codec == "vp9") return {"vp9_vaapi", "vp9_qsv", "libvpx-vp9"};
  if (codec == "vp8") return {"vp8_vaapi", "libvpx"};
  return {"h264_nvenc", "h264_vaapi", "h264_qsv", "libx264", "libopenh264", "mpeg4"};
}

AVCodecID VideoEncoder::codec_id(const std::string& codec) {
  if (codec == "hevc" || codec == "h265") return AV_CODEC_ID_HEVC;
  if (codec == "av1") return AV_CODEC_ID_AV1;
  if (codec == "mpeg4") return AV_CODEC_ID_MPEG4;
  if (codec == "vp9") return AV_CODEC_ID_VP9;
  if (codec == "vp8") return AV_CODEC_ID_VP8;
  return AV_CODEC_ID_H264;
}

VideoEncoder::VideoEncoder(const EncoderOptions& options, const VideoFormat& input,
                           bool global_header)
    : input_(input), global_header_(global_header), converted_(make_frame()) {
  open_device(options);
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
  const AVCodec* codec = find_video_encoder(name, reason);
  if (!codec) return false;
  // Without the driver FFmpeg says only "Operation not permitted": name the missing library.
  if (name.find("nvenc") != std::string::npos) {
    if (std::string missing = nvenc_library_problem(); !missing.empty()) {
      *reason = "NVENC needs the NVIDIA driver: " + missing;
      return false;
    }
    if (cuda_device_) return try_open_nvenc_on_device(codec, name, options, explicit_choice, reason);
  }
  UniqueCodecContext ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw std::bad_alloc();
  ctx->pix_fmt = pick_pixel_format(codec);
  const AVHWDeviceType device_type = hardware_frames_device(codec);
  // What the frames are converted to in memory (uploaded afterwards for VAAPI/QSV) decides
  // whether an odd size must be padded.
  const AVPixelFormat memory_format = device_type != AV_HWDEVICE_TYPE_NONE ? kDeviceUploadFormat : ctx->pix_fmt;
  ctx->width = even_dimension(input_.width, memory_format, false);
  ctx->height = even_dimension(input_.height, memory_format, true);
  UniqueBufferRef device_frames;  // VAAPI/QSV: converted frames are uploaded into this pool
  if (device_type != AV_HWDEVICE_TYPE_NONE) {
    device_frames = make_device_frame_pool(device_type, ctx->width, ctx->height, reason);
    if (!device_frames) return false;
    ctx->pix_fmt = reinterpret_cast<AVHWFramesContext*>(device_frames->data)->format;
    ctx->hw_frames_ctx = av_buffer_ref(device_frames.get());
  }
  set_timing_and_layout(ctx.get(), codec, input_, global_header_);
  Dictionary codec_options;
  set_rate_control(name, options, ctx.get(), codec_options);
  if (!open_codec(ctx.get(), codec, codec_options, explicit_choice, reason)) {
    av_log(nullptr, AV_LOG_VERBOSE, "vistream: encoder %s unavailable: %s\n", name.c_str(), reason->c_str());
    return false;
  }
  if (AVDictionaryEntry* unused = av_dict_get(codec_options.get(), "", nullptr, AV_DICT_IGNORE_SUFFIX)) {
    av_log(nullptr, AV_LOG_WARNING, "vistream: encoder %s ignored option '%s'\n", name.c_str(), unused->key);
  }
  ctx_ = std::move(ctx);
  name_ = name;
  av_log(nullptr, AV_LOG_INFO, "vistream: encoding video with %s (%s, %dx%d)\n", name.c_str(),
         av_get_pix_fmt_name(ctx_->pix_fmt), ctx_->width, ctx_->height);
  if (ctx_->width != input_.width || ctx_->height != input_.height) {
    // Silently falling back to an encoder that takes odd sizes (MPEG-4 Part 2) would change
    // the codec under the user's feet; one edge row/column repeated keeps H.264.
    av_log(nullptr, AV_LOG_WARNING,
           "vistream: frame size %dx%d is odd; %s needs even dimensions, so the output is padded to %dx%d "
           "(edge pixels repeated)\n",
           input_.width, input_.height, name.c_str(), ctx_->width, ctx_->height);
  }
  hw_frames_ = std::move(device_frames);
  prepare_conversion(hw_frames_ ? kDeviceUploadFormat : ctx_->pix_fmt);
  path_ = cuda_device_ ? "download+" + name : name;
  if (cuda_device_) {
    av_log(nullptr, AV_LOG_INFO, "vistream: no NVENC from device memory here; each frame is downloaded once "
                                 "to pinned host memory for %s\n", name.c_str());
  }
  return true;
}

void VideoEncoder::prepare_conversion(AVPixelFormat target) {
  converted_->format = target;
  converted_->width = ctx_->width;
  converted_->height = ctx_->height;
  VS_CHECK(av_frame_get_buffer(converted_.get(), 0), ErrorKind::Encoder, "cannot allocate encoder frame");
  // Converted at the input's size into the top-left of the (possibly padded) encoder frame.
  sws_.reset(sws_getContext(input_.width, input_.height, input_.format, input_.width, input_.height,
                            target, SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!sws_) throw Error(ErrorKind::Encoder, "cannot convert frames to " + std::string(av_get_pix_fmt_name(target)));
}

void VideoEncoder::encode(const AVFrame* frame, std::vector<UniquePacket>& out) {
  if (!frame) {
    VS_CHECK(avcodec_send_frame(ctx_.get(), nullptr), ErrorKind::Encoder, "cannot flush encoder " + name_);
    drain(out);
    return;
  }
  UniqueFrame host_view;  // the download path: the picture's pinned host copy
  if (cuda_device_) {
    if (cuda_frames_) return encode_on_device(frame, out);
    host_view = make_frame();
    frame = download_to_pinned(frame, host_view.get());
  }
  // The encoder may still hold the previous picture (lookahead); only then is a new buffer made.
  VS_CHECK(av_frame_make_writable(converted_.get()), ErrorKind::Encoder, "cannot allocate encoder frame");
  if (frame->width != input_.width || frame->height != input_.height || frame->format != input_.format) {
    throw Error(ErrorKind::InvalidArgument,
                "frame of " + std::to_string(frame->width) + "x" + std::to_string(frame->height) + " " +
                    (av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format)) ?: "?") + " handed to encoder " +
                    name_ + " opened for " + std::to_string(input_.width) + "x" + std::to_string(input_.height) + " " +
                    av_get_pix_fmt_name(input_.format));
  }
  sws_scale(sws_.get(), frame->data, frame->linesize, 0, frame->height, converted_->data,
            converted_->linesize);
  pad_edges();
  int64_t pts = av_rescale_q(frame->pts, input_.time_base, ctx_->time_base);
  if (pts <= last_pts_) pts = last_pts_ + 1;  // a coarser time base must not merge frames
  last_pts_ = pts;
  converted_->pts = pts;
  converted_->sample_aspect_ratio = frame->sample_aspect_ratio;
  // x264 codes a forced I picture as a keyframe (an IDR with its default closed GOPs); the
  // reused frame must not keep asking afterwards.
  converted_->pict_type = keyframe_requested_ ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
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
    device_frame->pict_type = converted_->pict_type;
    to_send = device_frame.get();
  }
  VS_CHECK(avcodec_send_frame(ctx_.get(), to_send), ErrorKind::Encoder,
           "encoder " + name_ + " rejected a frame");
  keyframe_requested_ = false;
  drain(out);
}

void VideoEncoder::pad_edges() {
  // Chroma planes already cover the padded size (ceil(w/2) == padded w / 2); only luma (plane
  // 0 of yuv420p and nv12) has the extra column/row.
  AVFrame* out = converted_.get();
  uint8_t* luma = out->data[0];
  const int stride = out->linesize[0];
  if (out->width > input_.width) {
    for (int y = 0; y < input_.height; ++y) luma[y * stride + input_.width] = luma[y * stride + input_.width - 1];
  }
  if (out->height > input_.height) {
    memcpy(luma + static_cast<ptrdiff_t>(input_.height) * stride,
           luma + static_cast<ptrdiff_t>(input_.height - 1) * stride, out->width);
  }
}

// ---- Device pictures (EncoderOptions::device): NVENC from device memory, or a download --------

namespace {

using CuMemHostAlloc = CUresult CUDAAPI(void**, size_t, unsigned int);
using CuMemFreeHost = CUresult CUDAAPI(void*);

template <typename Function>
Function* driver_symbol(const char* name) {
  auto* function = reinterpret_cast<Function*>(dlsym(cuda_functions()->lib, name));
  if (!function) throw Error(ErrorKind::Hardware, std::string("the CUDA driver has no ") + name);
  return function;
}

void check_picture(const AVFrame* picture, const VideoFormat& input, const std::string& encoder) {
  if (picture->width != input.width || picture->height != input.height || picture->format != AV_PIX_FMT_BGR0 ||
      !picture->data[0]) {
    throw Error(ErrorKind::InvalidArgument,
                "encoder " + encoder + " takes BGR0 device pictures of " + std::to_string(input.width) + "x" +
                    std::to_string(input.height) + ", got " + std::to_string(picture->width) + "x" +
                    std::to_string(picture->height));
  }
}

}  // namespace

void VideoEncoder::open_device(const EncoderOptions& options) {
  if (options.device.empty() || options.device == "cpu") return;
  const int ordinal = parse_cuda_ordinal(options.device);
  if (ordinal < 0)
    throw Error(ErrorKind::InvalidArgument, "device must be 'cpu', 'cuda' or 'cuda:N', got '" + options.device + "'");
  if (input_.format != AV_PIX_FMT_BGR0) {
    throw Error(ErrorKind::InvalidArgument, "frames on a CUDA device are encoded from BGR0 pictures, not " +
                                                std::string(av_get_pix_fmt_name(input_.format) ?: "?"));
  }
  cuda_device_ = CudaDevice::get(ordinal);  // Error(Hardware) naming libcuda, the driver or the device
}

bool VideoEncoder::try_open_nvenc_on_device(const AVCodec* codec, const std::string& name,
                                            const EncoderOptions& options, bool explicit_choice,
                                            std::string* reason) {
  UniqueCodecContext ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw std::bad_alloc();
  // BGR0 has no subsampled chroma: no padding to even sizes on this path.
  ctx->width = input_.width;
  ctx->height = input_.height;
  // The pool lives on the shared device context (the primary context torch uses), so NVENC,
  // the conversion kernels and the decoder work in one context on one stream.
  UniqueBufferRef pool(av_hwframe_ctx_alloc(cuda_device_->hw_device_context()));
  if (!pool) throw std::bad_alloc();
  auto* frames = reinterpret_cast<AVHWFramesContext*>(pool->data);
  frames->format = AV_PIX_FMT_CUDA;
  frames->sw_format = AV_PIX_FMT_BGR0;  // Debian's h264_nvenc takes bgr0 and converts on the GPU
  frames->width = ctx->width;
  frames->height = ctx->height;
  {
    log::ScopedCapture details;
    const int init = av_hwframe_ctx_init(pool.get());
    if (init < 0) {
      *reason = details.annotate("cannot allocate CUDA frames for NVENC: " + av_error_string(init));
      return false;
    }
  }
  ctx->pix_fmt = AV_PIX_FMT_CUDA;
  ctx->sw_pix_fmt = AV_PIX_FMT_BGR0;
  ctx->hw_frames_ctx = av_buffer_ref(pool.get());
  set_timing_and_layout(ctx.get(), codec, input_, global_header_);
  Dictionary codec_options;
  set_rate_control(name, options, ctx.get(), codec_options);
  if (!open_codec(ctx.get(), codec, codec_options, explicit_choice, reason)) {
    av_log(nullptr, AV_LOG_VERBOSE, "vistream: encoder %s unavailable on device memory: %s\n", name.c_str(),
           reason->c_str());
    return false;
  }
  ctx_ = std::move(ctx);
  name_ = name;
  path_ = "nvenc-device";
  cuda_frames_ = std::move(pool);
  av_log(nullptr, AV_LOG_INFO, "vistream: encoding video with %s from CUDA device memory (bgr0, %dx%d)\n",
         name.c_str(), ctx_->width, ctx_->height);
  return true;
}

void VideoEncoder::encode_on_device(const AVFrame* picture, std::vector<UniquePacket>& out) {
  check_picture(picture, input_, name_);
  UniqueFrame device_frame = make_frame();
  VS_CHECK(av_hwframe_get_buffer(cuda_frames_.get(), device_frame.get(), 0), ErrorKind::Encoder,
           "cannot get a CUDA frame for " + name_);
  const CudaFunctions* cu = cuda_functions();
  const auto stream = static_cast<CUstream>(cuda_device_->stream());
  {
    ScopedCudaContext current(static_cast<CUcontext>(cuda_device_->context()));
    CUDA_MEMCPY2D copy = {};
    copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    copy.srcDevice = reinterpret_cast<CUdeviceptr>(picture->data[0]);
    copy.srcPitch = static_cast<size_t>(picture->linesize[0]);
    copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    copy.dstDevice = reinterpret_cast<CUdeviceptr>(device_frame->data[0]);
    copy.dstPitch = static_cast<size_t>(device_frame->linesize[0]);
    copy.WidthInBytes = static_cast<size_t>(picture->width) * 4;
    copy.Height = static_cast<size_t>(picture->height);
    cuda_check(cu->cuMemcpy2DAsync(&copy, stream), "cannot copy a picture into " + name_ + "'s frame");
    // The caller may free or reuse the picture (a torch tensor) once encode() returns.
    cuda_check(cu->cuStreamSynchronize(stream), "cannot copy a picture into " + name_ + "'s frame");
  }
  int64_t pts = av_rescale_q(picture->pts, input_.time_base, ctx_->time_base);
  if (pts <= last_pts_) pts = last_pts_ + 1;  // a coarser time base must not merge frames
  last_pts_ = pts;
  device_frame->pts = pts;
  device_frame->sample_aspect_ratio = picture->sample_aspect_ratio;
  VS_CHECK(avcodec_send_frame(ctx_.get(), device_frame.get()), ErrorKind::Encoder,
           "encoder " + name_ + " rejected a frame");
  drain(out);
}

const AVFrame* VideoEncoder::download_to_pinned(const AVFrame* picture, AVFrame* host_view) {
  check_picture(picture, input_, name_);
  const CudaFunctions* cu = cuda_functions();
  ScopedCudaContext current(static_cast<CUcontext>(cuda_device_->context()));
  if (!pinned_) {
    // Page-locked: the copy runs at full PCIe speed and needs no staging buffer in the driver.
    pinned_pitch_ = FFALIGN(static_cast<int64_t>(input_.width) * 4, 64);
    void* memory = nullptr;
    cuda_check(driver_symbol<CuMemHostAlloc>("cuMemHostAlloc")(&memory, pinned_pitch_ * input_.height, 0),
               "cannot allocate pinned host memory for " + name_);
    pinned_ = static_cast<uint8_t*>(memory);
  }
  const auto stream = static_cast<CUstream>(cuda_device_->stream());
  CUDA_MEMCPY2D copy = {};
  copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.srcDevice = reinterpret_cast<CUdeviceptr>(picture->data[0]);
  copy.srcPitch = static_cast<size_t>(picture->linesize[0]);
  copy.dstMemoryType = CU_MEMORYTYPE_HOST;
  copy.dstHost = pinned_;
  copy.dstPitch = static_cast<size_t>(pinned_pitch_);
  copy.WidthInBytes = static_cast<size_t>(input_.width) * 4;
  copy.Height = static_cast<size_t>(input_.height);
  cuda_check(cu->cuMemcpy2DAsync(&copy, stream), "cannot download a picture for " + name_);
  cuda_check(cu->cuStreamSynchronize(stream), "cannot download a picture for " + name_);
  const auto bytes = static_cast<int64_t>(copy.WidthInBytes * copy.Height);
  device_to_host_bytes_ += bytes;
  ++device_to_host_copies_;
  process_transfers().device_to_host_bytes += bytes;
  ++process_transfers().device_to_host_copies;
  host_view->format = AV_PIX_FMT_BGR0;
  host_view->width = input_.width;
  host_view->height = input_.height;
  host_view->data[0] = pinned_;
  host_view->linesize[0] = static_cast<int>(pinned_pitch_);
  host_view->pts = picture->pts;
  host_view->sample_aspect_ratio = picture->sample_aspect_ratio;
  return host_view;
}

VideoEncoder::~VideoEncoder() {
  if (!pinned_) return;
  const CudaFunctions* cu = cuda_functions();
  CUcontext ignored = nullptr;
  if (cu->cuCtxPushCurrent(static_cast<CUcontext>(cuda_device_->context())) != CUDA_SUCCESS) return;
  if (auto* free_host = reinterpret_cast<CuMemFreeHost*>(dlsym(cu->lib, "cuMemFreeHost"))) free_host(pinned_);
  cu->cuCtxPopCurrent(&ignored);
}

int even_dimension(int size, AVPixelFormat format, bool vertical) {
  const AVPixFmtDescriptor* descriptor = av_pix_fmt_desc_get(format);
  if (!descriptor) return size;
  const int shift = vertical ? descriptor->log2_chroma_h : descriptor->log2_chroma_w;
  return shift > 0 && size % 2 ? size + 1 : size;
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
