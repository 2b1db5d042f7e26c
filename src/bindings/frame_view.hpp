// Python-facing views of a core Frame: the numpy array (zero-copy, cached per Frame object)
// and the DLPack capsule. Both hold a FramePtr, so the pixels outlive the Frame object.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <functional>
#include <vector>

#include "vistream/cuda_convert.hpp"
#include "vistream/frame.hpp"

namespace vistream::bindings {

namespace py = pybind11;

struct PyFrame {
  PyFrame(FramePtr frame_, py::object array_cache_ = py::object())
      : frame(std::move(frame_)), array_cache(std::move(array_cache_)) {}

  FramePtr frame;
  py::object array_cache;  // the one numpy view handed out for .array / __array__
  // A device frame's BGR conversion on its GPU, made by the first __dlpack__ (GIL held).
  std::shared_ptr<DeviceImage> device_bgr;
  // The CUDA streams a Player frame's device picture was exported to (0: the consumer syncs
  // itself): whatever the callback queued there (in-place edits) must run before vistream's
  // next work on the picture (window download, encoder copy). See order_after_picture_consumers.
  std::vector<uintptr_t> picture_consumers;
};

// After the frame callback: vistream's stream waits (on the device) for every stream the
// frame's device picture was exported to, so in-place edits reach the window and the encoder.
void order_after_picture_consumers(PyFrame& self);

// The array API's `stream` argument of __dlpack__ for a tensor on `device_ordinal` (-1: host):
// the CUstream handle the consumer will use (1: legacy default stream, 2: per-thread default),
// or 0 when it asked for no synchronization (-1). Raises BufferError for a stream on a host
// tensor, ValueError for 0 or a negative handle, TypeError for a non-integer.
uintptr_t consumer_stream_for(const py::object& stream, int device_ordinal);
// A "dltensor" capsule describing `layout`; the tensor keeps `owner` alive until its deleter runs.
py::capsule dlpack_capsule(std::shared_ptr<void> owner, const TensorLayout& layout);

// Zero-copy view of the frame's pixels: HxWxC (HxW for gray) for packed formats, the stacked
// (H*3/2)xW layout for yuv420p/nv12 (whose buffer Frame::ensure_writable lays out that way).
py::object frame_array(PyFrame& self);
// Zero-copy views of each plane, with the frame's real linesizes (share memory with .array).
py::list frame_planes(PyFrame& self);
// One DLPack exporter (FramePlane) per plane, on the frame's device.
py::list frame_export_planes(PyFrame& self);

// Reads a producer's CUDA tensor (torch, cupy...: anything with __dlpack__) on `ordinal` as a
// BGR0 picture, (H, W, 4) uint8 with whole pixels in a row: __dlpack__(stream=vistream's stream),
// so the producer orders its pending work before ours (array API). `use` runs without the GIL;
// the capsule is consumed and released (with the GIL) when it returns. ValueError for another
// device, dtype or layout.
void with_device_picture(const py::object& tensor, int ordinal, const std::function<void(const TensorLayout&)>& use);

void register_frame(py::module_& m);
// capabilities() and transfer_stats() (src/bindings/capabilities.cpp).
void register_capabilities(py::module_& m);

}  // namespace vistream::bindings
