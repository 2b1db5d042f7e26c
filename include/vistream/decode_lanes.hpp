// Decode lanes: extra single-threaded decoders of one local, seekable file, so that a batch
// (FrameBatch) decodes its independent runs (a seek to a keyframe, then decoding forward to
// the run's last target) in parallel, one run per lane at a time.
//
// Why: a frame-threaded decoder is flushed at every seek, so on batches of many short runs
// (random or strided access on clips without B-frames, where every exact tool must decode the
// same frames) its threads idle while it refills. Independent runs on independent
// single-threaded decoders keep every core busy instead (measured: 1.3-1.55x on 2 cores, see
// docs/architecture.md "Random access").
//
// Each lane is a VideoSource of the same URL and options (vfilter, format, autorotate, input
// options) with one decoder thread, no decode-ahead thread and no back-step cache, that shares
// the owner's frame index (no rescan) and its CancelToken (cancelling it, e.g. Reader.close(),
// interrupts every lane). Lanes are opened lazily, the first time a batch uses them (in
// parallel, on the lanes' own threads), and kept for later batches; they close with this
// object.
//
// Threads: decode() is called by one thread at a time (the owner serializes, like VideoSource);
// it runs its work on up to lane_limit() threads it starts and joins before returning. stats()
// must not be called while decode() runs (the owner's lock orders them).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vistream/cancel_token.hpp"
#include "vistream/frame_index.hpp"
#include "vistream/video_source.hpp"

namespace vistream {

class DecodeLanes {
 public:
  struct Stats {
    SourceStats work;         // the lanes' counters summed (frames decoded, seeks, packets...)
    int64_t runs = 0;         // runs decoded on lanes, over all batches
    int64_t lanes = 0;        // lanes open now
  };

  // Lanes for a source opened as `url` with `options`; opens nothing yet. `lane_limit`: the
  // most lanes (0 = one per core: std::thread::hardware_concurrency(), or the environment
  // variable VISTREAM_DECODE_LANES when set; 0 or 1 there turns lanes off).
  DecodeLanes(std::string url, SourceOptions options, std::shared_ptr<CancelToken> cancel, int lane_limit = 0);
  ~DecodeLanes();
  DecodeLanes(const DecodeLanes&) = delete;
  DecodeLanes& operator=(const DecodeLanes&) = delete;

  // How many lanes batches of `source` (opened with this object's url and options) may use; 0
  // when lanes do not apply: a source that is not an indexed local file, hardware decoding
  // (hwaccel, device frames), a user-set `threads` (only the default 0 = auto hands the cores
  // to lanes), a vfilter that changes the timeline, or fewer than 2 cores.
  size_t usable_for(VideoSource& source) const;

  // Decodes `run_count` runs on `lane_count` lanes (1 < lane_count <= lane_limit()): each lane
  // takes the next run not yet taken (runs in increasing order keep every lane's seeks going
  // forward; a slow run does not hold up the others) and calls decode_run(lane, run) on its own
  // thread; decode_run should return early once lane_must_stop(run) is true (FrameBatch checks
  // it before each target). Failures come out as a sequential decode would raise them: when
  // run r fails, runs after r stop and are not started, runs before r finish (one may fail
  // too), and the failure of the lowest run is rethrown here once every lane stopped.
  // Cancelling the token (close()) stops every lane at once (it interrupts their reads); an
  // interrupt of the calling thread (its CancelToken's interrupt check: Ctrl-C) stops them at
  // their next target. Lanes are opened as needed with `index` as their frame index.
  void decode(const std::shared_ptr<const FrameIndex>& index, size_t lane_count, size_t run_count,
              const std::function<void(VideoSource& lane, size_t run)>& decode_run);
  // True when the lane decoding `run` should stop (thread-safe).
  bool lane_must_stop(size_t run) const {
    return stop_.load(std::memory_order_acquire) || cancel_->cancelled() ||
           static_cast<int64_t>(run) > failed_run_.load(std::memory_order_acquire);
  }

  size_t lane_limit() const { return lane_limit_; }
  Stats stats() const;

 private:
  std::string url_;
  SourceOptions lane_options_;            // immutable: the owner's options, one decoder thread
  std::shared_ptr<CancelToken> cancel_;   // immutable; shared with the owner
  size_t lane_limit_ = 0;                 // immutable
  bool owner_threads_auto_ = true;        // immutable: the owner's decoder threads option is 0
  // Lane i is opened and driven by decode()'s i-th thread only; between decode() calls no
  // thread touches them.
  std::vector<std::unique_ptr<VideoSource>> lanes_;
  std::atomic<int64_t> runs_decoded_{0};
  // Per decode() call: the next run to take, the stop flag (interrupt), the lowest run that
  // failed (-1: opening a lane failed; INT64_MAX: none) and its failure.
  std::atomic<size_t> next_run_{0};
  std::atomic<bool> stop_{false};
  std::mutex failure_mutex_;
  std::atomic<int64_t> failed_run_{INT64_MAX};  // written under failure_mutex_
  std::exception_ptr failure_;                  // protected by failure_mutex_
};

// The owner's counters with its lanes' work added: what the user calls "frames decoded" or
// "seeks" is everything done for them, on whichever decoder.
SourceStats with_lane_work(SourceStats own, const SourceStats& lanes);

}  // namespace vistream
