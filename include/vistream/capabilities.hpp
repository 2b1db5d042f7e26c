// What this machine and this build can do, for `vistream doctor` / vistream.capabilities():
// FFmpeg's version and configuration, the hardware device types built in and which open here,
// the encoders that open, the CUDA driver and devices, the SDL drivers compiled in. Each probe
// is real (a device is created, an encoder opened) and its failure reason kept; none throws.
#pragma once

#include <string>
#include <vector>

#include "vistream/cuda_device.hpp"

namespace vistream {

struct Probe {
  std::string name;
  bool available = false;
  std::string detail;  // why not (FFmpeg's or the driver's words), or what opened
};

struct Capabilities {
  std::string ffmpeg_version;        // av_version_info()
  std::string ffmpeg_configuration;  // avcodec_configuration()
  std::vector<Probe> hwaccels;       // every device type built in; available = a device opened
  std::vector<Probe> encoders;       // the "auto" candidates for h264, hevc, av1
  CudaDriverStatus cuda;
  std::vector<CudaDeviceInfo> cuda_devices;
  bool cuda_kernels = false;         // the conversion kernels are embedded
  std::vector<std::string> sdl_video_drivers;  // compiled into the SDL library (empty without SDL)
  std::vector<std::string> sdl_audio_drivers;
};

// Runs every probe (a fraction of a second; opening encoders dominates). Thread-safe.
Capabilities probe_capabilities();

}  // namespace vistream
