// Reconnecting a live source: the policy a user sets (SourceOptions::reconnect) and the pure
// backoff arithmetic. No I/O and no clock here: VideoSource (video_source.cpp, the reconnect
// functions) waits and reopens; this decides whether and how long.
//
// Camera/VMS practice: a network camera or stream that drops is retried forever, quickly at
// first, then at a capped interval, with a little jitter so many clients behind one failed
// server do not all return in the same millisecond. A file is never retried: its end, or a
// truncated end, is the answer.
#pragma once

#include <cstdint>
#include <string>

namespace vistream {

enum class ReconnectMode {
  Auto,    // live sources (network protocols, capture devices) reconnect; files, pipes never
  Always,  // any source that can be opened again (a network URL, a device, a file)
  Never,
};

struct ReconnectOptions {
  ReconnectMode mode = ReconnectMode::Auto;
  double initial_delay = 0.5;  // seconds before the first attempt (0: at once)
  double max_delay = 10.0;     // the cap of the exponential backoff (>= initial_delay)
  int64_t attempts = -1;       // attempts after a loss before giving up; -1: forever
  double backoff = 2.0;        // each delay is the previous one times this (>= 1)
  double jitter = 0.1;         // each delay varies by up to this fraction either way, [0, 1)
};

// "auto", "always", "never" (Error(InvalidArgument) otherwise), and back.
ReconnectMode parse_reconnect_mode(const std::string& name);
const char* reconnect_mode_name(ReconnectMode mode);

// Error(InvalidArgument) naming the option ("reconnect_delay must be >= 0 seconds, ...").
void validate(const ReconnectOptions& options);

// Whether a source opened as `url` with `input_format` ("" = probed) is live: a network URL
// (scheme://, except file:) or a capture device (/dev/video*, or a device input format such as
// v4l2, x11grab, alsa). Files, pipes and lavfi graphs ("-", pipe:) are not.
bool is_live_source(const std::string& url, const std::string& input_format);
// Whether this source reconnects under `options.mode`. Pipes never do (they cannot be reopened).
bool reconnects(const ReconnectOptions& options, const std::string& url, const std::string& input_format);

// The backoff of one outage: attempt 1 waits initial_delay, attempt k waits
// initial_delay * backoff^(k-1), capped at max_delay, each times (1 + jitter * u) with u in
// [-1, 1] drawn per attempt. reset() when the source delivers again.
class ReconnectBackoff {
 public:
  // `seed` makes the jitter reproducible (tests); the engine seeds from the clock.
  ReconnectBackoff(const ReconnectOptions& options, uint64_t seed);

  // Whether another attempt is allowed (attempts: -1 = always).
  bool may_retry() const;
  // Seconds to wait before the next attempt; counts that attempt.
  double next_delay();
  // Attempts made in this outage (1 during the first).
  int64_t attempt() const { return attempt_; }
  void reset() { attempt_ = 0; }

  // The delay of attempt `attempt` (>= 1) for a jitter draw `unit` in [-1, 1]: the formula
  // above, exposed so its bounds can be checked without randomness.
  static double delay_for(const ReconnectOptions& options, int64_t attempt, double unit);

 private:
  double uniform();  // in [-1, 1]

  ReconnectOptions options_;
  uint64_t state_;
  int64_t attempt_ = 0;
};

}  // namespace vistream
