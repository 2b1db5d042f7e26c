// The CUDA driver API, loaded at run time through FFmpeg's ffnvcodec loader (Debian
// libffmpeg-nvenc-dev): vistream never links libcuda or the CUDA toolkit, so the same build
// runs on machines with and without an NVIDIA driver. Private to the core: only src/cuda_*.cpp
// include this (it pulls in ffnvcodec's static inline loader).
#pragma once

#include <string>

#include "vistream/cuda_device.hpp"

// The loader reports why a library or symbol is missing through FFNV_LOG_FUNC; route it into
// the string passed as its log context so the reason reaches the HardwareError text.
namespace vistream::cuda_detail {
void loader_log(void* reason, const char* format, ...);
}
#define FFNV_LOG_FUNC(logctx, msg, ...) ::vistream::cuda_detail::loader_log((logctx), (msg), __VA_ARGS__)
#define FFNV_DEBUG_LOG_FUNC(logctx, msg, ...)
#include <ffnvcodec/dynlink_loader.h>

namespace vistream {

// Driver API result codes the core names (ffnvcodec declares only CUDA_SUCCESS).
inline constexpr int kCudaErrorNoDevice = 100;
inline constexpr int kCudaErrorInvalidDevice = 101;
inline constexpr int kCudaErrorNotSupported = 801;

// The loaded driver's entry points, or null when libcuda could not be loaded or cuInit
// failed (cuda_driver_status() says why). Loaded once per process, never unloaded.
const CudaFunctions* cuda_functions();

// "CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)" for a driver result code.
std::string cuda_result_text(CUresult result);

// Throws Error(Hardware, context + ": " + cuda_result_text(result)) unless result is success.
void cuda_check(CUresult result, const std::string& context);

// Makes the device's context current on this thread for the scope (cuCtxPushCurrent/Pop).
class ScopedCudaContext {
 public:
  explicit ScopedCudaContext(CUcontext context);
  ~ScopedCudaContext();
  ScopedCudaContext(const ScopedCudaContext&) = delete;
  ScopedCudaContext& operator=(const ScopedCudaContext&) = delete;
};

}  // namespace vistream
