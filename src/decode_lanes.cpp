#include "vistream/decode_lanes.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <thread>

#include "vistream/error.hpp"

namespace vistream {
namespace {

size_t default_lane_limit() {
  if (const char* text = std::getenv("VISTREAM_DECODE_LANES")) {
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (end != text && *end == '\0' && value >= 0) return static_cast<size_t>(std::min<long>(value, 64));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

DecodeLanes::DecodeLanes(std::string url, SourceOptions options, std::shared_ptr<CancelToken> cancel, int lane_limit)
    : url_(std::move(url)),
      lane_options_(std::move(options)),
      cancel_(std::move(cancel)),
      lane_limit_(lane_limit > 0 ? static_cast<size_t>(lane_limit) : default_lane_limit()),
      owner_threads_auto_(lane_options_.decoder.threads == 0) {
  // A lane is one core's worth of work: one decoder thread and one filter thread, decoding on
  // the calling thread (a decode-ahead thread would only add a hand-off per frame).
  lane_options_.decoder.threads = 1;
  // Lanes serve only sources that decode in software (usable_for), so they never probe a device.
  lane_options_.decoder.hwaccel = "none";
  lane_options_.decoder.device = "cpu";
  lane_options_.prefetch = false;
  lane_options_.cache_bytes = 0;
  lane_options_.cache_device_bytes = 0;
  lane_options_.realtime = false;
}

DecodeLanes::~DecodeLanes() = default;

size_t DecodeLanes::usable_for(VideoSource& source) const {
  if (lane_limit_ < 2 || !owner_threads_auto_) return 0;
  const MediaInfo& info = source.info();
  // Hardware decoders are one device's engine shared by every lane: no parallelism to gain, and
  // device frames have their own memory budget.
  if (info.hwaccel != "none") return 0;
  // Indexed = a local, seekable file (VideoSource indexes exactly those at open).
  if (!source.indexed() || !info.seekable) return 0;
  // The filtered timeline is probed per source and seeks restart the filter from earlier frames:
  // batches of such a source stay on it.
  if (source.timeline_filtered() || source.timeline_unknown()) return 0;
  return lane_limit_;
}

void DecodeLanes::decode(const std::shared_ptr<const FrameIndex>& index, size_t lane_count, size_t run_count,
                         const std::function<void(VideoSource& lane, size_t run)>& decode_run) {
  lane_count = std::min({lane_count, lane_limit_, run_count});
  if (lane_count == 0) return;
  if (lanes_.size() < lane_count) lanes_.resize(lane_count);
  next_run_.store(0);
  stop_.store(false);
  failed_run_.store(INT64_MAX);
  failure_ = nullptr;

  std::mutex done_mutex;
  std::condition_variable done_cv;
  size_t lanes_done = 0;  // protected by done_mutex

  auto record_failure = [this](int64_t run) {
    std::lock_guard lock(failure_mutex_);
    if (run < failed_run_.load()) {
      failed_run_.store(run, std::memory_order_release);
      failure_ = std::current_exception();
    }
  };
  auto lane_main = [&](size_t lane_number) {
    std::unique_ptr<VideoSource>& lane = lanes_[lane_number];
    bool opened = lane != nullptr;
    if (!opened) {
      try {
        lane = std::make_unique<VideoSource>(url_, lane_options_, cancel_, index);
        opened = true;
      } catch (...) {
        record_failure(-1);
      }
    }
    while (opened && !stop_.load(std::memory_order_acquire) && !cancel_->cancelled()) {
      const size_t run = next_run_.fetch_add(1);
      if (run >= run_count || lane_must_stop(run)) break;
      try {
        decode_run(*lane, run);
        if (!lane_must_stop(run)) runs_decoded_.fetch_add(1);
      } catch (...) {
        record_failure(static_cast<int64_t>(run));
        break;  // every later run is past this one
      }
    }
    std::lock_guard lock(done_mutex);
    ++lanes_done;
    done_cv.notify_all();
  };

  std::vector<std::thread> threads;
  threads.reserve(lane_count);
  struct JoinAll {
    std::vector<std::thread>& threads;
    std::atomic<bool>& stop;
    ~JoinAll() {
      // Reached with lanes still running only when the caller is leaving early (interrupt, a
      // failed thread start): they stop at their next target.
      stop.store(true, std::memory_order_release);
      for (std::thread& thread : threads)
        if (thread.joinable()) thread.join();
    }
  } join_all{threads, stop_};
  for (size_t lane_number = 0; lane_number < lane_count; ++lane_number)
    threads.emplace_back(lane_main, lane_number);
  {
    // Waited through the token: close() (cancel) wakes this wait, and on the thread that
    // installed an interrupt check (the Python main thread) Ctrl-C ends it with
    // Error(Interrupted), after which join_all stops and joins the lanes.
    std::unique_lock lock(done_mutex);
    cancel_->wait(lock, done_cv, [&] { return lanes_done == lane_count; });
  }
  for (std::thread& thread : threads) thread.join();
  std::exception_ptr failure;
  {
    std::lock_guard lock(failure_mutex_);
    failure = std::exchange(failure_, nullptr);
  }
  if (failure) std::rethrow_exception(failure);
  if (cancel_->cancelled()) throw Error(ErrorKind::Cancelled, "decoding on lanes was cancelled");
}

DecodeLanes::Stats DecodeLanes::stats() const {
  Stats result;
  for (const std::unique_ptr<VideoSource>& lane : lanes_) {
    if (!lane) continue;
    ++result.lanes;
    result.work = with_lane_work(result.work, lane->stats());
  }
  result.runs = runs_decoded_.load();
  return result;
}

SourceStats with_lane_work(SourceStats own, const SourceStats& lanes) {
  own.packets_read += lanes.packets_read;
  own.frames_decoded += lanes.frames_decoded;
  own.frames_converted += lanes.frames_converted;
  own.frames_output += lanes.frames_output;
  own.decode_errors += lanes.decode_errors;
  own.read_errors += lanes.read_errors;
  own.seeks += lanes.seeks;
  return own;
}

}  // namespace vistream
