// Colour conversion of device frames on their GPU (NV12/P010 -> BGR0/BGR/RGB, the stream's
// matrix and range) and the stream ordering the DLPack export needs. The kernels are
// src/cuda/convert_kernels.cu, embedded as a fatbin when built with VISTREAM_CUDA_KERNELS
// (cmake/VistreamCuda.cmake); without them convert_on_device() raises and Python converts with
// torch (vistream/torch_convert.py, the same maths).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "vistream/av_ptr.hpp"
#include "vistream/frame.hpp"

namespace vistream {

class CudaDevice;

// Whether this build embeds the conversion kernels.
bool cuda_kernels_built();

// A converted picture in device memory (cuMemAllocPitch), freed when the last holder lets go.
struct DeviceImage {
  std::shared_ptr<CudaDevice> device;
  UniqueBufferRef memory;  // its free callback calls cuMemFree in the device's context
  TensorLayout layout;     // (H, W, 3 or 4) uint8 on device->ordinal(), strides from the pitch
};

// Queues the conversion of a device frame on its device's stream and returns at once.
// `color_layout`: color::kBGR0, kBGR or kRGB (src/cuda/color_convert.hpp). Error(Hardware)
// when the kernels are not built or the launch fails; Error(InvalidArgument) for a host frame
// or a device format other than nv12/p010le.
std::shared_ptr<DeviceImage> convert_on_device(const Frame& frame, int color_layout);

// Orders `consumer_stream` (a CUstream handle; 1 = legacy default, 2 = per-thread default)
// after everything queued so far on the device's stream: an event recorded on ours, waited on
// by theirs (the array API's __dlpack__(stream=...) contract). Does not block the host.
void cuda_order_before(int ordinal, uintptr_t consumer_stream);

// Host <-> device traffic of this process (decoder downloads, frame.download(), uploads), so
// "zero copy" is measured. Any thread.
struct TransferCounters {
  std::atomic<int64_t> device_to_host_bytes{0};
  std::atomic<int64_t> device_to_host_copies{0};
  std::atomic<int64_t> host_to_device_bytes{0};
  std::atomic<int64_t> host_to_device_copies{0};
};
TransferCounters& process_transfers();
// Bytes of a frame's pixels in memory_format() (what a transfer of it moves).
int64_t frame_payload_bytes(const AVFrame* frame, AVPixelFormat memory_format);

}  // namespace vistream
