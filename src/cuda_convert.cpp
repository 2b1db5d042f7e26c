#include "vistream/cuda_convert.hpp"

#include <map>
#include <mutex>
#include <string>

#include "cuda/color_convert.hpp"
#include "cuda_driver.hpp"
#include "vistream/error.hpp"

#if VS_HAVE_CUDA_KERNELS
extern "C" {
extern const unsigned char vistream_convert_fatbin[];
extern const std::size_t vistream_convert_fatbin_size;
}
#endif

namespace vistream {
namespace {

// The kernel module of each device's primary context, loaded on first use. A module belongs to
// its context: kept while the process runs (the primary context outlives our use of it as long
// as any frame references the device context).
CUfunction kernel_function(const CudaDevice& device, const char* name) {
#if VS_HAVE_CUDA_KERNELS
  static std::mutex mutex;
  static std::map<CUcontext, CUmodule> modules;
  const CudaFunctions* cu = cuda_functions();
  auto context = static_cast<CUcontext>(device.context());
  std::lock_guard<std::mutex> lock(mutex);
  ScopedCudaContext current(context);
  CUmodule& module = modules[context];
  if (!module) {
    cuda_check(cu->cuModuleLoadData(&module, vistream_convert_fatbin),
               "cannot load the conversion kernels on cuda:" + std::to_string(device.ordinal()) +
                   " (no SASS for this GPU and its driver cannot JIT the embedded PTX)");
  }
  CUfunction function = nullptr;
  cuda_check(cu->cuModuleGetFunction(&function, module, name), std::string("conversion kernel ") + name);
  return function;
#else
  (void)device;
  (void)name;
  throw Error(ErrorKind::Hardware,
              "this vistream was built without the CUDA conversion kernels (VISTREAM_CUDA_KERNELS=OFF or no nvcc): "
              "convert device frames with vistream.torch_convert.to_tensor(frame)");
#endif
}

struct DeviceAllocation {
  std::shared_ptr<CudaDevice> device;
  CUdeviceptr pointer;
};

void free_device_allocation(void* opaque, uint8_t*) {
  auto* allocation = static_cast<DeviceAllocation*>(opaque);
  const CudaFunctions* cu = cuda_functions();
  CUcontext ignored = nullptr;
  if (cu->cuCtxPushCurrent(static_cast<CUcontext>(allocation->device->context())) == CUDA_SUCCESS) {
    cu->cuMemFree(allocation->pointer);
    cu->cuCtxPopCurrent(&ignored);
  }
  delete allocation;
}

using CuStreamWaitEvent = CUresult CUDAAPI(CUstream, CUevent, unsigned int);

}  // namespace

bool cuda_kernels_built() { return VS_HAVE_CUDA_KERNELS != 0; }

TransferCounters& process_transfers() {
  static TransferCounters counters;
  return counters;
}

int64_t frame_payload_bytes(const AVFrame* frame, AVPixelFormat memory_format) {
  const int size = av_image_get_buffer_size(memory_format, frame->width, frame->height, 1);
  return size > 0 ? size : 0;
}

std::shared_ptr<DeviceImage> convert_on_device(const Frame& frame, int color_layout) {
  if (!frame.on_device()) throw Error(ErrorKind::InvalidArgument, "convert_on_device() needs a device frame");
  const AVPixelFormat format = frame.memory_format();
  const char* kernel_name = format == AV_PIX_FMT_NV12 ? "vs_nv12_to_rgb"
                            : format == AV_PIX_FMT_P010LE ? "vs_p010_to_rgb"
                                                          : nullptr;
  if (!kernel_name) {
    throw Error(ErrorKind::InvalidArgument, std::string("no device conversion from ") +
                                                av_get_pix_fmt_name(format) + " (nv12 and p010le are)");
  }
  const int ordinal = frame.device_ordinal();
  if (ordinal < 0) throw Error(ErrorKind::Hardware, "this device frame does not come from a vistream CUDA device");
  auto image = std::make_shared<DeviceImage>();
  image->device = CudaDevice::get(ordinal);
  const CudaDevice& device = *image->device;
  CUfunction function = kernel_function(device, kernel_name);
  const CudaFunctions* cu = cuda_functions();
  const AVFrame* av = frame.av_frame();
  const int channels = color::bytes_per_pixel(color_layout);
  ScopedCudaContext current(static_cast<CUcontext>(device.context()));
  CUdeviceptr pointer = 0;
  size_t pitch = 0;
  cuda_check(cu->cuMemAllocPitch(&pointer, &pitch, static_cast<size_t>(av->width) * channels, av->height, 16),
             "cannot allocate a converted frame on cuda:" + std::to_string(ordinal));
  auto* allocation = new DeviceAllocation{image->device, pointer};
  image->memory.reset(av_buffer_create(reinterpret_cast<uint8_t*>(pointer), pitch * av->height,
                                       &free_device_allocation, allocation, 0));
  if (!image->memory) {
    cu->cuMemFree(pointer);
    delete allocation;
    throw std::bad_alloc();
  }
  const bool full_range = av->color_range == AVCOL_RANGE_JPEG;
  // Untagged streams: BT.601, as swscale (and so the CPU path) assumes.
  const color::YuvToRgb matrix =
      color::make_yuv_to_rgb(av->colorspace, full_range, format == AV_PIX_FMT_P010LE ? 10 : 8);
  CUdeviceptr luma = reinterpret_cast<CUdeviceptr>(av->data[0]);
  CUdeviceptr chroma = reinterpret_cast<CUdeviceptr>(av->data[1]);
  int luma_pitch = av->linesize[0], chroma_pitch = av->linesize[1];
  int out_pitch = static_cast<int>(pitch), width = av->width, height = av->height, layout = color_layout;
  void* params[] = {&luma, &luma_pitch, &chroma, &chroma_pitch, &pointer, &out_pitch,
                    &width, &height, const_cast<color::YuvToRgb*>(&matrix), &layout};
  const unsigned block_x = 32, block_y = 8;
  cuda_check(cu->cuLaunchKernel(function, (width + block_x - 1) / block_x, (height + block_y - 1) / block_y, 1,
                                block_x, block_y, 1, 0, static_cast<CUstream>(device.stream()), params, nullptr),
             std::string("cannot launch ") + kernel_name);
  TensorLayout& out = image->layout;
  out.data = reinterpret_cast<uint8_t*>(pointer);
  out.device_ordinal = ordinal;
  out.element_bits = 8;
  out.ndim = 3;
  out.shape[0] = height;
  out.shape[1] = width;
  out.shape[2] = channels;
  out.strides[0] = static_cast<int64_t>(pitch);
  out.strides[1] = channels;
  out.strides[2] = 1;
  return image;
}

namespace {

CuStreamWaitEvent* stream_wait_event() {
  static auto* wait_event = reinterpret_cast<CuStreamWaitEvent*>(dlsym(cuda_functions()->lib, "cuStreamWaitEvent"));
  if (!wait_event) throw Error(ErrorKind::Hardware, "the CUDA driver has no cuStreamWaitEvent");
  return wait_event;
}

// `waiter` waits (on the device, not the host) for what is queued on `signaller` now.
void order_streams(const CudaDevice& device, CUstream signaller, CUstream waiter, const char* what) {
  const CudaFunctions* cu = cuda_functions();
  CuStreamWaitEvent* wait_event = stream_wait_event();
  ScopedCudaContext current(static_cast<CUcontext>(device.context()));
  CUevent event = nullptr;
  constexpr unsigned kDisableTiming = 0x2;  // CU_EVENT_DISABLE_TIMING
  cuda_check(cu->cuEventCreate(&event, kDisableTiming), "cannot create a CUDA event");
  CUresult result = cu->cuEventRecord(event, signaller);
  if (result == CUDA_SUCCESS) result = wait_event(waiter, event, 0);
  // Destroying an event still waited on is allowed: the wait completes as recorded.
  cu->cuEventDestroy(event);
  cuda_check(result, what);
}

}  // namespace

void cuda_order_after(int ordinal, uintptr_t producer_stream) {
  if (producer_stream == 0) return;
  std::shared_ptr<CudaDevice> device = CudaDevice::get(ordinal);
  order_streams(*device, reinterpret_cast<CUstream>(producer_stream), static_cast<CUstream>(device->stream()),
                "cannot order vistream's CUDA stream after the consumer's");
}

std::string frames_device(const std::string& device_option, const std::string& hwaccel_in_use) {
  if (device_option.empty() || device_option == "cpu" || hwaccel_in_use.rfind("cuda", 0) != 0) return "cpu";
  const int ordinal = device_option == "auto" ? 0 : parse_cuda_ordinal(device_option);
  return ordinal < 0 ? "cpu" : "cuda:" + std::to_string(ordinal);
}

void attach_device_picture(Frame& frame) {
  if (!frame.on_device() || frame.device_picture()) return;
  frame.set_device_picture(convert_on_device(frame, color::kBGR0));
}

FramePtr download_device_picture(const Frame& frame) {
  const std::shared_ptr<DeviceImage>& picture = frame.device_picture();
  if (!picture) throw Error(ErrorKind::InvalidArgument, "this frame has no device picture to download");
  const TensorLayout& layout = picture->layout;
  UniqueFrame host = make_frame();
  host->format = AV_PIX_FMT_BGR0;
  host->width = static_cast<int>(layout.shape[1]);
  host->height = static_cast<int>(layout.shape[0]);
  VS_CHECK(av_frame_get_buffer(host.get(), 0), ErrorKind::Hardware, "cannot allocate a frame for the window");
  const CudaFunctions* cu = cuda_functions();
  ScopedCudaContext current(static_cast<CUcontext>(picture->device->context()));
  CUDA_MEMCPY2D copy = {};
  copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.srcDevice = reinterpret_cast<CUdeviceptr>(layout.data);
  copy.srcPitch = static_cast<size_t>(layout.strides[0]);
  copy.dstMemoryType = CU_MEMORYTYPE_HOST;
  copy.dstHost = host->data[0];
  copy.dstPitch = static_cast<size_t>(host->linesize[0]);
  copy.WidthInBytes = static_cast<size_t>(host->width) * 4;
  copy.Height = static_cast<size_t>(host->height);
  const auto stream = static_cast<CUstream>(picture->device->stream());
  cuda_check(cu->cuMemcpy2DAsync(&copy, stream), "cannot download a picture for the window");
  cuda_check(cu->cuStreamSynchronize(stream), "cannot download a picture for the window");
  process_transfers().device_to_host_bytes += static_cast<int64_t>(copy.WidthInBytes * copy.Height);
  ++process_transfers().device_to_host_copies;
  VS_CHECK(av_frame_copy_props(host.get(), frame.av_frame()), ErrorKind::Hardware, "copying frame properties");
  auto copy_frame = std::make_shared<Frame>(std::move(host), frame.index(), frame.time());
  copy_frame->set_serial(frame.serial());
  copy_frame->set_revisit(frame.revisit());
  copy_frame->set_discontinuity(frame.discontinuity());
  return copy_frame;
}

void cuda_order_before(int ordinal, uintptr_t consumer_stream) {
  std::shared_ptr<CudaDevice> device = CudaDevice::get(ordinal);
  order_streams(*device, static_cast<CUstream>(device->stream()), reinterpret_cast<CUstream>(consumer_stream),
                "cannot order the consumer's CUDA stream after vistream's");
}

}  // namespace vistream
