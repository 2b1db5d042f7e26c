// Colour conversion of device frames on their GPU (NV12/P010 -> BGR0/BGR/RGB, the stream's
// matrix and range) and the stream ordering the DLPack export needs. The kernels are
// src/cuda/convert_kernels.cu, embedded as a fatbin when built with VISTREAM_CUDA_KERNELS
// (cmake/VistreamCuda.cmake); without them convert_on_device() raises and Python converts with
// torch (vistream/torch_convert.py, the same maths).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

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

// The reverse order: everything queued so far on `producer_stream` (a consumer that edited a
// picture in place, e.g. torch on its current stream) runs before vistream's next work on the
// device's stream (the encoder's copy, the window's download). 0 does nothing (the consumer
// synchronized itself). Does not block the host.
void cuda_order_after(int ordinal, uintptr_t producer_stream);

// A Player's device frame gets its BGR0 picture (Frame::device_picture) once, on the run()
// thread before the hook: converted on the device's stream with the kernels. Error(Hardware)
// when the kernels are not built (the Player refuses device= then, see player.cpp). No-op for
// host frames and for a frame that has one.
void attach_device_picture(Frame& frame);

// Where a source's decoded frames live: "cuda:N" when `device_option` asks for a CUDA device
// ("cuda[:N]", or "auto", which means cuda:0) and the decoder settled on CUDA
// (`hwaccel_in_use`, MediaInfo::hwaccel); else "cpu" ("auto" without a usable GPU).
std::string frames_device(const std::string& device_option, const std::string& hwaccel_in_use);

// One host copy (bgr0, same index/time/serial) of a frame's device picture: what the window
// shows. Waits for the device's stream; counted as a device-to-host transfer.
FramePtr download_device_picture(const Frame& frame);

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
