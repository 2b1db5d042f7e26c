#include "vistream/log.hpp"

#include <atomic>
#include <cstdarg>
#include <deque>
#include <mutex>

#include "vistream/ffmpeg.hpp"

namespace vistream::log {
namespace {

// Enough for a burst of per-packet warnings from a damaged file; older messages are dropped.
constexpr size_t kMaxQueued = 1000;

std::mutex g_mutex;  // guards g_queue, g_dropped
std::deque<Message> g_queue;
size_t g_dropped = 0;
std::atomic<int> g_level{AV_LOG_WARNING};
std::atomic<bool> g_pending{false};

// FFmpeg emits a line in several calls; each thread assembles its own line.
thread_local std::string t_line;
thread_local int t_print_prefix = 1;
thread_local int t_demote = 0;
thread_local std::vector<std::string>* t_capture = nullptr;

// Drops FFmpeg's "[h264 @ 0x55...] " context prefix: addresses mean nothing in an exception.
std::string without_prefix(const std::string& line) {
  if (!line.empty() && line[0] == '[') {
    const size_t end = line.find("] ");
    if (end != std::string::npos) return line.substr(end + 2);
  }
  return line;
}

void enqueue(int level, std::string text) {
  std::lock_guard lock(g_mutex);
  if (g_queue.size() >= kMaxQueued) {
    g_queue.pop_front();
    ++g_dropped;
  }
  g_queue.push_back(Message{level, std::move(text)});
  g_pending.store(true, std::memory_order_release);
}

void callback(void* avcl, int level, const char* fmt, va_list args) {
  const bool capture = t_capture && level <= AV_LOG_ERROR;
  if (t_demote > 0 && level < AV_LOG_VERBOSE) level = AV_LOG_VERBOSE;
  if (!capture && level > g_level.load(std::memory_order_relaxed)) return;
  char buffer[1024];
  av_log_format_line2(avcl, level, fmt, args, buffer, sizeof(buffer), &t_print_prefix);
  t_line += buffer;
  if (t_line.empty() || t_line.back() != '\n') return;
  t_line.pop_back();
  if (capture) t_capture->push_back(without_prefix(t_line));
  if (level > g_level.load(std::memory_order_relaxed)) {
    t_line.clear();
    return;
  }
  enqueue(level, std::move(t_line));
  t_line.clear();
}

}  // namespace

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_DEBUG);  // filtering happens in callback() by g_level
    av_log_set_callback(callback);
  });
}

ScopedDemote::ScopedDemote() { ++t_demote; }
ScopedDemote::~ScopedDemote() { --t_demote; }

ScopedCapture::ScopedCapture() : previous_(t_capture) { t_capture = &lines_; }
ScopedCapture::~ScopedCapture() { t_capture = previous_; }

std::string ScopedCapture::annotate(const std::string& context) const {
  if (lines_.empty()) return context;
  std::string out = context + " [";
  for (size_t i = 0; i < lines_.size(); ++i) out += (i ? "; " : "") + lines_[i];
  return out + "]";
}

void set_level(int av_level) { g_level.store(av_level); }
int level() { return g_level.load(); }

void write(int av_level, std::string text) {
  if (av_level > g_level.load(std::memory_order_relaxed)) return;
  enqueue(av_level, std::move(text));
}
bool has_pending() { return g_pending.load(std::memory_order_acquire); }

std::vector<Message> drain(size_t* dropped) {
  std::lock_guard lock(g_mutex);
  std::vector<Message> out(std::make_move_iterator(g_queue.begin()),
                           std::make_move_iterator(g_queue.end()));
  g_queue.clear();
  if (dropped) *dropped = g_dropped;
  g_dropped = 0;
  g_pending.store(false, std::memory_order_release);
  return out;
}

}  // namespace vistream::log
