// Routes FFmpeg's av_log output to the host (Python logging) without ever calling into the
// host from an FFmpeg thread. av_log may be called from decoder worker threads while the
// Python thread holds the GIL and waits for those very threads (e.g. in avcodec_free_context),
// so taking the GIL inside the callback could deadlock. Instead messages go into a bounded
// in-memory queue that the bindings drain on the Python thread after each native call.
#pragma once

#include <string>
#include <vector>

namespace vistream::log {

struct Message {
  int av_level;  // AV_LOG_* value
  std::string text;
};

// Installs the av_log callback (idempotent).
void install();
// Messages above this av_log level (less severe) are discarded at the source.
void set_level(int av_level);
int level();
// Logs one complete line from outside FFmpeg (SDL, ALSA, libwayland) the same way: dropped
// when above the level, else queued for the host. Safe from any thread.
void write(int av_level, std::string text);
// Cheap check (one atomic load) used on every frame before draining.
bool has_pending();
// Takes all queued messages; also reports how many were dropped because the queue was full.
std::vector<Message> drain(size_t* dropped = nullptr);

// While alive, messages this thread logs are demoted to AV_LOG_VERBOSE: used when probing
// optional things (hardware encoders/devices for "auto"), whose failures are expected.
class ScopedDemote {
 public:
  ScopedDemote();
  ~ScopedDemote();
  ScopedDemote(const ScopedDemote&) = delete;
  ScopedDemote& operator=(const ScopedDemote&) = delete;
};

// While alive, error-level messages logged by this thread are also collected, so an exception
// can carry FFmpeg's own explanation ("No such filter: 'x'", "moov atom not found") instead
// of only the bare error code.
class ScopedCapture {
 public:
  ScopedCapture();
  ~ScopedCapture();
  ScopedCapture(const ScopedCapture&) = delete;
  ScopedCapture& operator=(const ScopedCapture&) = delete;
  // `context` followed by the captured lines, e.g. "cannot open 'x.mp4' [moov atom not found]".
  std::string annotate(const std::string& context) const;

 private:
  std::vector<std::string> lines_;
  std::vector<std::string>* previous_;
};

}  // namespace vistream::log
