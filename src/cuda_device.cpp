#include "cuda_driver.hpp"

#include <cstdarg>
#include <cstdio>
#include <map>
#include <mutex>

#include "vistream/error.hpp"
#include "vistream/ffmpeg.hpp"

extern "C" {
#include <libavutil/hwcontext_cuda.h>
}

namespace vistream {
namespace cuda_detail {

void loader_log(void* reason, const char* format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (!reason) return;
  auto* text = static_cast<std::string*>(reason);
  std::string message(line);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  // dlopen's own reason ("cannot open shared object file: No such file or directory").
  if (const char* detail = dlerror()) message += std::string(" (") + detail + ")";
  if (!text->empty()) *text += "; ";
  *text += message;
}

}  // namespace cuda_detail

namespace {

struct LoadedDriver {
  CudaFunctions* functions = nullptr;  // null unless initialized
  CudaDriverStatus status;
};

const char* known_result_name(int result) {
  switch (result) {
    case 0: return "CUDA_SUCCESS";
    case 1: return "CUDA_ERROR_INVALID_VALUE";
    case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
    case 3: return "CUDA_ERROR_NOT_INITIALIZED";
    case 35: return "CUDA_ERROR_INSUFFICIENT_DRIVER";
    case kCudaErrorNoDevice: return "CUDA_ERROR_NO_DEVICE";
    case kCudaErrorInvalidDevice: return "CUDA_ERROR_INVALID_DEVICE";
    case 200: return "CUDA_ERROR_INVALID_IMAGE";
    case 209: return "CUDA_ERROR_NO_BINARY_FOR_GPU";
    case 218: return "CUDA_ERROR_INVALID_PTX";
    case 222: return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION";
    case kCudaErrorNotSupported: return "CUDA_ERROR_NOT_SUPPORTED";
    default: return nullptr;
  }
}

LoadedDriver& loaded_driver() {
  static LoadedDriver driver = [] {
    LoadedDriver d;
    CudaFunctions* functions = nullptr;
    std::string reason;
    if (cuda_load_functions(&functions, &reason) < 0) {
      d.status.problem = "libcuda.so.1 (the NVIDIA driver's CUDA library) cannot be loaded: " +
                         (reason.empty() ? std::string("unknown reason") : reason);
      return d;
    }
    d.status.library_loaded = true;
    using DriverGetVersion = CUresult CUDAAPI(int*);
    if (auto* get_version = reinterpret_cast<DriverGetVersion*>(dlsym(functions->lib, "cuDriverGetVersion"))) {
      int version = 0;
      if (get_version(&version) == CUDA_SUCCESS) d.status.driver_version = version;
    }
    const CUresult init = functions->cuInit(0);
    if (init != CUDA_SUCCESS) {
      const char* name = known_result_name(init);
      d.status.problem = std::string("libcuda.so.1 loaded but cuInit failed: ") +
                         (name ? name : ("CUDA error " + std::to_string(init)).c_str()) +
                         (init == kCudaErrorNoDevice ? " (no CUDA-capable device is visible)" : "");
      cuda_free_functions(&functions);
      return d;
    }
    d.status.initialized = true;
    int count = 0;
    if (functions->cuDeviceGetCount(&count) == CUDA_SUCCESS) d.status.device_count = count;
    if (d.status.device_count == 0) d.status.problem = "the CUDA driver lists no device";
    d.functions = functions;
    return d;
  }();
  return driver;
}

// Holds what the device context's free callback must release, after FFmpeg's own uninit.
struct PrimaryContextLease {
  int ordinal;
  CUdevice device;
  CUcontext context;
  CUstream stream;
};

void release_primary_context(AVHWDeviceContext* device_context) {
  auto* lease = static_cast<PrimaryContextLease*>(device_context->user_opaque);
  if (!lease) return;
  const CudaFunctions* cu = cuda_functions();
  if (cu) {
    if (lease->stream) {
      CUcontext ignored = nullptr;
      cu->cuCtxPushCurrent(lease->context);
      cu->cuStreamDestroy(lease->stream);
      cu->cuCtxPopCurrent(&ignored);
    }
    cu->cuDevicePrimaryCtxRelease(lease->device);
  }
  delete lease;
  device_context->user_opaque = nullptr;
}

}  // namespace

const CudaFunctions* cuda_functions() { return loaded_driver().functions; }

int cuda_ordinal_of(const AVBufferRef* hw_device_context) {
  if (!hw_device_context) return -1;
  const auto* device_context = reinterpret_cast<const AVHWDeviceContext*>(hw_device_context->data);
  if (device_context->type != AV_HWDEVICE_TYPE_CUDA || device_context->free != &release_primary_context) return -1;
  return static_cast<const PrimaryContextLease*>(device_context->user_opaque)->ordinal;
}

const CudaDriverStatus& cuda_driver_status() { return loaded_driver().status; }

std::string cuda_result_text(CUresult result) {
  const CudaFunctions* cu = cuda_functions();
  const char* name = known_result_name(result);
  const char* description = nullptr;
  if (cu) {
    if (!name) cu->cuGetErrorName(result, &name);
    cu->cuGetErrorString(result, &description);
  }
  std::string text = name ? name : "CUDA error " + std::to_string(result);
  if (description) text += std::string(" (") + description + ")";
  return text;
}

void cuda_check(CUresult result, const std::string& context) {
  if (result != CUDA_SUCCESS) throw Error(ErrorKind::Hardware, context + ": " + cuda_result_text(result));
}

ScopedCudaContext::ScopedCudaContext(CUcontext context) {
  cuda_check(cuda_functions()->cuCtxPushCurrent(context), "cannot make the CUDA context current");
}

ScopedCudaContext::~ScopedCudaContext() {
  CUcontext ignored = nullptr;
  cuda_functions()->cuCtxPopCurrent(&ignored);
}

std::vector<CudaDeviceInfo> cuda_devices() {
  std::vector<CudaDeviceInfo> devices;
  const CudaFunctions* cu = cuda_functions();
  if (!cu) return devices;
  for (int ordinal = 0; ordinal < cuda_driver_status().device_count; ++ordinal) {
    CUdevice device = 0;
    if (cu->cuDeviceGet(&device, ordinal) != CUDA_SUCCESS) continue;
    CudaDeviceInfo info;
    info.ordinal = ordinal;
    char name[256] = {};
    if (cu->cuDeviceGetName(name, sizeof name, device) == CUDA_SUCCESS) info.name = name;
    cu->cuDeviceComputeCapability(&info.compute_major, &info.compute_minor, device);
    devices.push_back(info);
  }
  return devices;
}

int parse_cuda_ordinal(const std::string& spec) {
  if (spec == "cuda") return 0;
  if (spec.rfind("cuda:", 0) != 0) return -1;
  const std::string digits = spec.substr(5);
  if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos)
    throw Error(ErrorKind::InvalidArgument, "device '" + spec + "': expected 'cuda' or 'cuda:N' with N >= 0");
  return std::stoi(digits);
}

// ffnvcodec #undefs its NVENC_LIBNAME at the end of the header.
constexpr const char* kNvencLibrary = "libnvidia-encode.so.1";

std::string nvenc_library_problem() {
  const CudaDriverStatus& status = cuda_driver_status();
  if (!status.library_loaded) return status.problem;
  void* encode = dlopen(kNvencLibrary, RTLD_LAZY);
  if (!encode) {
    const char* detail = dlerror();
    return std::string(kNvencLibrary) + " (the NVIDIA driver's encoder library) cannot be loaded" +
           (detail ? std::string(": ") + detail : std::string());
  }
  dlclose(encode);
  if (!status.initialized || status.device_count == 0) return status.problem;
  return {};
}

std::shared_ptr<CudaDevice> CudaDevice::get(int ordinal) {
  static std::mutex mutex;
  static std::map<int, std::weak_ptr<CudaDevice>> devices;
  if (ordinal < 0) throw Error(ErrorKind::InvalidArgument, "CUDA device ordinal must be >= 0");
  const CudaDriverStatus& status = cuda_driver_status();
  if (!status.initialized) throw Error(ErrorKind::Hardware, "CUDA is not available: " + status.problem);
  if (ordinal >= status.device_count) {
    throw Error(ErrorKind::Hardware, "CUDA device cuda:" + std::to_string(ordinal) + " does not exist: the driver lists " +
                                         std::to_string(status.device_count) + " device(s)");
  }
  std::lock_guard<std::mutex> lock(mutex);
  if (std::shared_ptr<CudaDevice> existing = devices[ordinal].lock()) return existing;
  std::shared_ptr<CudaDevice> device(new CudaDevice(ordinal));
  devices[ordinal] = device;
  return device;
}

CudaDevice::CudaDevice(int ordinal) : ordinal_(ordinal) {
  const CudaFunctions* cu = cuda_functions();
  const std::string which = "cuda:" + std::to_string(ordinal);
  CUdevice device = 0;
  cuda_check(cu->cuDeviceGet(&device, ordinal), "cannot open CUDA device " + which);
  char name[256] = {};
  if (cu->cuDeviceGetName(name, sizeof name, device) == CUDA_SUCCESS) name_ = name;
  CUcontext context = nullptr;
  cuda_check(cu->cuDevicePrimaryCtxRetain(&context, device),
             "cannot retain the primary context of CUDA device " + which);
  auto* lease = new PrimaryContextLease{ordinal, device, context, nullptr};
  // From here the device context owns the lease: freeing it releases the primary context.
  hw_device_.reset(av_hwdevice_ctx_alloc(AV_HWDEVICE_TYPE_CUDA));
  if (!hw_device_) {
    cu->cuDevicePrimaryCtxRelease(device);
    delete lease;
    throw std::bad_alloc();
  }
  auto* device_context = reinterpret_cast<AVHWDeviceContext*>(hw_device_->data);
  device_context->user_opaque = lease;
  device_context->free = &release_primary_context;
  {
    ScopedCudaContext current(context);
    cuda_check(cu->cuStreamCreate(&lease->stream, CU_STREAM_NON_BLOCKING),
               "cannot create a CUDA stream on " + which);
  }
  auto* cuda_context = static_cast<AVCUDADeviceContext*>(device_context->hwctx);
  cuda_context->cuda_ctx = context;
  cuda_context->stream = lease->stream;
  VS_CHECK(av_hwdevice_ctx_init(hw_device_.get()), ErrorKind::Hardware,
           "FFmpeg cannot use CUDA device " + which);
  context_ = context;
  stream_ = lease->stream;
}

CudaDevice::~CudaDevice() = default;

}  // namespace vistream
