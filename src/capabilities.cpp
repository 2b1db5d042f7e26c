#include "vistream/capabilities.hpp"

#include <algorithm>

#include "vistream/cuda_convert.hpp"
#include "vistream/error.hpp"
#include "vistream/log.hpp"
#include "vistream/video_encoder.hpp"

#if VS_HAVE_SDL
#include <SDL.h>
#endif

namespace vistream {
namespace {

Probe probe_hwaccel(AVHWDeviceType type) {
  Probe probe;
  probe.name = av_hwdevice_get_type_name(type);
  if (type == AV_HWDEVICE_TYPE_CUDA) {
    // The device the core would use (primary context), not one of FFmpeg's own.
    try {
      std::shared_ptr<CudaDevice> device = CudaDevice::get(0);
      probe.available = true;
      probe.detail = "cuda:0 " + device->name();
    } catch (const Error& e) {
      probe.detail = e.what();
    }
    return probe;
  }
  log::ScopedDemote quiet;
  log::ScopedCapture details;
  AVBufferRef* device = nullptr;
  const int ret = av_hwdevice_ctx_create(&device, type, nullptr, nullptr, 0);
  if (ret >= 0) {
    probe.available = true;
    probe.detail = "default device opened";
    av_buffer_unref(&device);
  } else {
    probe.detail = details.annotate(av_error_string(ret));
  }
  return probe;
}

Probe probe_encoder(const std::string& name) {
  Probe probe;
  probe.name = name;
  VideoFormat input;
  input.width = 256;
  input.height = 144;
  input.format = AV_PIX_FMT_YUV420P;
  input.time_base = AVRational{1, 30};
  input.frame_rate = AVRational{30, 1};
  EncoderOptions options;
  options.encoder = name;
  log::ScopedDemote quiet;
  try {
    VideoEncoder encoder(options, input, false);
    probe.available = true;
    probe.detail = "opens (256x144)";
  } catch (const Error& e) {
    probe.detail = e.what();
  }
  return probe;
}

}  // namespace

Capabilities probe_capabilities() {
  Capabilities caps;
  caps.ffmpeg_version = av_version_info();
  caps.ffmpeg_configuration = avcodec_configuration();
  for (AVHWDeviceType type = av_hwdevice_iterate_types(AV_HWDEVICE_TYPE_NONE); type != AV_HWDEVICE_TYPE_NONE;
       type = av_hwdevice_iterate_types(type)) {
    caps.hwaccels.push_back(probe_hwaccel(type));
  }
  std::vector<std::string> names;
  for (const char* codec : {"h264", "hevc", "av1"}) {
    for (const std::string& name : VideoEncoder::candidates(codec)) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  for (const std::string& name : names) {
    // Hardware encoders and the h264 software ones are opened for real. Other software
    // encoders (x265, SVT-AV1, aom, rav1e) take seconds to open and print to stderr
    // themselves: for those, being built in is what is reported.
    const bool hardware = name.find("nvenc") != std::string::npos || name.find("vaapi") != std::string::npos ||
                          name.find("qsv") != std::string::npos;
    const bool h264_software = name == "libx264" || name == "libopenh264" || name == "mpeg4";
    if (hardware || h264_software) {
      caps.encoders.push_back(probe_encoder(name));
    } else {
      Probe probe;
      probe.name = name;
      probe.available = avcodec_find_encoder_by_name(name.c_str()) != nullptr;
      probe.detail = probe.available ? "built in (not opened)" : "not in this FFmpeg build";
      caps.encoders.push_back(probe);
    }
  }
  caps.cuda = cuda_driver_status();
  caps.cuda_devices = cuda_devices();
  caps.cuda_kernels = cuda_kernels_built();
#if VS_HAVE_SDL
  for (int i = 0; i < SDL_GetNumVideoDrivers(); ++i) caps.sdl_video_drivers.push_back(SDL_GetVideoDriver(i));
  for (int i = 0; i < SDL_GetNumAudioDrivers(); ++i) caps.sdl_audio_drivers.push_back(SDL_GetAudioDriver(i));
#endif
  return caps;
}

}  // namespace vistream
