// End-to-end latency of a Player run: capture time of each frame (Frame::capture_time) to the
// moment the frame hook starts. Percentiles come from a log-spaced histogram (bins 2% wide),
// so memory stays fixed however long a live source runs; the maximum is exact. Negative
// latencies are kept as such (mirrored bins): a sender's wallclock may claim a capture later
// than its real one (FFmpeg's RTP muxer maps its first packet's send time, not the capture, to
// the stream's start), and hiding that would hide the sender's error.
//
// Samples are measured with the best clock the source offers (CaptureClock, best first). When
// a better clock becomes available mid-run (an RTSP stream's first RTCP sender report), the
// samples taken with the worse one are discarded, so every reported sample used one clock.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <mutex>

#include "vistream/frame.hpp"

namespace vistream {

class LatencyStats {
 public:
  struct Summary {
    int64_t samples = 0;
    double p50 = NAN;  // seconds
    double p95 = NAN;
    double max = NAN;
    CaptureClock clock = CaptureClock::None;
  };

  // run() thread; thread-safe. `seconds` may be negative (clocks of two machines, or a
  // sender's clock ahead of ours).
  void record(double seconds, CaptureClock clock) {
    if (clock == CaptureClock::None || !std::isfinite(seconds)) return;
    std::lock_guard lock(mutex_);
    if (samples_ > 0 && clock != clock_) {
      if (rank(clock) > rank(clock_)) return;  // a worse clock than the one in use
      bins_.fill(0);                           // a better one: start over with it
      negative_bins_.fill(0);
      samples_ = 0;
      max_ = -INFINITY;
    }
    clock_ = clock;
    if (seconds < 0)
      ++negative_bins_[bin_of(-seconds)];
    else
      ++bins_[bin_of(seconds)];
    ++samples_;
    max_ = std::max(max_, seconds);
  }

  // Any thread.
  Summary summary() const {
    std::lock_guard lock(mutex_);
    Summary out;
    out.samples = samples_;
    out.clock = samples_ > 0 ? clock_ : CaptureClock::None;
    if (samples_ == 0) return out;
    out.p50 = std::min(quantile_locked(0.50), max_);
    out.p95 = std::min(quantile_locked(0.95), max_);
    out.max = max_;
    return out;
  }

 private:
  static constexpr double kSmallest = 1e-5;  // seconds: the first bin holds everything below
  static constexpr double kGrowth = 1.02;    // each bin is 2% wider than the previous one
  static constexpr size_t kBins = 1100;      // up to ~ 1e-5 * 1.02^1100 > 1e4 s

  static int rank(CaptureClock clock) { return static_cast<int>(clock); }  // lower is better

  static size_t bin_of(double seconds) {
    if (seconds <= kSmallest) return 0;
    const double position = std::log(seconds / kSmallest) / std::log(kGrowth);
    return std::min(kBins - 1, static_cast<size_t>(position) + 1);
  }
  // The geometric middle of a bin (its upper edge for the first). Magnitudes.
  static double value_of(size_t bin) {
    if (bin == 0) return kSmallest;
    return kSmallest * std::pow(kGrowth, static_cast<double>(bin) - 0.5);
  }

  double quantile_locked(double q) const {
    const auto wanted = static_cast<int64_t>(std::ceil(q * static_cast<double>(samples_)));
    int64_t seen = 0;
    for (size_t bin = kBins; bin-- > 0;) {  // most negative first
      seen += negative_bins_[bin];
      if (seen >= std::max<int64_t>(wanted, 1)) return -value_of(bin);
    }
    for (size_t bin = 0; bin < kBins; ++bin) {
      seen += bins_[bin];
      if (seen >= std::max<int64_t>(wanted, 1)) return value_of(bin);
    }
    return max_;
  }

  mutable std::mutex mutex_;
  std::array<int64_t, kBins> bins_{};           // latencies >= 0
  std::array<int64_t, kBins> negative_bins_{};  // |latency| of latencies < 0
  int64_t samples_ = 0;
  double max_ = -INFINITY;
  CaptureClock clock_ = CaptureClock::None;
};

// "sender_wallclock", "wallclock_timestamps", "packet_arrival", or "" for None.
inline const char* capture_clock_name(CaptureClock clock) {
  switch (clock) {
    case CaptureClock::SenderWallclock:
      return "sender_wallclock";
    case CaptureClock::WallclockTimestamps:
      return "wallclock_timestamps";
    case CaptureClock::PacketArrival:
      return "packet_arrival";
    case CaptureClock::None:
      break;
  }
  return "";
}

}  // namespace vistream
