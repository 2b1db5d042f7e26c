// Each options class is constructed from keywords only, and every keyword goes through the
// attribute of that name: the defaults are those of the C++ struct (written once, in the core's
// headers), there is no second list of arguments to keep in step, and a value of the wrong type
// raises a TypeError that names the option. Ranges and spellings are not checked here: the core
// does that (checked()/validate() in player_options.cpp) when a Reader or Player gets them.
//
// Python's None stands for the core's "unset" value of a field (an empty string, or -1: see
// player_options.hpp), so the getters give None back for it.
#include "options.hpp"

#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "vistream/error.hpp"
#include "vistream/player_options.hpp"

namespace {

// A number argument that is not a bool: Python's True is an int, but never a speed or a
// thread count. Integers are accepted where a float is expected (2 for 2.0), numpy scalars too.
template <typename T>
struct Number {
  T value;
};

}  // namespace

namespace pybind11::detail {

template <typename T>
struct type_caster<Number<T>> {
  PYBIND11_TYPE_CASTER(Number<T>, const_name<std::is_integral_v<T>>("int", "float"));

  bool load(handle source, bool convert) {
    if (!source || PyBool_Check(source.ptr())) return false;
    make_caster<T> inner;
    if (!inner.load(source, convert)) return false;
    value.value = cast_op<T>(inner);
    return true;
  }
  static handle cast(const Number<T>& number, return_value_policy policy, handle parent) {
    return make_caster<T>::cast(number.value, policy, parent);
  }
};

}  // namespace pybind11::detail

namespace vistream::bindings {
namespace {

namespace py = pybind11;

std::optional<std::string> unless_empty(const std::string& text) {
  return text.empty() ? std::nullopt : std::optional<std::string>(text);
}

template <typename T>
std::optional<T> unless_unset(T value, T unset) {
  return value == unset ? std::nullopt : std::optional<T>(value);
}

// A py::class_ for an options struct, remembering each attribute and what it takes.
template <typename Options>
class OptionsClass {
 public:
  OptionsClass(py::module_& m, const char* name, const char* doc)
      : class_(m, name, doc), name_(name), fields_(std::make_shared<std::vector<Field>>()) {}

  // An attribute with a converting getter and setter; `takes` describes it for errors.
  template <typename Get, typename Set>
  OptionsClass& field(const char* name, const char* takes, Get get, Set set, const char* doc) {
    class_.def_property(name, get, set, doc);
    fields_->push_back({name, takes});
    return *this;
  }
  // A plain member (bool, or a nested options struct, which is then edited in place).
  template <typename Member>
  OptionsClass& member(const char* name, const char* takes, Member Options::*pointer, const char* doc) {
    class_.def_readwrite(name, pointer, doc);
    fields_->push_back({name, takes});
    return *this;
  }
  py::class_<Options>& finish() {
    class_.def(py::init([fields = fields_, name = name_](const py::kwargs& keywords) {
                 return from_keywords(name, *fields, keywords);
               }),
               "Keyword arguments: any of the attributes below; the others keep their defaults.");
    class_.def("__repr__", [fields = fields_, name = name_](const py::object& self) {
      std::string text = name + "(";
      for (size_t i = 0; i < fields->size(); ++i) {
        const std::string& attribute = (*fields)[i].name;
        text += (i ? ", " : "") + attribute + "=" + std::string(py::repr(self.attr(attribute.c_str())));
      }
      return text + ")";
    });
    return class_;
  }

 private:
  struct Field {
    std::string name;
    std::string takes;
  };

  static Options from_keywords(const std::string& class_name, const std::vector<Field>& fields,
                               const py::kwargs& keywords) {
    Options options;
    std::string error;
    {
      // A non-owning view of `options`, gone before it is returned.
      py::object view = py::cast(&options, py::return_value_policy::reference);
      for (const auto& [key, value] : keywords) {
        const std::string name = py::str(key);
        const Field* field = nullptr;
        for (const Field& candidate : fields)
          if (candidate.name == name) field = &candidate;
        if (!field) {
          error = class_name + "() got an unexpected keyword argument '" + name + "'";
          break;
        }
        try {
          py::setattr(view, key, value);
        } catch (py::error_already_set& failure) {
          if (!failure.matches(PyExc_TypeError)) throw;
          error = name + " must be " + field->takes + ", not " +
                  std::string(py::str(py::type::handle_of(value).attr("__name__")));
          break;
        }
      }
    }
    if (!error.empty()) throw py::type_error(error);
    return options;
  }

  py::class_<Options> class_;
  std::string name_;
  std::shared_ptr<std::vector<Field>> fields_;
};

void register_source_options(py::module_& m) {
  OptionsClass<SourceOptions>(m, "SourceOptions", "What to decode and how: a Reader's options, a Player's `source`.")
      .field(
          "format", "a pixel format name (str)", [](const SourceOptions& o) { return o.output_format; },
          [](SourceOptions& o, const std::string& format) { o.output_format = format; },
          "Pixel format of the frames: bgr24, rgb24, gray, rgba, bgra, yuv420p, nv12 (aliases bgr, rgb, grey).")
      .field(
          "vfilter", "an FFmpeg filter graph (str) or None",
          [](const SourceOptions& o) { return unless_empty(o.vfilter); },
          [](SourceOptions& o, const std::optional<std::string>& graph) { o.vfilter = graph.value_or(""); },
          "FFmpeg video filter graph applied before the pixel conversion (None: none).")
      .field(
          "hwaccel", "a device type (str) or None", [](const SourceOptions& o) { return o.decoder.hwaccel; },
          [](SourceOptions& o, const std::optional<std::string>& device) {
            o.decoder.hwaccel = device.value_or("none");
          },
          "Decoding device: 'none' (None), 'auto' (cuda, vaapi, then software) or a device type.")
      .field(
          "threads", "an int", [](const SourceOptions& o) { return o.decoder.threads; },
          [](SourceOptions& o, Number<int> threads) { o.decoder.threads = threads.value; },
          "Decoder threads, 0 = one per core.")
      .field(
          "cache_bytes", "an int", [](const SourceOptions& o) { return static_cast<int64_t>(o.cache_bytes); },
          [](SourceOptions& o, Number<int64_t> bytes) {
            // size_t cannot hold the mistake, so it is refused while converting.
            if (bytes.value < 0)
              throw Error(ErrorKind::InvalidArgument, "cache_bytes must be >= 0, got " + std::to_string(bytes.value));
            o.cache_bytes = static_cast<size_t>(bytes.value);
          },
          "Bytes of recently decoded frames kept for instant backward steps (0 = none; indexed sources).")
      .field(
          "open_timeout", "seconds (float) or None",
          [](const SourceOptions& o) { return unless_unset(o.timeouts.open, -1.0); },
          [](SourceOptions& o, std::optional<Number<double>> seconds) {
            o.timeouts.open = seconds ? seconds->value : -1.0;
          },
          "Seconds a network source may take to open (None: the default, inf: never).")
      .field(
          "read_timeout", "seconds (float) or None",
          [](const SourceOptions& o) { return unless_unset(o.timeouts.read, -1.0); },
          [](SourceOptions& o, std::optional<Number<double>> seconds) {
            o.timeouts.read = seconds ? seconds->value : -1.0;
          },
          "Seconds a network read may stall (None: the default, inf: never).")
      .field(
          "input_format", "an FFmpeg input format name (str) or None",
          [](const SourceOptions& o) { return unless_empty(o.input_format); },
          [](SourceOptions& o, const std::optional<std::string>& name) { o.input_format = name.value_or(""); },
          "FFmpeg input format or device (v4l2, lavfi, rawvideo...); None: probed from the source.")
      .field(
          "input_options", "a list of (name, value) string pairs",
          [](const SourceOptions& o) { return o.input_options; },
          [](SourceOptions& o, const std::vector<std::pair<std::string, std::string>>& pairs) {
            o.input_options = pairs;
          },
          "Options for the protocol and demuxer (avformat_open_input's dictionary), in order.")
      .member("autorotate", "a bool", &SourceOptions::autorotate,
          "Turn frames upright as the stream's rotation metadata asks (like ffmpeg); False: as stored.")
      .field(
          "device", "'cpu', 'auto', 'cuda' or 'cuda:N' (str)", [](const SourceOptions& o) { return o.decoder.device; },
          [](SourceOptions& o, const std::string& device) { o.decoder.device = device; },
          "Where decoded frames live: 'cpu', 'cuda[:N]' (NVDEC frames stay in that GPU's memory), or 'auto' "
          "(cuda:0 when NVDEC opens there, else the CPU; info.hwaccel_note says why).")
      .member("low_latency", "a bool", &SourceOptions::low_latency,
              "FFmpeg's low-delay flags: fflags=nobuffer, max_delay=0 "
              "(unless input_options set them), decoder flag low_delay and slice threads only.")
      .field(
          "reconnect", "'auto', 'always', 'never' or a bool",
          [](const SourceOptions& o) { return std::string(reconnect_mode_name(o.reconnect.mode)); },
          [](SourceOptions& o, const std::variant<bool, std::string>& mode) {
            if (const bool* on = std::get_if<bool>(&mode))
              o.reconnect.mode = *on ? ReconnectMode::Always : ReconnectMode::Never;
            else
              o.reconnect.mode = parse_reconnect_mode(std::get<std::string>(mode));
          },
          "When a source is lost, reopen it: 'auto' (live sources: network URLs and devices; files never), "
          "'always' (True), 'never' (False).")
      .field(
          "reconnect_delay", "seconds (float)", [](const SourceOptions& o) { return o.reconnect.initial_delay; },
          [](SourceOptions& o, Number<double> seconds) { o.reconnect.initial_delay = seconds.value; },
          "Seconds before the first reconnect attempt; each further wait doubles (with 10% jitter).")
      .field(
          "reconnect_delay_max", "seconds (float)", [](const SourceOptions& o) { return o.reconnect.max_delay; },
          [](SourceOptions& o, Number<double> seconds) { o.reconnect.max_delay = seconds.value; },
          "The longest wait between reconnect attempts.")
      .field(
          "reconnect_attempts", "an int or None",
          [](const SourceOptions& o) { return unless_unset<int64_t>(o.reconnect.attempts, -1); },
          [](SourceOptions& o, std::optional<Number<int64_t>> attempts) {
            o.reconnect.attempts = attempts ? attempts->value : -1;
          },
          "Reconnect attempts per outage before the error is raised (None: forever).")
      .field(
          "cache_device_bytes", "an int",
          [](const SourceOptions& o) { return static_cast<int64_t>(o.cache_device_bytes); },
          [](SourceOptions& o, Number<int64_t> bytes) {
            if (bytes.value < 0)
              throw Error(ErrorKind::InvalidArgument,
                          "cache_device_bytes must be >= 0, got " + std::to_string(bytes.value));
            o.cache_device_bytes = static_cast<size_t>(bytes.value);
          },
          "Bytes of GPU memory the back-step cache may hold in device frames (device='cuda'), apart from "
          "cache_bytes (0 = device frames are not cached).")
      .finish();
}

void register_encoder_options(py::module_& m) {
  OptionsClass<EncoderOptions>(m, "EncoderOptions", "How a Player encodes its output.")
      .field(
          "encoder", "'auto' or an FFmpeg encoder name (str)", [](const EncoderOptions& o) { return o.encoder; },
          [](EncoderOptions& o, const std::string& encoder) { o.encoder = encoder; },
          "'auto' (the best available for `codec`) or an FFmpeg encoder name.")
      .field(
          "codec", "a codec name (str)", [](const EncoderOptions& o) { return o.codec; },
          [](EncoderOptions& o, const std::string& codec) { o.codec = codec; },
          "What 'auto' looks for: h264, hevc, av1, mpeg4, vp9, vp8 (a container that cannot carry it, such as .webm, gets the first of h264, hevc, vp9, av1, vp8, mpeg4 it can).")
      .field(
          "bitrate", "an int (bits/s) or None",
          [](const EncoderOptions& o) { return unless_unset<int64_t>(o.bit_rate, 0); },
          [](EncoderOptions& o, std::optional<Number<int64_t>> bits) { o.bit_rate = bits ? bits->value : 0; },
          "Bits per second (None: the encoder's default).")
      .field(
          "crf", "an int or None", [](const EncoderOptions& o) { return unless_unset(o.crf, -1); },
          [](EncoderOptions& o, std::optional<Number<int>> crf) { o.crf = crf ? crf->value : -1; },
          "Constant rate factor (None: the encoder's default).")
      .field(
          "preset", "a preset name (str) or None", [](const EncoderOptions& o) { return unless_empty(o.preset); },
          [](EncoderOptions& o, const std::optional<std::string>& preset) { o.preset = preset.value_or(""); },
          "Encoder preset (None: the encoder's default).")
      .field(
          "gop", "an int or None", [](const EncoderOptions& o) { return unless_unset(o.gop, -1); },
          [](EncoderOptions& o, std::optional<Number<int>> gop) { o.gop = gop ? gop->value : -1; },
          "Frames between keyframes (None: the encoder's default).")
      .field(
          "output_format", "an FFmpeg muxer name (str) or None",
          [](const EncoderOptions& o) { return unless_empty(o.output_format); },
          [](EncoderOptions& o, const std::optional<std::string>& name) { o.output_format = name.value_or(""); },
          "Container of every output (flv, mpegts, rtsp, hls, segment...); None: from each name.")
      .field(
          "output_options", "a list of (name, value) string pairs",
          [](const EncoderOptions& o) { return o.output_options; },
          [](EncoderOptions& o, const std::vector<std::pair<std::string, std::string>>& pairs) {
            o.output_options = pairs;
          },
          "Protocol and muxer options of every output (avio_open2/avformat_write_header), in order.")
      .field(
          "segment_time", "seconds (float) or None",
          [](const EncoderOptions& o) { return unless_unset(o.segment_time, -1.0); },
          [](EncoderOptions& o, std::optional<Number<double>> seconds) {
            o.segment_time = seconds ? seconds->value : -1.0;
          },
          "Segmented recording: a new file every this many seconds (HLS: the segment length).")
      .field(
          "rotation", "degrees (float) or None", [](const EncoderOptions& o) { return o.rotation; },
          [](EncoderOptions& o, std::optional<Number<double>> degrees) {
            o.rotation = degrees ? std::optional<double>(degrees->value) : std::nullopt;
          },
          "Display rotation written into the outputs (None: the source's, unless frames are upright).")
      .field(
          "reconnect_delay_max", "seconds (float) or None",
          [](const EncoderOptions& o) { return unless_unset(o.reconnect_delay_max, -1.0); },
          [](EncoderOptions& o, std::optional<Number<double>> seconds) {
            o.reconnect_delay_max = seconds ? seconds->value : -1.0;
          },
          "Network outputs: longest wait between reconnect attempts (None: 10 s).")
      .field(
          "extra_outputs", "a list of paths or URLs (str)", [](const EncoderOptions& o) { return o.extra_outputs; },
          [](EncoderOptions& o, const std::vector<std::string>& urls) { o.extra_outputs = urls; },
          "More outputs written from the same encoding (several outputs at once).")
      .field(
          "device", "'cpu', 'cuda' or 'cuda:N' (str)", [](const EncoderOptions& o) { return o.device; },
          [](EncoderOptions& o, const std::string& device) { o.device = device; },
          "Where the frames to encode live: 'cpu', or 'cuda[:N]' (BGR0 pictures in that GPU's memory: "
          "NVENC takes them without a host copy, other encoders get one download per frame).")
      .finish();
}

void register_display_options(py::module_& m) {
  OptionsClass<DisplayOptions>(m, "DisplayOptions", "The Player's window.")
      .field(
          "title", "a str or None", [](const DisplayOptions& o) { return unless_empty(o.title); },
          [](DisplayOptions& o, const std::optional<std::string>& title) { o.title = title.value_or(""); },
          "Window title (None: 'vistream - ' and the source's name).")
      .member("fullscreen", "a bool", &DisplayOptions::fullscreen, "Start in full screen.")
      .member("osd", "a bool", &DisplayOptions::osd, "Progress bar and status line, shown on mouse move.")
      .finish();
}

void register_player_options(py::module_& m) {
  OptionsClass<PlayerOptions>(m, "PlayerOptions",
                              "Everything a Player is asked to do. Checked by the Player's constructor "
                              "(ValueError naming the option).")
      .member("source", "a SourceOptions", &PlayerOptions::source, "Decoding (edited in place).")
      .member("encoder", "an EncoderOptions", &PlayerOptions::encoder, "Encoding of `output` (edited in place).")
      .member("display_options", "a DisplayOptions", &PlayerOptions::display_options,
              "The window, when `display` (edited in place).")
      .field(
          "output", "a path or URL (str) or None", [](const PlayerOptions& o) { return unless_empty(o.output); },
          [](PlayerOptions& o, const std::optional<std::string>& output) { o.output = output.value_or(""); },
          "File or URL written (None: none).")
      .field(
          "afilter", "an FFmpeg filter graph (str) or None",
          [](const PlayerOptions& o) { return unless_empty(o.afilter); },
          [](PlayerOptions& o, const std::optional<std::string>& graph) { o.afilter = graph.value_or(""); },
          "FFmpeg audio filter graph, for the output and the sound played (None: none).")
      .member("audio", "a bool", &PlayerOptions::audio, "Copy (or transcode) the source audio into `output`.")
      .field(
          "start", "seconds (float)", [](const PlayerOptions& o) { return o.start; },
          [](PlayerOptions& o, Number<double> seconds) { o.start = seconds.value; },
          "Where to start, seconds (>= 0); the output's timestamps start at 0 there.")
      .field(
          "end", "seconds (float) or None", [](const PlayerOptions& o) { return unless_unset(o.end, -1.0); },
          [](PlayerOptions& o, std::optional<Number<double>> seconds) { o.end = seconds ? seconds->value : -1.0; },
          "Where to stop, seconds (> start; None: the end).")
      .field(
          "mode", "'offline' or 'realtime'", [](const PlayerOptions& o) { return std::string(player_mode_name(o.mode)); },
          [](PlayerOptions& o, const std::string& mode) { o.mode = parse_player_mode(mode); },
          "'offline' (every frame, as fast as possible) or 'realtime' (at the media's pace, dropping).")
      .field(
          "speed", "a number", [](const PlayerOptions& o) { return o.speed; },
          [](PlayerOptions& o, Number<double> speed) { o.speed = speed.value; },
          "Playback speed of the real-time clock, within SPEED_RANGE.")
      .member("paused", "a bool", &PlayerOptions::start_paused, "Start paused.")
      .member("exit_at_end", "a bool", &PlayerOptions::exit_at_end,
              "End run() when the source ends while playing (False: until stop()).")
      .member("loop", "a bool", &PlayerOptions::loop, "Start over at the end, until stop().")
      .member("play_audio", "a bool or None", &PlayerOptions::play_audio,
              "Play the sound (None: when `audio` and the playback is paced; see plays_audio).")
      .member("display", "a bool", &PlayerOptions::display, "Open a window.")
      .finish()
      .def_property_readonly("plays_audio", &plays_audio,
                             "Whether a Player with these options plays the sound: the one place this is decided.");
}

}  // namespace

void register_options(py::module_& m) {
  register_source_options(m);
  register_encoder_options(m);
  register_display_options(m);
  register_player_options(m);
}

}  // namespace vistream::bindings
