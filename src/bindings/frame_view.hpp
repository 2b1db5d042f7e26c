// Python-facing views of a core Frame: the numpy array (zero-copy, cached per Frame object)
// and the DLPack capsule. Both hold a FramePtr, so the pixels outlive the Frame object.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "vistream/frame.hpp"

namespace vistream::bindings {

namespace py = pybind11;

struct PyFrame {
  FramePtr frame;
  py::object array_cache;  // the one numpy view handed out for .array / __array__
};

// Zero-copy view of the frame's pixels: HxWxC (HxW for gray) for packed formats, the stacked
// (H*3/2)xW layout for yuv420p/nv12 (whose buffer Frame::ensure_writable lays out that way).
py::object frame_array(PyFrame& self);
// Zero-copy views of each plane, with the frame's real linesizes (share memory with .array).
py::list frame_planes(PyFrame& self);
// A "dltensor" capsule sharing the frame's memory (packed formats only).
py::capsule frame_dlpack(PyFrame& self);

void register_frame(py::module_& m);

}  // namespace vistream::bindings
