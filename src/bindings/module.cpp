// The only translation unit family that includes pybind11: it maps the core's C++ API onto
// the private module vistream._core. The public Python API lives in python/vistream/.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "frame_view.hpp"
#include "image_window.hpp"
#include "options.hpp"
#include "results_embed.hpp"
#include "writer.hpp"
#include "vistream/cancel_token.hpp"
#include "vistream/decode_lanes.hpp"
#include "vistream/error.hpp"
#include "vistream/frame_batch.hpp"
#include "vistream/log.hpp"
#include "vistream/player.hpp"
#include "vistream/video_source.hpp"

namespace py = pybind11;
using namespace vistream;
using vistream::bindings::PyFrame;

namespace {

const char* python_error_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Source: return "SourceError";
    case ErrorKind::SourceNotFound: return "SourceNotFoundError";
    case ErrorKind::SourceTimeout: return "SourceTimeoutError";
    case ErrorKind::SourceNotAllowed: return "SourceNotAllowedError";
    case ErrorKind::SourceCertificate: return "SourceCertificateError";
    case ErrorKind::Decode: return "DecodeError";
    case ErrorKind::Encoder: return "EncoderError";
    case ErrorKind::Filter: return "FilterError";
    case ErrorKind::Hardware: return "HardwareError";
    case ErrorKind::FrameSizeMismatch: return "FrameSizeMismatchError";
    case ErrorKind::Cancelled: return "CancelledError";
    default: return "VistreamError";
  }
}

int python_log_level(int av_level) {
  if (av_level <= AV_LOG_FATAL) return 50;
  if (av_level <= AV_LOG_ERROR) return 40;
  if (av_level <= AV_LOG_WARNING) return 30;
  if (av_level <= AV_LOG_INFO) return 20;
  return 10;
}

// Moves queued FFmpeg log lines into Python logging. Needs the GIL.
void flush_logs() {
  if (!log::has_pending()) return;
  size_t dropped = 0;
  std::vector<log::Message> messages = log::drain(&dropped);
  try {
    py::object logger = py::module_::import("logging").attr("getLogger")("vistream.ffmpeg");
    for (const log::Message& m : messages) logger.attr("log")(python_log_level(m.av_level), m.text);
    if (dropped) logger.attr("warning")(std::to_string(dropped) + " FFmpeg log lines dropped (queue full)");
  } catch (py::error_already_set& e) {
    e.discard_as_unraisable("vistream log forwarding");
  }
}

py::object fraction(Rational r) {
  return py::module_::import("fractions").attr("Fraction")(r.num, r.den ? r.den : 1);
}

py::dict info_dict(const MediaInfo& i) {
  py::dict d;
  d["width"] = i.width;
  d["height"] = i.height;
  d["fps"] = i.frame_rate.den ? static_cast<double>(i.frame_rate.num) / i.frame_rate.den : 0.0;
  d["fps_fraction"] = fraction(i.frame_rate);
  d["time_base"] = fraction(i.time_base);
  d["frame_count"] = i.frame_count;
  d["frame_count_exact"] = i.frame_count_exact;
  d["duration"] = i.duration;
  d["start_time"] = i.start_time;
  d["codec"] = i.codec;
  d["pixel_format"] = i.pixel_format;
  d["output_format"] = i.output_format;
  d["rotation"] = i.rotation;
  d["hwaccel"] = i.hwaccel;
  d["bit_rate"] = i.bit_rate;
  d["container"] = i.container;
  d["seekable"] = i.seekable;
  d["has_audio"] = i.has_audio;
  d["audio_sample_rate"] = i.audio_sample_rate;
  d["audio_channels"] = i.audio_channels;
  d["audio_codec"] = i.has_audio ? py::object(py::str(i.audio_codec)) : py::object(py::none());
  d["autorotated"] = i.autorotated;
  d["hwaccel_note"] = i.hwaccel_note;
  return d;
}

// Runs `fn` without the GIL, then forwards any FFmpeg log lines it produced.
template <typename Fn>
auto without_gil(Fn&& fn) {
  struct FlushOnExit {
    ~FlushOnExit() { flush_logs(); }
  } flush;
  py::gil_scoped_release release;
  return fn();
}

// Python thread ident of the main thread: only there do signal handlers run, so only there is
// it worth polling for them while native code waits.
unsigned long main_thread_ident = 0;

// Runs `fn` without the GIL, like without_gil, but lets Ctrl-C (any pending Python signal) end
// it: on the main thread, every wait and network I/O of `fn` made through `token` checks for
// signals about every 50 ms, taking the GIL only for that check. A handler that raises (SIGINT:
// KeyboardInterrupt) interrupts the blocking call; the core unwinds (Error(Interrupted), outputs
// finalized) and the handler's exception is raised here.
template <typename Fn>
auto interruptible(CancelToken& token, Fn&& fn) {
  struct PendingError {
    PyObject* type = nullptr;
    PyObject* value = nullptr;
    PyObject* traceback = nullptr;
    bool set() const { return type != nullptr; }
    // Needs the GIL. Leaves the error set for error_already_set to take.
    [[noreturn]] void raise() {
      PyErr_Restore(std::exchange(type, nullptr), std::exchange(value, nullptr), std::exchange(traceback, nullptr));
      throw py::error_already_set();
    }
    ~PendingError() {
      Py_XDECREF(type);
      Py_XDECREF(value);
      Py_XDECREF(traceback);
    }
  } pending;
  const bool on_main_thread = PyThread_get_thread_ident() == main_thread_ident;
  struct ClearCheck {
    CancelToken& token;
    bool installed;
    ~ClearCheck() {
      if (installed) token.clear_interrupt_check();
    }
  } clear{token, on_main_thread};
  if (on_main_thread) {
    token.set_interrupt_check([&pending] {
      py::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() == 0) return false;
      PyErr_Fetch(&pending.type, &pending.value, &pending.traceback);
      return true;
    });
  }
  try {
    auto result = without_gil(std::forward<Fn>(fn));
    if (pending.set()) pending.raise();  // the call finished anyway: still deliver the signal
    return result;
  } catch (const Error& error) {
    if (error.kind() != ErrorKind::Interrupted) throw;
    if (pending.set()) pending.raise();
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
  }
}

// A live source's connection events to a Python callable fn(kind, reason, attempt, downtime,
// frames_lost), kind "disconnect", "error" or "reconnect". Called on the thread that met the
// event (the Reader's iterating thread, the Player's source thread) with the GIL taken here;
// what the callable raises leaves the call in progress (iteration, run()).
void call_connection_callback(const py::object& holder, const ConnectionEvent& event) {
  py::gil_scoped_acquire gil;
  flush_logs();
  py::object callback = holder;  // our reference: the callable may replace itself
  if (callback.is_none()) return;
  const char* kind = event.kind == ConnectionEvent::Kind::Disconnected ? "disconnect"
                     : event.kind == ConnectionEvent::Kind::Reconnected ? "reconnect"
                                                                        : "error";
  callback(kind, event.reason, event.attempt, event.downtime, event.frames_lost);
}

// A Reader may be used from any thread. Every native operation runs under operation_mutex_
// (VideoSource itself is single-threaded); the lock is taken with the GIL released, so a
// thread waiting for it never blocks the one holding it from getting the GIL back.
class PyReader {
 public:
  // The options are checked (canonical spelling, ranges) before anything is opened.
  // `cancel`: a token the caller keeps, so another thread can end a blocking open (the Reader
  // does not exist yet to close()); the Reader then owns it like its own.
  PyReader(const std::string& url, const SourceOptions& given, std::shared_ptr<CancelToken> cancel)
      : cancel_(cancel ? std::move(cancel) : std::make_shared<CancelToken>()) {
    const SourceOptions options = checked(given);
    source_ = interruptible(*cancel_, [&] { return std::make_unique<VideoSource>(url, options, cancel_); });
    lanes_ = std::make_unique<DecodeLanes>(url, options, cancel_);  // opens nothing until a batch uses it
  }

  // Runs fn(source) under the operation lock, without the GIL; on the main thread Ctrl-C ends
  // a blocking call. close() from another thread cancels the call in progress and waits for it.
  // Every call that close() interrupted or came after it fails with "closed Reader" (ValueError).
  template <typename Fn>
  auto locked(Fn&& fn) {
    try {
      return interruptible(*cancel_, [&] {
        std::lock_guard lock(operation_mutex_);
        if (!source_ || closing_.load()) throw Error(ErrorKind::InvalidArgument, "I/O operation on a closed Reader");
        return fn(*source_);
      });
    } catch (const Error& error) {
      if (error.kind() == ErrorKind::Cancelled && closing_.load())
        throw Error(ErrorKind::InvalidArgument, "I/O operation on a closed Reader");
      throw;
    }
  }

  py::object next() {
    const bool open_at_start = !closing_.load();
    FramePtr frame;
    try {
      frame = locked([](VideoSource& s) { return s.next(); });
    } catch (const Error& error) {
      // close() from another thread ends the iteration it interrupted; later calls raise.
      if (open_at_start && closing_.load()) throw py::stop_iteration();
      throw;
    }
    if (!frame) throw py::stop_iteration();
    return py::cast(PyFrame{std::move(frame), py::object()});
  }
  // seek + next as one operation, so another thread's next() cannot come in between.
  py::object frame_at(int64_t index) {
    FramePtr frame = locked([&](VideoSource& s) { return s.frame_at(index); });
    if (!frame) return py::none();
    return py::cast(PyFrame{std::move(frame), py::object()});
  }
  // Batch retrieval (FrameBatch): the whole batch is one operation under the lock, decoded
  // without the GIL; Python objects are made afterwards.
  py::object frames_at(const std::vector<int64_t>& indices, bool stack) {
    return fetch(stack, [&](VideoSource& s) { return FrameBatch(s, indices); });
  }
  py::object frames_played_at(const std::vector<double>& seconds, bool stack) {
    return fetch(stack, [&](VideoSource& s) { return FrameBatch::played_at(s, seconds); });
  }
  void set_connection_callback(py::object fn) {
    connection_callback_ = std::move(fn);
    locked([this](VideoSource& s) {
      s.set_connection_listener([this](const ConnectionEvent& event) {
        call_connection_callback(connection_callback_, event);
      });
      return 0;
    });
  }
  int visit_callbacks(visitproc visit, void* arg) {
    Py_VISIT(connection_callback_.ptr());
    return 0;
  }
  void clear_callbacks() { connection_callback_ = py::none(); }
  // Under the operation lock (inside locked()).
  DecodeLanes::Stats lane_stats() const { return lanes_ ? lanes_->stats() : DecodeLanes::Stats{}; }

  void close() {
    if (closing_.exchange(true)) return;
    cancel_->cancel();  // a call blocked in another thread returns now
    // Waits for that call, then frees the source.
    without_gil([&] {
      std::unique_ptr<VideoSource> closing;
      std::unique_ptr<DecodeLanes> closing_lanes;
      {
        std::lock_guard lock(operation_mutex_);
        closing = std::move(source_);
        closing_lanes = std::move(lanes_);
      }
      return 0;  // `closing` (decoder threads, demuxer) goes here, outside the lock
    });
  }

 private:
  template <typename MakeBatch>
  py::object fetch(bool stack, MakeBatch&& make_batch) {
    if (stack) return stack_array(locked([&](VideoSource& s) { return make_batch(s).with_lanes(lanes_.get()).stack(); }));
    const std::vector<FramePtr> frames =
        locked([&](VideoSource& s) { return make_batch(s).with_lanes(lanes_.get()).frames(); });
    // A duplicate index yields the same Frame object, as it shares the decoded frame.
    std::unordered_map<const Frame*, py::object> made;
    py::list out;
    for (const FramePtr& frame : frames) {
      py::object& view = made[frame.get()];
      if (!view) view = py::cast(PyFrame{frame, py::object()});
      out.append(view);
    }
    return out;
  }

  // The stack's buffer becomes the array's memory (no copy); the array owns it.
  static py::array stack_array(FrameStack stack) {
    const std::vector<py::ssize_t> shape(stack.shape.begin(), stack.shape.end());
    if (!stack.pixels) return py::array(py::dtype::of<uint8_t>(), shape);
    auto* owned = new FrameStack(std::move(stack));
    py::capsule owner(owned, [](void* p) { delete static_cast<FrameStack*>(p); });
    return py::array(py::dtype::of<uint8_t>(), shape, owned->pixels.get(), owner);
  }

  std::shared_ptr<CancelToken> cancel_;  // immutable; cancelled by close()
  std::mutex operation_mutex_;
  std::unique_ptr<VideoSource> source_;  // protected by operation_mutex_; null once closed
  std::unique_ptr<DecodeLanes> lanes_;   // protected by operation_mutex_; null once closed
  std::atomic<bool> closing_{false};     // set once by close()
  // GIL-protected; called by the thread iterating (inside the operation lock, GIL taken).
  py::object connection_callback_ = py::none();
};

class PyPlayer {
 public:
  PyPlayer(const std::string& url, const PlayerOptions& options) : cancel_(std::make_shared<CancelToken>()) {
    player_ = interruptible(*cancel_, [&] { return std::make_unique<Player>(url, options, cancel_); });
  }
  ~PyPlayer() {
    py::gil_scoped_release release;  // joins nothing, but frees decoder threads
    player_.reset();
  }
  // Swapping a Python callable is atomic under the GIL, which is also held wherever the
  // hooks call them: on_frame/on_key may be changed at any time, even while running.
  void set_callback(py::object fn) { callback_ = std::move(fn); }
  void set_key_callback(py::object fn) { key_callback_ = std::move(fn); }
  void set_connection_callback(py::object fn) { connection_callback_ = std::move(fn); }

  void run() {
    if (ran_) throw py::value_error("Player.run() can only be called once");
    ran_ = true;
    // The core's hooks are installed once, before its threads start (Player requires it).
    player_->set_key_hook([this](const KeyEvent& key) -> bool {
      py::gil_scoped_acquire gil;  // display thread: the run() thread never waits on it with the GIL
      py::object callback = key_callback_;  // our reference: the callback may replace itself
      if (callback.is_none()) return false;
      std::string name = key.name;
      if (key.alt) name = "alt+" + name;
      if (key.shift) name = "shift+" + name;
      if (key.ctrl) name = "ctrl+" + name;
      py::object handled = callback(name);
      return !handled.is_none() && handled.cast<bool>();
    });
    player_->set_frame_hook([this](const FramePtr& frame) -> bool {
      py::gil_scoped_acquire gil;
      flush_logs();
      py::object callback = callback_;
      if (callback.is_none()) {
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();  // Ctrl-C
        return true;
      }
      // Python owns the Frame object: the callback may keep it (and its array) after returning.
      py::object py_frame = py::cast(PyFrame{frame, py::object()});
      py::object result = callback(py_frame);
      if (frame->device_picture()) {
        // Device frames: a returned tensor/array is copied into the picture (torch_convert), and
        // vistream's stream waits for the streams the picture was exported to.
        if (!result.is_none()) py::module_::import("vistream.torch_convert").attr("copy_into_picture")(py_frame, result);
        order_after_picture_consumers(py_frame.cast<PyFrame&>());
        return true;
      }
      if (!result.is_none()) replace_pixels(py_frame.cast<PyFrame&>(), result);
      // Kept by Python: settle its buffers now (ensure_writable may copy or re-lay them out),
      // so a later first .array does not change a frame the display and encoder are reading.
      if (Py_REFCNT(py_frame.ptr()) > 1) frame->ensure_writable();
      return true;
    });
    player_->set_connection_hook(
        [this](const ConnectionEvent& event) { call_connection_callback(connection_callback_, event); });
    try {
      interruptible(*cancel_, [&] { player_->run(); return 0; });
    } catch (...) {
      release_callbacks();
      throw;
    }
    release_callbacks();
  }

  void stop() { player_->stop(); }
  Player& core() { return *player_; }

  py::dict stats() const {
    const PlayerStats& s = player_->stats();
    py::dict d;
    d["frames_decoded"] = s.frames_decoded.load();
    d["frames_processed"] = s.frames_processed.load();
    d["frames_encoded"] = s.frames_encoded.load();
    d["frames_dropped"] = s.frames_dropped.load();
    d["decode_errors"] = s.decode_errors.load();
    d["read_errors"] = s.read_errors.load();
    d["seeks"] = s.seeks.load();
    const double elapsed = s.elapsed.load();
    d["elapsed"] = elapsed;
    d["fps"] = elapsed > 0 ? s.frames_processed.load() / elapsed : 0.0;
    const std::string encoder = player_->encoder_name();
    d["encoder"] = encoder.empty() ? py::object(py::none()) : py::object(py::str(encoder));
    d["audio"] = player_->has_audio_output() ? py::object(py::str(player_->audio_copied() ? "copy" : "transcode"))
                                             : py::object(py::none());
    d["hwaccel"] = player_->info().hwaccel;
    const std::string device = player_->audio_device();
    d["audio_device"] = device.empty() ? py::object(py::none()) : py::object(py::str(device));
    d["av_drift_max"] = s.av_drift_max.load();
    d["av_drift_samples"] = s.av_drift_samples.load();
    d["display_fps"] = player_->display_fps();
    d["frames_dropped_timestamps"] = s.frames_dropped_timestamps.load();
    d["timestamps_filled"] = s.timestamps_filled.load();
    py::list outputs;
    for (const OutputStatus& output : player_->outputs()) outputs.append(vistream::bindings::output_status_dict(output));
    d["outputs"] = outputs;
    d["reconnects"] = s.reconnects.load();
    d["downtime"] = s.reconnect_downtime.load();
    d["frames_lost"] = s.frames_lost.load();
    d["frames_late"] = s.frames_late.load();
    const DecodedFrameCache::Stats cache = player_->cache_stats();
    d["cache"] = py::dict(py::arg("hits") = cache.hits, py::arg("misses") = cache.misses,
                          py::arg("misses_behind") = cache.misses_behind, py::arg("grew") = cache.grew,
                          py::arg("frames") = cache.frames, py::arg("bytes") = cache.bytes,
                          py::arg("budget_frames") = cache.budget_frames, py::arg("max_bytes") = cache.max_bytes,
                          py::arg("device_bytes") = cache.device_bytes,
                          py::arg("max_device_bytes") = cache.max_device_bytes);
    d["device"] = player_->frames_device();
    d["encode_path"] = player_->encode_path().empty() ? py::object(py::none()) : py::object(py::str(player_->encode_path()));
    d["device_to_host_bytes"] = s.device_to_host_bytes.load() + player_->encoder_device_to_host_bytes();
    d["device_to_host_copies"] = s.device_to_host_copies.load() + player_->encoder_device_to_host_copies();
    const LatencyStats::Summary latency = s.latency.summary();
    auto seconds_or_none = [](double value) { return std::isnan(value) ? py::object(py::none()) : py::object(py::float_(value)); };
    d["latency_p50"] = seconds_or_none(latency.p50);
    d["latency_p95"] = seconds_or_none(latency.p95);
    d["latency_max"] = seconds_or_none(latency.max);
    d["latency_samples"] = latency.samples;
    const std::string clock = capture_clock_name(latency.clock);
    d["latency_clock"] = clock.empty() ? py::object(py::none()) : py::object(py::str(clock));
    return d;
  }

  py::dict info() { return info_dict(player_->info()); }

 private:
  // The callback returned an array: its pixels replace the frame's (same shape and dtype).
  static void replace_pixels(PyFrame& view, const py::object& result) {
    py::array target = py::reinterpret_borrow<py::array>(vistream::bindings::frame_array(view));
    if (!py::isinstance<py::array>(result)) {
      throw py::type_error("frame callback must return None or a numpy array, got " +
                           std::string(py::str(result.get_type().attr("__name__"))));
    }
    py::array source = py::reinterpret_borrow<py::array>(result);
    if (!source.dtype().is(target.dtype()) || source.ndim() != target.ndim() ||
        !std::equal(source.shape(), source.shape() + source.ndim(), target.shape())) {
      throw py::value_error("frame callback returned an array of shape " +
                            std::string(py::str(source.attr("shape"))) + " dtype " +
                            std::string(py::str(source.dtype())) + "; expected " +
                            std::string(py::str(target.attr("shape"))) + " uint8");
    }
    if (source.ptr() == target.ptr()) return;
    py::module_::import("numpy").attr("copyto")(target, source);
  }

  // run() is over and cannot run again: drop the callables now rather than with the player,
  // since they often reference the Python Player (a cycle through native code).
  void release_callbacks() {
    callback_ = py::none();
    key_callback_ = py::none();
    connection_callback_ = py::none();
  }

 public:
  // For the garbage collector (see register below): the callables are this object's only
  // references to Python objects.
  int visit_callbacks(visitproc visit, void* arg) {
    Py_VISIT(callback_.ptr());
    Py_VISIT(key_callback_.ptr());
    Py_VISIT(connection_callback_.ptr());
    return 0;
  }

 private:
  std::shared_ptr<CancelToken> cancel_;
  std::unique_ptr<Player> player_;
  bool ran_ = false;  // GIL-protected
  py::object callback_ = py::none();      // GIL-protected; called by the run() thread
  py::object key_callback_ = py::none();  // GIL-protected; called by the display thread
  py::object connection_callback_ = py::none();  // GIL-protected; called by the source thread
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "vistream native engine (private; use the vistream package)";
  log::install();
  main_thread_ident = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Interrupted) {  // no Python signal pending: still an interrupt
        PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
        return;
      }
      if (e.kind() == ErrorKind::InvalidArgument) {
        PyErr_SetString(PyExc_ValueError, e.what());
        return;
      }
      py::object errors = py::module_::import("vistream.errors");
      PyErr_SetString(errors.attr(python_error_name(e.kind())).ptr(), e.what());
    }
  });

  // Registered after the translator above, so tried before it: an index or time outside the
  // stream is an IndexError (vistream.FrameIndexError), not the ValueError of other bad arguments.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const OutOfRangeError& e) {
      py::object errors = py::module_::import("vistream.errors");
      PyErr_SetString(errors.attr("FrameIndexError").ptr(), e.what());
    }
  });

  m.def("set_av_log_level", &log::set_level, "Level (AV_LOG_*) above which FFmpeg messages are dropped");
  m.def("av_log_level", &log::level);
  m.def("flush_logs", &flush_logs);
  m.def("ffmpeg_versions", [] {
    py::dict d;
    d["libavcodec"] = AV_STRINGIFY(LIBAVCODEC_VERSION);
    d["libavformat"] = AV_STRINGIFY(LIBAVFORMAT_VERSION);
    d["libavutil"] = AV_STRINGIFY(LIBAVUTIL_VERSION);
    d["libavfilter"] = AV_STRINGIFY(LIBAVFILTER_VERSION);
    d["runtime_libavcodec"] = avcodec_version();
    return d;
  });
  m.def("encoder_candidates", &VideoEncoder::candidates);
  m.attr("SPEED_RANGE") = py::make_tuple(kMinSpeed, kMaxSpeed);

  vistream::bindings::register_frame(m);
  vistream::bindings::register_capabilities(m);
  vistream::bindings::register_options(m);
  vistream::bindings::register_writer(m);
  vistream::bindings::register_results_embed(m);
  vistream::bindings::register_image_window(m);
  // The timeline generation of a Player's frames (kept apart from the frame views).
  py::reinterpret_borrow<py::class_<PyFrame>>(m.attr("Frame"))
      .def_property_readonly(
          "serial",
          [](const PyFrame& f) -> py::object {
            return f.frame->serial() < 0 ? py::object(py::none()) : py::object(py::int_(f.frame->serial()));
          },
          "Timeline generation of a Player's frame (int): a seek, a backward step and a loop restart "
          "start a new one. None for frames not from a Player (Reader).")
      .def_property_readonly(
          "discontinuity", [](const PyFrame& f) { return f.frame->discontinuity(); },
          "True on the first frame the callback gets of a new timeline generation (the run's first "
          "frame, after a seek, a backward step, a loop restart); False for the next frame in order "
          "and after frames dropped in real time. Always False for Reader frames.")
      .def_property_readonly(
          "reconnected", [](const PyFrame& f) { return f.frame->reconnected(); },
          "True on the frames of a generation a live source's reconnect started: they continue the "
          "previous frames in time (a gap while the source was down, not a seek), so a Pipeline keeps "
          "its tracks across it. False otherwise and for Reader frames.");

  py::class_<CancelToken, std::shared_ptr<CancelToken>>(
      m, "CancelToken",
      "Ends a Reader's blocking calls from another thread, including its open: pass it as "
      "Reader(..., cancel=token), then token.cancel() (sticky; the Reader raises CancelledError).")
      .def(py::init<>())
      .def("cancel", &CancelToken::cancel, py::call_guard<py::gil_scoped_release>(),
           "Ends the blocking call in progress and every later one.")
      .def_property_readonly("cancelled", &CancelToken::cancelled, "True once cancel() was called.");

  // The connection callback may reference its Reader (a cycle through native code): the
  // garbage collector sees it through traverse/clear, as for the Player below.
  py::class_<PyReader>(m, "Reader", py::custom_type_setup([](PyHeapTypeObject* heap_type) {
                         PyTypeObject* type = &heap_type->ht_type;
                         type->tp_flags |= Py_TPFLAGS_HAVE_GC;
                         type->tp_traverse = [](PyObject* self, visitproc visit, void* arg) -> int {
                           Py_VISIT(Py_TYPE(self));
                           if (!py::detail::is_holder_constructed(self)) return 0;
                           return py::cast<PyReader&>(py::handle(self)).visit_callbacks(visit, arg);
                         };
                         type->tp_clear = [](PyObject* self) -> int {
                           if (py::detail::is_holder_constructed(self))
                             py::cast<PyReader&>(py::handle(self)).clear_callbacks();
                           return 0;
                         };
                       }))
      .def(py::init<const std::string&, const SourceOptions&, std::shared_ptr<CancelToken>>(), py::arg("source"),
           py::arg("options"), py::arg("cancel") = nullptr)
      .def("_unused_input_options",
           [](PyReader& r) { return r.locked([](VideoSource& s) { return s.unused_input_options(); }); })
      .def("__next__", &PyReader::next)
      .def("_frame_at", &PyReader::frame_at, py::arg("index"))
      .def("_frames_at", &PyReader::frames_at, py::arg("indices"), py::arg("stack"))
      .def("_frames_played_at", &PyReader::frames_played_at, py::arg("times"), py::arg("stack"))
      .def("_info", [](PyReader& r) {
        MediaInfo info = r.locked([](VideoSource& s) {
          MediaInfo opened = s.info();
          if (s.indexed() && !s.timeline_unknown()) {  // indexed since open (first seek on a remote file): now exact
            opened.frame_count = s.indexed_frame_count();
            opened.frame_count_exact = true;
          }
          return opened;
        });
        return info_dict(info);
      })
      .def("seek_index", [](PyReader& r, int64_t index) {
        r.locked([&](VideoSource& s) { s.seek_to_index(index); return 0; });
      })
      .def("seek_time", [](PyReader& r, double t) {
        r.locked([&](VideoSource& s) { s.seek_to_time(t); return 0; });
      })
      .def("count_frames", [](PyReader& r) {
        return r.locked([](VideoSource& s) { return s.count_frames(); });
      })
      .def("_stats", [](PyReader& r) {
        DecodeLanes::Stats lanes;
        const SourceStats s = r.locked([&](VideoSource& source) {
          lanes = r.lane_stats();
          return with_lane_work(source.stats(), lanes.work);
        });
        py::dict d;
        d["packets_read"] = s.packets_read;
        d["frames_decoded"] = s.frames_decoded;
        d["frames_converted"] = s.frames_converted;
        d["frames_output"] = s.frames_output;
        d["decode_errors"] = s.decode_errors;
        d["read_errors"] = s.read_errors;
        d["seeks"] = s.seeks;
        d["device_to_host_bytes"] = s.device_to_host_bytes;
        d["device_to_host_copies"] = s.device_to_host_copies;
        d["reconnects"] = s.reconnects;
        d["downtime"] = s.downtime;
        d["frames_lost"] = s.frames_lost;
        d["runs_on_lanes"] = lanes.runs;
        d["decode_lanes"] = lanes.lanes;
        return d;
      })
      .def("_set_connection_callback", &PyReader::set_connection_callback, py::arg("callback"))
      .def("close", &PyReader::close);

  // A callback that references its Player (p.stop() in a closure) forms a cycle through
  // native code; traverse/clear let Python's garbage collector see and break it.
  py::class_<PyPlayer>(m, "Player", py::custom_type_setup([](PyHeapTypeObject* heap_type) {
                         PyTypeObject* type = &heap_type->ht_type;
                         type->tp_flags |= Py_TPFLAGS_HAVE_GC;
                         type->tp_traverse = [](PyObject* self, visitproc visit, void* arg) -> int {
                           Py_VISIT(Py_TYPE(self));
                           if (!py::detail::is_holder_constructed(self)) return 0;
                           return py::cast<PyPlayer&>(py::handle(self)).visit_callbacks(visit, arg);
                         };
                         type->tp_clear = [](PyObject* self) -> int {
                           if (py::detail::is_holder_constructed(self)) {
                             PyPlayer& player = py::cast<PyPlayer&>(py::handle(self));
                             player.set_callback(py::none());
                             player.set_key_callback(py::none());
                             player.set_connection_callback(py::none());
                           }
                           return 0;
                         };
                       }))
      .def(py::init<const std::string&, const PlayerOptions&>(), py::arg("source"), py::arg("options"))
      .def("_unused_input_options", [](PyPlayer& p) { return p.core().unused_input_options(); })
      .def("_output_finalized", [](PyPlayer& p) { return p.core().output_finalized(); })
      .def("set_callback", &PyPlayer::set_callback)
      .def("set_key_callback", &PyPlayer::set_key_callback)
      .def("_set_connection_callback", &PyPlayer::set_connection_callback, py::arg("callback"))
      .def("frames_shown", [](PyPlayer& p) { return p.core().frames_shown(); })
      .def_static("display_available", [] {
        std::string reason;
        const bool ok = without_gil([&] { return Display::available(&reason); });  // connects to the server
        return py::make_tuple(ok, reason);
      })
      .def("run", &PyPlayer::run)
      .def("stop", &PyPlayer::stop)
      // Tests and diagnostics: (media time or None, timeline serial) of the sound playing now.
      .def("_audio_clock",
           [](PyPlayer& p) {
             const auto [time, serial] = p.core().audio_clock();
             return py::make_tuple(std::isnan(time) ? py::object(py::none()) : py::object(py::float_(time)), serial);
           })
      .def("pause", [](PyPlayer& p) { p.core().pause(); })
      .def("resume", [](PyPlayer& p) { p.core().resume(); })
      .def("paused", [](PyPlayer& p) { return p.core().paused(); })
      .def("seek_index", [](PyPlayer& p, int64_t index) { p.core().seek_to_index(index); })
      .def("seek_time", [](PyPlayer& p, double t) { p.core().seek_to_time(t); })
      .def("step", [](PyPlayer& p, int64_t n) { p.core().step(n); })
      .def("set_speed", [](PyPlayer& p, double speed) { p.core().set_speed(speed); })
      .def("speed", [](PyPlayer& p) { return p.core().speed(); })
      .def("position", [](PyPlayer& p) {
        const PlayerPosition pos = p.core().position();
        return py::make_tuple(pos.index, pos.time);
      })
      .def("_stats", &PyPlayer::stats)
      .def("_info", &PyPlayer::info);
}
