#include "frame_view.hpp"

#include <cstring>
#include <optional>

#include <pybind11/stl.h>

#include "dlpack.hpp"
#include "vistream/error.hpp"

namespace vistream::bindings {
namespace {

py::capsule keep_alive(const FramePtr& frame) {
  return py::capsule(new FramePtr(frame), [](void* p) { delete static_cast<FramePtr*>(p); });
}

struct DLPackContext {
  FramePtr frame;
  int64_t shape[3];
  int64_t strides[3];
  VsDLManagedTensor tensor;
};

void dlpack_deleter(VsDLManagedTensor* tensor) { delete static_cast<DLPackContext*>(tensor->manager_ctx); }

void capsule_destructor(PyObject* capsule) {
  // A consumer renames the capsule to "used_dltensor" and owns it; an unconsumed one is ours.
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* tensor = static_cast<VsDLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (tensor && tensor->deleter) tensor->deleter(tensor);
  }
}

}  // namespace

py::object frame_array(PyFrame& self) {
  if (self.array_cache) return self.array_cache;
  Frame& frame = *self.frame;
  frame.ensure_writable();
  AVFrame* av = frame.av_frame();
  const int channels = frame.packed_channels();
  if (channels == 1) {
    self.array_cache = py::array(py::dtype::of<uint8_t>(), {av->height, av->width},
                                 {static_cast<py::ssize_t>(av->linesize[0]), py::ssize_t{1}}, av->data[0],
                                 keep_alive(self.frame));
  } else if (channels > 1) {
    self.array_cache = py::array(
        py::dtype::of<uint8_t>(), {av->height, av->width, channels},
        {static_cast<py::ssize_t>(av->linesize[0]), static_cast<py::ssize_t>(channels), py::ssize_t{1}},
        av->data[0], keep_alive(self.frame));
  } else if (frame.stacked_format()) {
    // yuv420p/nv12: ensure_writable() put the planes back to back with linesize == width, so
    // the OpenCV-style (H*3/2, W) array is a view of the whole picture.
    self.array_cache = py::array(py::dtype::of<uint8_t>(), {av->height * 3 / 2, av->width},
                                 {static_cast<py::ssize_t>(av->width), py::ssize_t{1}}, av->data[0],
                                 keep_alive(self.frame));
  } else {
    throw Error(ErrorKind::InvalidArgument,
                std::string("frame.array of ") + frame.pixel_format_name() +
                    " needs even width and height (the stacked H*3/2 x W layout); use frame.planes");
  }
  return self.array_cache;
}

py::list frame_planes(PyFrame& self) {
  Frame& frame = *self.frame;
  frame.ensure_writable();
  AVFrame* av = frame.av_frame();
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(av->format));
  py::list planes;
  int plane_count = av_pix_fmt_count_planes(static_cast<AVPixelFormat>(av->format));
  for (int p = 0; p < plane_count; ++p) {
    const bool chroma = p == 1 || p == 2;
    const int h = chroma ? AV_CEIL_RSHIFT(av->height, desc->log2_chroma_h) : av->height;
    const int w = chroma ? AV_CEIL_RSHIFT(av->width, desc->log2_chroma_w) : av->width;
    int bytes_per_row = av_image_get_linesize(static_cast<AVPixelFormat>(av->format), av->width, p);
    const int elems = w > 0 ? bytes_per_row / w : 1;
    if (elems > 1) {
      planes.append(py::array(py::dtype::of<uint8_t>(), {h, w, elems},
                              {static_cast<py::ssize_t>(av->linesize[p]), static_cast<py::ssize_t>(elems), py::ssize_t{1}},
                              av->data[p], keep_alive(self.frame)));
    } else {
      planes.append(py::array(py::dtype::of<uint8_t>(), {h, w},
                              {static_cast<py::ssize_t>(av->linesize[p]), py::ssize_t{1}}, av->data[p],
                              keep_alive(self.frame)));
    }
  }
  return planes;
}

py::capsule frame_dlpack(PyFrame& self) {
  Frame& frame = *self.frame;
  const int channels = frame.packed_channels();
  if (channels == 0) throw py::buffer_error("DLPack export needs a packed pixel format (bgr24, rgb24, gray, rgba, bgra)");
  frame.ensure_writable();
  AVFrame* av = frame.av_frame();
  auto* ctx = new DLPackContext{};
  ctx->frame = self.frame;
  ctx->shape[0] = av->height;
  ctx->shape[1] = av->width;
  ctx->shape[2] = channels;
  ctx->strides[0] = av->linesize[0];
  ctx->strides[1] = channels;
  ctx->strides[2] = 1;
  VsDLTensor& t = ctx->tensor.dl_tensor;
  t.data = av->data[0];
  t.device = VsDLDevice{kVsDLCPU, 0};
  t.ndim = channels == 1 ? 2 : 3;
  if (channels == 1) ctx->strides[1] = 1;
  t.dtype = VsDLDataType{kVsDLUInt, 8, 1};
  t.shape = ctx->shape;
  t.strides = ctx->strides;
  t.byte_offset = 0;
  ctx->tensor.manager_ctx = ctx;
  ctx->tensor.deleter = &dlpack_deleter;
  PyObject* capsule = PyCapsule_New(&ctx->tensor, "dltensor", &capsule_destructor);
  if (!capsule) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(capsule);
}

void register_frame(py::module_& m) {
  py::class_<PyFrame>(m, "Frame", R"doc(
A decoded video frame.

``frame.array`` is a writable numpy view of the frame's own buffer (no copy); edits made in a
Player callback are what gets encoded and shown. For bgr24/rgb24/rgba/bgra it is HxWxC, for gray
HxW, for yuv420p and nv12 the stacked (H*3/2)xW layout (Y rows, then U and V, or interleaved UV);
``frame.planes`` are views of the same memory, one per plane. ``np.asarray(frame)``,
``np.from_dlpack(frame)`` and ``torch.from_dlpack(frame)`` (packed formats) share it too.

Example::

    for frame in vistream.Reader("clip.mp4"):
        frame.array[:10] = 0          # black band on top
        print(frame.index, frame.time)
)doc")
      .def_property_readonly("array", &frame_array, "uint8 numpy view, zero-copy: HxWxC (HxW for gray; (H*3/2)xW for yuv420p/nv12)")
      .def_property_readonly("planes", &frame_planes, "zero-copy numpy view of each image plane")
      .def_property_readonly("index", [](const PyFrame& f) { return f.frame->index(); }, "0-based index in display order")
      .def_property_readonly("pts", [](const PyFrame& f) { return f.frame->pts(); }, "timestamp in the stream time base")
      .def_property_readonly("time", [](const PyFrame& f) { return f.frame->time(); }, "timestamp in seconds")
      .def_property_readonly(
          "capture_time",
          [](const PyFrame& f) -> std::optional<double> {
            if (f.frame->capture_clock() == CaptureClock::None) return std::nullopt;
            return f.frame->capture_time();
          },
          "live sources: when the frame was captured, seconds since the Unix epoch (see "
          "PlayerStats.latency_clock for the clock); None for files")
      .def_property_readonly("width", [](const PyFrame& f) { return f.frame->width(); })
      .def_property_readonly("height", [](const PyFrame& f) { return f.frame->height(); })
      .def_property_readonly("format", [](const PyFrame& f) { return std::string(f.frame->pixel_format_name()); })
      .def_property_readonly("revisit", [](const PyFrame& f) { return f.frame->revisit(); },
                             "True when the player shows this index again (seek/step back)")
      .def_property_readonly("shape", [](PyFrame& f) -> py::tuple { return frame_array(f).attr("shape"); })
      .def("__array__",
           [](PyFrame& f, py::object dtype, py::object copy) {
             py::object array = frame_array(f);
             if (!dtype.is_none()) array = array.attr("astype")(dtype, py::arg("copy") = !copy.is_none() && copy.cast<bool>());
             else if (!copy.is_none() && copy.cast<bool>()) array = array.attr("copy")();
             return array;
           },
           py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def("__dlpack__",
           [](PyFrame& f, const py::args&, const py::kwargs&) { return frame_dlpack(f); })
      .def("__dlpack_device__", [](const PyFrame&) { return py::make_tuple(static_cast<int>(kVsDLCPU), 0); })
      .def("__repr__", [](const PyFrame& f) {
        return "<vistream.Frame index=" + std::to_string(f.frame->index()) + " time=" +
               std::to_string(f.frame->time()) + " " + std::to_string(f.frame->width()) + "x" +
               std::to_string(f.frame->height()) + " " + f.frame->pixel_format_name() + ">";
      });
}

}  // namespace vistream::bindings
