#include "vistream/player_options.hpp"

#include "vistream/cuda_device.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>
#include <utility>

#include "vistream/error.hpp"
#include "vistream/option_text.hpp"

namespace vistream {
namespace {

using option_text::lower;
using option_text::number;
using option_text::refuse;

// The pixel formats a frame can be handed over in, and the loose spellings users type.
constexpr const char* kOutputFormats[] = {"bgr24", "rgb24", "gray", "rgba", "bgra", "yuv420p", "nv12"};
constexpr std::pair<const char*, const char*> kFormatAliases[] = {
    {"bgr", "bgr24"}, {"rgb", "rgb24"}, {"grey", "gray"}, {"gray8", "gray"}};

std::string trimmed(const std::string& text) {
  const char* blanks = " \t\r\n";
  const size_t first = text.find_first_not_of(blanks);
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

// -1 exactly is "unset" (the component's default); anything else must be > 0 (inf: never).
void check_timeout(double seconds, const char* option) {
  if (seconds == -1.0 || seconds > 0) return;  // NaN fails both
  refuse(std::string(option) + " must be > 0 seconds (inf: never), got " + number(seconds));
}

void check_optional_count(int64_t value, const char* option) {
  if (value == -1 || value >= 0) return;
  refuse(std::string(option) + " must be >= 0 (or unset), got " + std::to_string(value));
}

void canonicalize(SourceOptions& options) {
  std::string format = lower(options.output_format);
  for (const auto& [alias, name] : kFormatAliases)
    if (format == alias) format = name;
  options.output_format = format;
  options.vfilter = trimmed(options.vfilter);
  options.decoder.hwaccel = options.decoder.hwaccel.empty() ? "none" : lower(options.decoder.hwaccel);
  options.decoder.device = options.decoder.device.empty() ? "cpu" : lower(trimmed(options.decoder.device));
}

}  // namespace

PlayerMode parse_player_mode(const std::string& name) {
  if (name == "offline") return PlayerMode::Offline;
  if (name == "realtime") return PlayerMode::Realtime;
  refuse("mode '" + name + "' is not available; supported: offline, realtime");
}

const char* player_mode_name(PlayerMode mode) { return mode == PlayerMode::Realtime ? "realtime" : "offline"; }

void validate_speed(double speed) {
  if (!(speed >= kMinSpeed && speed <= kMaxSpeed))
    refuse("speed must be between " + number(kMinSpeed) + " and " + number(kMaxSpeed) + ", got " + number(speed));
}

void validate(const SourceOptions& options) {
  const bool known = std::any_of(std::begin(kOutputFormats), std::end(kOutputFormats),
                                 [&](const char* name) { return options.output_format == name; });
  if (!known) {
    std::string names;
    for (const char* name : kOutputFormats) names += (names.empty() ? "" : ", ") + std::string(name);
    refuse("format '" + options.output_format + "' is not supported; choose one of " + names);
  }
  if (options.decoder.threads < 0) refuse("threads must be >= 0, got " + std::to_string(options.decoder.threads));
  if (options.decoder.hwaccel.empty()) refuse("hwaccel must be 'none', 'auto' or a device type such as 'cuda'");
  check_timeout(options.timeouts.open, "open_timeout");
  check_timeout(options.timeouts.read, "read_timeout");
  if (options.decoder.device != "cpu" && options.decoder.device != "auto" && parse_cuda_ordinal(options.decoder.device) < 0)
    refuse("device must be 'cpu', 'cuda' or 'cuda:N' (or 'auto'), got '" + options.decoder.device + "'");
  validate(options.reconnect);
}

void validate(const EncoderOptions& options) {
  if (options.encoder.empty()) refuse("encoder must be 'auto' or an FFmpeg encoder name, got ''");
  if (options.codec.empty()) refuse("codec must be one of h264, hevc, av1, mpeg4, vp9, vp8, got ''");
  if (options.bit_rate < 0) refuse("bitrate must be >= 0 bits/s (0: the encoder's default), got " +
                                   std::to_string(options.bit_rate));
  check_optional_count(options.crf, "crf");
  check_optional_count(options.gop, "gop");
  if (options.segment_time != -1.0 && !(options.segment_time > 0 && std::isfinite(options.segment_time)))
    refuse("segment_time must be a number of seconds > 0, got " + number(options.segment_time));
  if (options.rotation && !std::isfinite(*options.rotation))
    refuse("rotation must be a finite number of degrees, got " + number(*options.rotation));
  if (options.reconnect_delay_max != -1.0 && !(options.reconnect_delay_max > 0))
    refuse("reconnect_delay_max must be > 0 seconds, got " + number(options.reconnect_delay_max));
}

void validate(const PlayerOptions& options) {
  validate(options.source);
  validate(options.encoder);
  if (!(options.start >= 0 && std::isfinite(options.start)))
    refuse("start must be a number of seconds >= 0, got " + number(options.start));
  if (options.end != -1.0 && !(options.end > options.start))
    refuse("end must be a number of seconds > start (" + number(options.start) + "), got " + number(options.end));
  validate_speed(options.speed);
}

SourceOptions checked(SourceOptions options) {
  canonicalize(options);
  validate(options);
  return options;
}

PlayerOptions checked(PlayerOptions options, const std::string& url) {
  canonicalize(options.source);
  options.afilter = trimmed(options.afilter);
  options.encoder.codec = lower(options.encoder.codec);
  if (options.display_options.title.empty()) {
    const size_t slash = url.find_last_of('/');
    const std::string name = slash == std::string::npos ? url : url.substr(slash + 1);
    options.display_options.title = "vistream - " + (name.empty() ? url : name);
  }
  validate(options);
  return options;
}

bool plays_audio(const PlayerOptions& options) {
  const bool paced = options.mode == PlayerMode::Realtime || options.display;
  return paced && options.play_audio.value_or(options.audio);
}

}  // namespace vistream
