// One CUDA device as the core uses it: the device's primary context (the one torch and other
// CUDA runtime users share), one stream for the core's work on it, and the FFmpeg
// AVHWDeviceContext built on that context by hand. FFmpeg's own AV_CUDA_USE_PRIMARY_CONTEXT
// flag fails with ENOTSUP once another library set the primary context's flags (torch does),
// and FFmpeg 5.1 cannot adopt a "current" context, hence av_hwdevice_ctx_alloc + init here.
//
// One CudaDevice per ordinal per process (CudaDevice::get): the decoder, the conversion
// kernels and the encoder share it. The primary context stays retained while any FFmpeg
// object (decoder, frame pool, a device frame held by Python) still references the device
// context, because the context is released by that AVHWDeviceContext's free callback.
//
// libcuda is loaded at run time (see src/cuda_driver.hpp); nothing here needs a driver to
// build, and every "no driver / no device" case is an Error(Hardware) naming what is missing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vistream/av_ptr.hpp"

namespace vistream {

// What the process found when it first asked for CUDA (probed once, never throws).
struct CudaDriverStatus {
  bool library_loaded = false;  // libcuda.so.1 and every symbol the loader needs were found
  bool initialized = false;     // cuInit(0) succeeded
  int driver_version = 0;       // cuDriverGetVersion, e.g. 12040 (0 when unknown)
  int device_count = 0;
  // Empty when initialized; else why CUDA cannot be used, naming the library or the driver's
  // error ("libcuda.so.1 (the NVIDIA driver) cannot be loaded: ...", "cuInit failed: ...").
  std::string problem;
};
const CudaDriverStatus& cuda_driver_status();

struct CudaDeviceInfo {
  int ordinal = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
};
// The devices the driver lists (empty without a driver; never throws).
std::vector<CudaDeviceInfo> cuda_devices();

// "cuda" -> 0, "cuda:N" -> N; -1 when `spec` does not name a CUDA device. A malformed
// ordinal ("cuda:x", "cuda:-1") is Error(InvalidArgument).
int parse_cuda_ordinal(const std::string& spec);

// Error(Hardware) naming libcuda or libnvidia-encode.so.1 when an NVENC encoder cannot work
// here; empty when both load. (FFmpeg's own message for this is "Operation not permitted".)
std::string nvenc_library_problem();

// The ordinal of a CudaDevice's AVHWDeviceContext (frames' hw_frames_ctx->device_ref); -1 for
// any other device context.
int cuda_ordinal_of(const AVBufferRef* hw_device_context);

class CudaDevice {
 public:
  // The process's one device object for `ordinal`, created on first use. Error(Hardware) when
  // libcuda is missing, cuInit fails, the ordinal does not exist, or its context cannot be
  // retained; the message says which.
  static std::shared_ptr<CudaDevice> get(int ordinal);

  ~CudaDevice();
  CudaDevice(const CudaDevice&) = delete;
  CudaDevice& operator=(const CudaDevice&) = delete;

  int ordinal() const { return ordinal_; }
  const std::string& name() const { return name_; }
  // The AVHWDeviceContext (type CUDA) on the primary context; take av_buffer_ref of it.
  AVBufferRef* hw_device_context() const { return hw_device_.get(); }
  // CUcontext / CUstream as opaque pointers (public headers stay free of CUDA types).
  void* context() const { return context_; }
  void* stream() const { return stream_; }

 private:
  explicit CudaDevice(int ordinal);

  int ordinal_;
  std::string name_;
  void* context_ = nullptr;  // the retained primary context (released with hw_device_)
  void* stream_ = nullptr;   // non-blocking stream the core's work on this device uses
  UniqueBufferRef hw_device_;
};

}  // namespace vistream
