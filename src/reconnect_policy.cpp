#include "vistream/reconnect_policy.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include "vistream/error.hpp"
#include "vistream/option_text.hpp"

namespace vistream {
namespace {

using option_text::lower;
using option_text::number;
using option_text::refuse;

// Input formats that capture from a device (libavdevice). Not lavfi: a generated source that
// ends (duration=) ends on purpose.
constexpr const char* kDeviceFormats[] = {"v4l2", "video4linux2", "x11grab", "kmsgrab", "fbdev", "alsa",
                                          "pulse", "jack", "oss", "dshow", "avfoundation", "gdigrab",
                                          "decklink", "libcdio", "openal", "xcbgrab"};

}  // namespace

ReconnectMode parse_reconnect_mode(const std::string& name) {
  if (name == "auto") return ReconnectMode::Auto;
  if (name == "always") return ReconnectMode::Always;
  if (name == "never") return ReconnectMode::Never;
  refuse("reconnect must be 'auto', 'always' or 'never' (or True/False), got '" + name + "'");
}

const char* reconnect_mode_name(ReconnectMode mode) {
  switch (mode) {
    case ReconnectMode::Always: return "always";
    case ReconnectMode::Never: return "never";
    default: return "auto";
  }
}

void validate(const ReconnectOptions& options) {
  if (!(options.initial_delay >= 0 && std::isfinite(options.initial_delay)))
    refuse("reconnect_delay must be >= 0 seconds, got " + number(options.initial_delay));
  if (!(options.max_delay >= options.initial_delay && std::isfinite(options.max_delay)))
    refuse("reconnect_delay_max must be >= reconnect_delay (" + number(options.initial_delay) + " s), got " +
           number(options.max_delay));
  if (options.attempts < -1) refuse("reconnect_attempts must be >= 0 (or None: forever), got " +
                                    std::to_string(options.attempts));
  if (!(options.backoff >= 1.0 && std::isfinite(options.backoff)))
    refuse("reconnect_backoff must be >= 1, got " + number(options.backoff));
  if (!(options.jitter >= 0.0 && options.jitter < 1.0))
    refuse("reconnect_jitter must be in [0, 1), got " + number(options.jitter));
}

bool is_live_source(const std::string& url, const std::string& input_format) {
  const std::string format = lower(input_format);
  if (std::any_of(std::begin(kDeviceFormats), std::end(kDeviceFormats),
                  [&](const char* name) { return format == name; }))
    return true;
  if (url.rfind("/dev/", 0) == 0) return true;  // a capture device node
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || scheme_end == 0) return false;  // a path, "-", "pipe:0"
  return lower(url.substr(0, scheme_end)) != "file";
}

bool reconnects(const ReconnectOptions& options, const std::string& url, const std::string& input_format) {
  if (url == "-" || url.rfind("pipe:", 0) == 0) return false;  // what was read from a pipe is gone
  switch (options.mode) {
    case ReconnectMode::Never: return false;
    case ReconnectMode::Always: return true;
    default: return is_live_source(url, input_format);
  }
}

ReconnectBackoff::ReconnectBackoff(const ReconnectOptions& options, uint64_t seed)
    : options_(options), state_(seed ? seed : 0x9E3779B97F4A7C15ull) {}

bool ReconnectBackoff::may_retry() const { return options_.attempts < 0 || attempt_ < options_.attempts; }

double ReconnectBackoff::next_delay() {
  ++attempt_;
  return delay_for(options_, attempt_, uniform());
}

double ReconnectBackoff::delay_for(const ReconnectOptions& options, int64_t attempt, double unit) {
  // Exponent capped: past ~60 doublings every delay is the cap anyway (and pow stays finite).
  const double exponent = static_cast<double>(std::min<int64_t>(std::max<int64_t>(attempt - 1, 0), 60));
  const double base = std::min(options.max_delay, options.initial_delay * std::pow(options.backoff, exponent));
  const double varied = base * (1.0 + options.jitter * std::clamp(unit, -1.0, 1.0));
  return std::max(0.0, varied);
}

double ReconnectBackoff::uniform() {
  // xorshift64*: good enough to spread retries, no shared state, no <random> engine per source.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  const uint64_t bits = (state_ * 0x2545F4914F6CDD1Dull) >> 11;  // 53 bits
  return static_cast<double>(bits) / static_cast<double>(1ull << 52) - 1.0;
}

}  // namespace vistream
