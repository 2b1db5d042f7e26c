// vistream._core.Writer: the core Writer for Python. Frames come as core Frames (a Reader's or
// a Player's: referenced, never copied) or as numpy arrays (viewed in place while the encoder
// converts them; the GIL is released meanwhile and the array kept alive by the call).
// Calls are serialized by a mutex, so any thread may write.
#include "writer.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <mutex>
#include <optional>

#include "../cuda/color_convert.hpp"
#include "frame_view.hpp"
#include "vistream/cuda_convert.hpp"
#include "vistream/cuda_device.hpp"
#include "vistream/error.hpp"
#include "vistream/player_options.hpp"
#include "vistream/writer.hpp"

namespace vistream::bindings {
namespace {

namespace py = pybind11;

// Fine enough for any frame rate and for times given in seconds (MPEG's 90 kHz clock).
constexpr AVRational kWriterTimeBase{1, 90000};

int64_t pts_for(std::optional<double> seconds) {
  if (!seconds) return AV_NOPTS_VALUE;
  if (!std::isfinite(*seconds) || *seconds < 0)
    throw Error(ErrorKind::InvalidArgument, "time must be a number of seconds >= 0");
  return std::llround(*seconds * kWriterTimeBase.den);
}

py::dict output_dict(const OutputStatus& s) {
  py::dict d;
  d["url"] = s.url;
  d["format"] = s.format;
  d["network"] = s.network;
  d["connected"] = s.connected;
  d["packets_written"] = s.packets_written;
  d["packets_dropped"] = s.packets_dropped;
  d["failures"] = s.failures;
  d["reconnects"] = s.reconnects;
  d["state"] = s.state;
  d["last_error"] = s.last_error.empty() ? py::object(py::none()) : py::object(py::str(s.last_error));
  return d;
}

class PyWriter {
 public:
  PyWriter(const std::vector<std::string>& urls, EncoderOptions options, int width, int height,
           const std::string& pixel_format, double fps, const std::optional<std::string>& audio,
           bool scale_other_sizes) {
    std::transform(options.codec.begin(), options.codec.end(), options.codec.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    validate(options);
    if (!(fps > 0 && std::isfinite(fps))) throw Error(ErrorKind::InvalidArgument, "fps must be a number > 0");
    VideoFormat format;
    format.width = width;
    format.height = height;
    format.format = av_get_pix_fmt(pixel_format.c_str());
    if (format.format == AV_PIX_FMT_NONE)
      throw Error(ErrorKind::InvalidArgument, "pixel format '" + pixel_format + "' is not known to FFmpeg");
    format.time_base = kWriterTimeBase;
    format.frame_rate = av_d2q(fps, 1000000);
    format.sample_aspect_ratio = AVRational{1, 1};
    device_ordinal_ = options.device == "cpu" || options.device.empty() ? -1 : parse_cuda_ordinal(options.device);
    py::gil_scoped_release release;
    writer_ = std::make_unique<Writer>(urls, options, format);
    if (scale_other_sizes) writer_->scale_other_sizes();
    if (audio) writer_->add_audio_from(*audio);
  }

  bool write_frame(const PyFrame& view, std::optional<double> seconds) {
    FramePtr frame = view.frame;
    const int64_t pts = pts_for(seconds);
    if (frame->on_device()) return write_device_frame(frame, pts);
    py::gil_scoped_release release;
    std::lock_guard lock(mutex_);
    UniqueFrame reference = make_frame();
    VS_CHECK(av_frame_ref(reference.get(), frame->av_frame()), ErrorKind::Encoder, "referencing a frame to write");
    reference->pts = pts;
    reference->best_effort_timestamp = AV_NOPTS_VALUE;
    return live().write(reference.get());
  }

  bool write_array(const py::array& array, std::optional<double> seconds) {
    const int64_t pts = pts_for(seconds);
    if (!(array.flags() & py::array::c_style) && (array.ndim() < 2 || array.strides(array.ndim() - 1) != 1)) {
      throw Error(ErrorKind::InvalidArgument, "the array's pixels must be contiguous within a row");
    }
    const VideoFormat& format = live().frame_format();
    UniqueFrame view = make_frame();
    view->width = static_cast<int>(array.shape(1));
    view->height = static_cast<int>(array.shape(0));
    view->format = format.format;
    view->data[0] = static_cast<uint8_t*>(const_cast<void*>(array.data()));
    view->linesize[0] = static_cast<int>(array.strides(0));
    view->pts = pts;
    view->best_effort_timestamp = AV_NOPTS_VALUE;
    py::gil_scoped_release release;
    std::lock_guard lock(mutex_);
    return live().write(view.get());
  }

  // Device pictures (EncoderOptions::device "cuda"): a producer's (H, W, 4) BGR0 CUDA tensor.
  bool write_tensor(const py::object& tensor, std::optional<double> seconds) {
    const int64_t pts = pts_for(seconds);
    const int ordinal = live().frame_format().format == AV_PIX_FMT_BGR0 ? device_ordinal_ : -1;
    if (ordinal < 0) throw py::value_error("write_tensor() needs a writer opened with device='cuda'");
    bool written = false;
    with_device_picture(tensor, ordinal, [&](const TensorLayout& picture) {
      std::lock_guard lock(mutex_);
      written = write_picture(picture, pts, nullptr);
    });
    return written;
  }

  void close() {
    py::gil_scoped_release release;
    std::lock_guard lock(mutex_);
    if (writer_) writer_->finish();
  }

  py::dict stats() {
    // Not under mutex_: stats are readable while another thread is inside write() (an encode,
    // a file write); the Writer's counters and each output's status have their own locks.
    const WriterStats stats = writer_->stats();
    py::dict d;
    d["frames_written"] = stats.frames_written;
    d["frames_dropped"] = stats.frames_dropped;
    d["timestamps_filled"] = stats.timestamps_filled;
    d["audio"] = stats.audio.empty() ? py::object(py::none()) : py::object(py::str(stats.audio));
    py::list outputs;
    for (const OutputStatus& output : stats.outputs) outputs.append(output_dict(output));
    d["outputs"] = outputs;
    d["encoder"] = writer_->encoder_name();
    d["encode_path"] = writer_->encoder().path();
    d["device_to_host_bytes"] = writer_->encoder().device_to_host_bytes();
    d["device_to_host_copies"] = writer_->encoder().device_to_host_copies();
    return d;
  }

  std::string encoder() const { return writer_->encoder_name(); }
  py::tuple size() const {
    return py::make_tuple(writer_->frame_format().width, writer_->frame_format().height);
  }

 private:
  Writer& live() { return *writer_; }

  // A device frame (a Reader's or a Player's): its BGR0 picture, converted on the GPU unless
  // the Player already made one.
  bool write_device_frame(const FramePtr& frame, int64_t pts) {
    py::gil_scoped_release release;
    std::shared_ptr<DeviceImage> picture = frame->device_picture();
    if (!picture) picture = convert_on_device(*frame, color::kBGR0);
    std::lock_guard lock(mutex_);
    return write_picture(picture->layout, pts, picture->memory.get());
  }

  // Mutex held. The encoder copies the picture before write() returns.
  bool write_picture(const TensorLayout& picture, int64_t pts, AVBufferRef* memory) {
    UniqueFrame view = make_frame();
    if (memory) view->buf[0] = av_buffer_ref(memory);
    view->format = AV_PIX_FMT_BGR0;
    view->width = static_cast<int>(picture.shape[1]);
    view->height = static_cast<int>(picture.shape[0]);
    view->data[0] = picture.data;
    view->linesize[0] = static_cast<int>(picture.strides[0]);
    view->pts = pts;
    view->best_effort_timestamp = AV_NOPTS_VALUE;
    return live().write(view.get());
  }

  std::mutex mutex_;
  std::unique_ptr<Writer> writer_;
  int device_ordinal_ = -1;  // EncoderOptions::device's CUDA device, -1 for host frames
};

}  // namespace

py::dict output_status_dict(const OutputStatus& status) { return output_dict(status); }

void register_writer(py::module_& m) {
  py::class_<PyWriter>(m, "Writer", "Encodes frames once and writes them to one or more outputs (use vistream.Writer).")
      .def(py::init<const std::vector<std::string>&, EncoderOptions, int, int, const std::string&, double,
                    const std::optional<std::string>&, bool>(),
           py::arg("outputs"), py::arg("options"), py::arg("width"), py::arg("height"), py::arg("pixel_format"),
           py::arg("fps"), py::arg("audio") = py::none(), py::arg("scale_other_sizes") = false)
      .def("write_frame", &PyWriter::write_frame, py::arg("frame"), py::arg("time") = py::none(),
           "Encodes a core Frame (referenced, not copied); False when the timestamp guard dropped it.")
      .def("write_array", &PyWriter::write_array, py::arg("array"), py::arg("time") = py::none(),
           "Encodes an HxWxC uint8 array in the writer's pixel format (read in place).")
      .def("write_tensor", &PyWriter::write_tensor, py::arg("tensor"), py::arg("time") = py::none(),
           "Encodes an (H, W, 4) uint8 BGR0 CUDA tensor (DLPack, writer opened with device='cuda'): NVENC takes "
           "it from device memory, other encoders after one download.")
      .def("close", &PyWriter::close, "Flushes the encoder and finalizes every output. Idempotent.")
      .def("_stats", &PyWriter::stats)
      .def_property_readonly("encoder", &PyWriter::encoder, "The FFmpeg encoder in use.")
      .def_property_readonly("size", &PyWriter::size, "(width, height) of the frames written.");
}

}  // namespace vistream::bindings
