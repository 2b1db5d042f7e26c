#include "frame_view.hpp"

#include <cstring>
#include <optional>

#include <pybind11/stl.h>

#include "../cuda/color_convert.hpp"
#include "dlpack.hpp"
#include "vistream/cuda_device.hpp"
#include "vistream/error.hpp"

namespace vistream::bindings {
namespace {

py::capsule keep_alive(const FramePtr& frame) {
  return py::capsule(new FramePtr(frame), [](void* p) { delete static_cast<FramePtr*>(p); });
}

struct DLPackContext {
  std::shared_ptr<void> owner;
  int64_t shape[3];
  int64_t strides[3];
  VsDLManagedTensor tensor;
};

// May run on any thread, without the GIL (the consumer frees the tensor): C++ only.
void dlpack_deleter(VsDLManagedTensor* tensor) { delete static_cast<DLPackContext*>(tensor->manager_ctx); }

void capsule_destructor(PyObject* capsule) {
  // A consumer renames the capsule to "used_dltensor" and owns it; an unconsumed one is ours.
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* tensor = static_cast<VsDLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (tensor && tensor->deleter) tensor->deleter(tensor);
  }
}

std::string device_name(int ordinal) { return ordinal < 0 ? std::string("cpu") : "cuda:" + std::to_string(ordinal); }

// The rest of __dlpack__'s keywords (array API 2023.12): max_version (we export the legacy
// unversioned capsule, which the standard allows any consumer to receive), dl_device (must be
// where the tensor is: no cross-device copies here) and copy (views only).
void check_dlpack_keywords(const py::kwargs& kwargs, int device_ordinal) {
  for (const auto& item : kwargs) {
    const std::string key = py::str(item.first);
    if (key == "stream" || key == "max_version") continue;
    if (key == "dl_device") {
      if (item.second.is_none()) continue;
      const auto wanted = item.second.cast<std::pair<int, int>>();
      const std::pair<int, int> here{device_ordinal < 0 ? kVsDLCPU : kVsDLCUDA, device_ordinal < 0 ? 0 : device_ordinal};
      if (wanted != here)
        throw py::buffer_error("dl_device " + std::to_string(wanted.first) + "," + std::to_string(wanted.second) +
                               " differs from the frame's device (" + device_name(device_ordinal) +
                               "): vistream exports views, not copies (frame.download() copies to the host)");
      continue;
    }
    if (key == "copy") {
      if (!item.second.is_none() && item.second.cast<bool>())
        throw py::buffer_error("copy=True: vistream exports views of the frame; copy the tensor afterwards");
      continue;
    }
    throw py::type_error("__dlpack__() got an unexpected keyword argument '" + key + "'");
  }
}

py::tuple dlpack_device_tuple(int ordinal) {
  if (ordinal < 0) return py::make_tuple(static_cast<int>(kVsDLCPU), 0);
  return py::make_tuple(static_cast<int>(kVsDLCUDA), ordinal);
}

}  // namespace

py::object frame_array(PyFrame& self) {
  if (self.array_cache) return self.array_cache;
  Frame& frame = *self.frame;
  if (frame.on_device()) {
    throw Error(ErrorKind::InvalidArgument,
                "frame.array needs host memory, and this frame is on cuda:" + std::to_string(frame.device_ordinal()) +
                    ": use frame.download().array (one copy to the host), torch.from_dlpack(frame) "
                    "(BGR on the GPU) or frame.planes (NV12 on the GPU)");
  }
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
  if (frame.on_device()) return frame_export_planes(self);
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

uintptr_t consumer_stream_for(const py::object& stream, int device_ordinal) {
  if (device_ordinal < 0) {
    if (!stream.is_none())
      throw py::buffer_error("stream must be None for a frame in host memory (got " + std::string(py::repr(stream)) + ")");
    return 0;
  }
  if (stream.is_none()) return 1;  // the consumer uses the legacy default stream
  if (!py::isinstance<py::int_>(stream) || py::isinstance<py::bool_>(stream))
    throw py::type_error("stream must be an int (a CUDA stream handle, 1, 2 or -1) or None, got " +
                         std::string(py::repr(stream)));
  const long long handle = stream.cast<long long>();
  if (handle == -1) return 0;  // the consumer synchronizes itself
  if (handle == 0) throw py::value_error("stream=0 is ambiguous for CUDA (array API): pass 1 for the legacy default stream, 2 for the per-thread one");
  if (handle < 0) throw py::value_error("stream must be -1, 1, 2 or a CUDA stream handle, got " + std::to_string(handle));
  return static_cast<uintptr_t>(handle);
}

py::capsule dlpack_capsule(std::shared_ptr<void> owner, const TensorLayout& layout) {
  if (layout.ndim < 1 || layout.ndim > 3 || !layout.data)
    throw py::buffer_error("cannot export a " + std::to_string(layout.ndim) + "-d tensor");
  auto* ctx = new DLPackContext{};
  ctx->owner = std::move(owner);
  for (int d = 0; d < layout.ndim; ++d) {
    ctx->shape[d] = layout.shape[d];
    ctx->strides[d] = layout.strides[d];
  }
  VsDLTensor& t = ctx->tensor.dl_tensor;
  t.data = layout.data;
  t.device = layout.device_ordinal < 0 ? VsDLDevice{kVsDLCPU, 0} : VsDLDevice{kVsDLCUDA, layout.device_ordinal};
  t.ndim = layout.ndim;
  t.dtype = VsDLDataType{kVsDLUInt, static_cast<uint8_t>(layout.element_bits), 1};
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

// A tensor for `layout`, owned by `owner`, exported under the array API's stream rules.
py::capsule export_layout(std::shared_ptr<void> owner, const TensorLayout& layout, const py::object& stream,
                          const py::kwargs& kwargs) {
  check_dlpack_keywords(kwargs, layout.device_ordinal);
  const uintptr_t consumer = consumer_stream_for(stream, layout.device_ordinal);
  if (consumer != 0) cuda_order_before(layout.device_ordinal, consumer);
  return dlpack_capsule(std::move(owner), layout);
}

void order_after_picture_consumers(PyFrame& self) {
  const Frame& frame = *self.frame;
  if (!frame.device_picture()) return;
  std::vector<uintptr_t> streams;
  streams.swap(self.picture_consumers);
  py::gil_scoped_release unlocked;
  for (const uintptr_t stream : streams) cuda_order_after(frame.device_ordinal(), stream);
}

py::capsule frame_dlpack(PyFrame& self, const py::object& stream, const py::kwargs& kwargs) {
  Frame& frame = *self.frame;
  if (const std::shared_ptr<DeviceImage>& picture = frame.device_picture()) {
    // A Player's frame: (H, W, 3) view of its BGR0 picture (strides pitch, 4, 1), the very
    // memory the window and the encoder read, so edits in place reach both without a copy.
    TensorLayout bgr = picture->layout;
    bgr.shape[2] = 3;
    check_dlpack_keywords(kwargs, bgr.device_ordinal);
    const uintptr_t consumer = consumer_stream_for(stream, bgr.device_ordinal);
    if (consumer != 0) cuda_order_before(bgr.device_ordinal, consumer);
    self.picture_consumers.push_back(consumer);
    struct Owner {
      FramePtr frame;
      std::shared_ptr<DeviceImage> image;
    };
    return dlpack_capsule(std::make_shared<Owner>(Owner{self.frame, picture}), bgr);
  }
  if (frame.on_device()) {
    // BGR (H, W, 3) on the frame's GPU, converted once per frame on vistream's stream; the
    // consumer's stream waits for that work (or the consumer syncs itself with stream=-1).
    if (!self.device_bgr) {
      py::gil_scoped_release unlocked;
      self.device_bgr = convert_on_device(frame, color::kBGR);
    }
    struct Owner {
      FramePtr frame;
      std::shared_ptr<DeviceImage> image;
    };
    return export_layout(std::make_shared<Owner>(Owner{self.frame, self.device_bgr}), self.device_bgr->layout,
                         stream, kwargs);
  }
  if (frame.packed_channels() == 0)
    throw py::buffer_error(std::string("DLPack export of a whole ") + frame.pixel_format_name() +
                           " frame needs a packed pixel format (bgr24, rgb24, gray, rgba, bgra); "
                           "frame.export_planes() exports each plane");
  frame.ensure_writable();
  return export_layout(self.frame, frame.plane_layouts().at(0), stream, kwargs);
}

// One plane as an object with __dlpack__/__dlpack_device__ (what frame.planes gives for
// device frames, frame.export_planes() for any frame).
struct PyFramePlane {
  FramePtr frame;
  TensorLayout layout;
};

py::object plane_export(const FramePtr& frame, const TensorLayout& layout) {
  return py::cast(PyFramePlane{frame, layout});
}

py::list frame_export_planes(PyFrame& self) {
  Frame& frame = *self.frame;
  if (!frame.on_device()) frame.ensure_writable();
  py::list planes;
  for (const TensorLayout& layout : frame.plane_layouts()) planes.append(plane_export(self.frame, layout));
  return planes;
}

void with_device_picture(const py::object& tensor, int ordinal, const std::function<void(const TensorLayout&)>& use) {
  std::shared_ptr<CudaDevice> device = CudaDevice::get(ordinal);
  py::object capsule = tensor.attr("__dlpack__")(py::arg("stream") = reinterpret_cast<uintptr_t>(device->stream()));
  auto* managed = static_cast<VsDLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
  if (!managed) throw py::error_already_set();
  // Ours now: the capsule must not run the deleter again (DLPack's consumer protocol).
  if (PyCapsule_SetName(capsule.ptr(), "used_dltensor") != 0) throw py::error_already_set();
  std::unique_ptr<VsDLManagedTensor, void (*)(VsDLManagedTensor*)> owned(managed, [](VsDLManagedTensor* t) {
    if (t->deleter) t->deleter(t);
  });
  const VsDLTensor& t = managed->dl_tensor;
  if (t.device.device_type != kVsDLCUDA || t.device.device_id != ordinal)
    throw py::value_error("the tensor is not on cuda:" + std::to_string(ordinal));
  if (t.dtype.code != kVsDLUInt || t.dtype.bits != 8 || t.dtype.lanes != 1 || t.ndim != 3 || t.shape[2] != 4)
    throw py::value_error("a device picture must be an (H, W, 4) uint8 tensor (BGR0)");
  const int64_t row = t.strides ? t.strides[0] : t.shape[1] * 4;
  if (t.strides && (t.strides[1] != 4 || t.strides[2] != 1))
    throw py::value_error("a device picture's pixels must be contiguous within a row (strides (pitch, 4, 1))");
  TensorLayout layout;
  layout.data = static_cast<uint8_t*>(t.data) + t.byte_offset;
  layout.device_ordinal = ordinal;
  layout.ndim = 3;
  layout.shape[0] = t.shape[0];
  layout.shape[1] = t.shape[1];
  layout.shape[2] = 4;
  layout.strides[0] = row;
  layout.strides[1] = 4;
  layout.strides[2] = 1;
  py::gil_scoped_release unlocked;
  use(layout);
}

void register_frame(py::module_& m) {
  m.def(
      "_count_host_to_device",
      [](int64_t bytes) {
        process_transfers().host_to_device_bytes += bytes;
        ++process_transfers().host_to_device_copies;
      },
      py::arg("bytes"), "Counts an upload made in Python (a callback's numpy array copied into a device picture).");
  m.def(
      "_cuda_device",
      [](const std::string& spec) {
        const int ordinal = parse_cuda_ordinal(spec);
        if (ordinal < 0) throw py::value_error("device must be 'cpu', 'cuda' or 'cuda:N', got '" + spec + "'");
        py::gil_scoped_release unlocked;
        return CudaDevice::get(ordinal)->ordinal();
      },
      py::arg("device"),
      "Opens the process's CUDA device object for 'cuda'/'cuda:N' (its ordinal); HardwareError naming libcuda, "
      "the driver or the device when it cannot.");
  m.def("cuda_kernels_built", &cuda_kernels_built,
        "True when this build embeds the CUDA colour-conversion kernels (else device frames convert with torch).");
  m.def("_dlpack_consumer_stream", &consumer_stream_for, py::arg("stream"), py::arg("device_ordinal"),
        "The CUDA stream handle __dlpack__(stream=...) orders after vistream's work (0: none); raises as "
        "__dlpack__ does. For tests of the array-API stream rules on machines without a GPU.");
  py::class_<PyFramePlane>(m, "FramePlane", "One plane of a frame, exported with DLPack (np/torch.from_dlpack).")
      .def_property_readonly("shape", [](const PyFramePlane& p) {
        py::tuple shape(p.layout.ndim);
        for (int d = 0; d < p.layout.ndim; ++d) shape[d] = p.layout.shape[d];
        return shape;
      })
      .def_property_readonly("strides", [](const PyFramePlane& p) {
        py::tuple strides(p.layout.ndim);  // in elements, as DLPack counts them
        for (int d = 0; d < p.layout.ndim; ++d) strides[d] = p.layout.strides[d];
        return strides;
      }, "strides in elements (DLPack's unit), from the frame's pitch")
      .def_property_readonly("data_ptr", [](const PyFramePlane& p) { return reinterpret_cast<uintptr_t>(p.layout.data); },
                             "address of the plane's first sample (a CUdeviceptr for device frames)")
      .def_property_readonly("dtype", [](const PyFramePlane& p) { return p.layout.element_bits == 16 ? "uint16" : "uint8"; })
      .def_property_readonly("device", [](const PyFramePlane& p) { return device_name(p.layout.device_ordinal); })
      .def("__dlpack__",
           [](const PyFramePlane& p, const py::args& args, const py::kwargs& kwargs) {
             if (args.size() > 1) throw py::type_error("__dlpack__() takes at most one positional argument (stream)");
             py::object stream = args.size() == 1 ? py::object(args[0]) : py::object(py::none());
             if (kwargs.contains("stream")) stream = kwargs["stream"];
             return export_layout(p.frame, p.layout, stream, kwargs);
           })
      .def("__dlpack_device__", [](const PyFramePlane& p) {
        return dlpack_device_tuple(p.layout.device_ordinal);
      });

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
           [](PyFrame& f, const py::args& args, const py::kwargs& kwargs) {
             if (args.size() > 1) throw py::type_error("__dlpack__() takes at most one positional argument (stream)");
             py::object stream = args.size() == 1 ? py::object(args[0]) : py::object(py::none());
             if (kwargs.contains("stream")) stream = kwargs["stream"];
             return frame_dlpack(f, stream, kwargs);
           },
           "DLPack export (array API): bgr24/rgb24/gray/rgba/bgra host frames as they are; device frames as\n"
           "BGR (H, W, 3) uint8 on their GPU, converted once. stream: the consumer's CUDA stream (None = legacy\n"
           "default, 1, 2, a handle, -1 = no sync); must be None for host frames.")
      .def("__dlpack_device__",
           [](const PyFrame& f) {
             return dlpack_device_tuple(f.frame->on_device() ? f.frame->device_ordinal() : -1);
           })
      .def("export_planes", &frame_export_planes,
           "One DLPack exporter per plane (nv12: Y (H, W) and UV (H/2, W/2, 2); p010le the same in uint16;\n"
           "yuv420p: Y, U, V), strides from the frame's pitch; on the GPU for device frames.")
      .def("download",
           [](PyFrame& f) {
             FramePtr copy;
             {
               py::gil_scoped_release unlocked;
               copy = f.frame->download();
               process_transfers().device_to_host_bytes += frame_payload_bytes(copy->av_frame(), copy->pixel_format());
               ++process_transfers().device_to_host_copies;
             }
             return PyFrame{std::move(copy), py::object()};
           },
           "A host-memory copy of a device frame (nv12/p010le; counted in vistream.transfer_stats()).")
      .def_property_readonly("color_matrix", [](const PyFrame& f) { return static_cast<int>(f.frame->av_frame()->colorspace); },
                             "the stream's YUV matrix as FFmpeg's AVColorSpace number (1 bt709, 5/6 bt601, 9 bt2020, 2 unspecified)")
      .def_property_readonly("full_range", [](const PyFrame& f) { return f.frame->av_frame()->color_range == AVCOL_RANGE_JPEG; },
                             "True for full-range (JPEG) YUV, False for limited (TV) or unspecified")
      .def_property_readonly("device",
                             [](const PyFrame& f) {
                               return f.frame->on_device() ? "cuda:" + std::to_string(f.frame->device_ordinal())
                                                           : std::string("cpu");
                             },
                             "'cpu', or 'cuda:N' for a frame in GPU memory")
      .def("__repr__", [](const PyFrame& f) {
        return "<vistream.Frame index=" + std::to_string(f.frame->index()) + " time=" +
               std::to_string(f.frame->time()) + " " + std::to_string(f.frame->width()) + "x" +
               std::to_string(f.frame->height()) + " " + f.frame->pixel_format_name() + ">";
      });
}

}  // namespace vistream::bindings
