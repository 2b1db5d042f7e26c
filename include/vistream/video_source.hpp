// Demux -> decode -> filter for the video stream of one source, with frame-exact seeking.
// Used directly by Reader (pull model) and by Player's decode thread. Not thread-safe:
// one thread drives it (the consumer); other threads may only cancel its CancelToken, which
// ends any blocking read, seek or wait of this source promptly (Error(Cancelled)), read info()
// (immutable after open), and call index_at_time()/time_of_index() once indexed() was true at open.
//
// With prefetch on, demux+decode run ahead on an internal thread (the decode thread) that
// fills decoded_queue_; the consumer runs the filter graph (pixel conversion) on frames it
// pops. Conversion thus overlaps decoding instead of stalling the decoder's frame threads.
// The decode thread owns demuxer_/decoder_ while running; stopping it (seek, halt) joins it
// first, so every other access to them happens with no decode thread alive. Frames it had
// decoded ahead are kept (pending_frames_): they are still the next ones in order.
//
// Random access (seek_to_index) does the least work that yields the target exactly:
//  - it reaches a target ahead of the decoder by decoding forward, without seeking, whenever
//    the keyframe a seek would start from has already been fed to the decoder;
//  - otherwise it seeks to the latest keyframe whose decoding yields the target (one GOP
//    further back only for an open GOP's leading B-frames), and skips the packets the demuxer
//    may deliver before that keyframe without decoding them;
//  - toward the target, non-reference frames shown before it are not decoded at all, and
//    decoded frames before it are dropped before the filter graph (never converted).
#pragma once

#include <array>
#include <atomic>
#include <cmath>
#include <deque>
#include <exception>
#include <functional>
#include <thread>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vistream/blocking_queue.hpp"
#include "vistream/decoded_frame_cache.hpp"
#include "vistream/demuxer.hpp"
#include "vistream/frame.hpp"
#include "vistream/frame_index.hpp"
#include "vistream/media_info.hpp"
#include "vistream/reconnect_policy.hpp"
#include "vistream/video_decoder.hpp"
#include "vistream/video_filter.hpp"

namespace vistream {

struct SourceOptions {
  std::string output_format = "bgr24";
  std::string vfilter;
  DecoderOptions decoder;
  bool prefetch = true;  // decode on a separate thread (see above)
  // The most bytes of recently decoded frames kept for instant backward steps (0 = off); the
  // cache starts at a few frames and grows with back steps (decoded_frame_cache.hpp). Needs an
  // indexed (local, seekable) source.
  size_t cache_bytes = 0;
  IoTimeouts timeouts;  // network open/read stall limits (defaults when < 0)
  // How the source is opened (see DemuxerOptions): a demuxer/device name ("" = probe) and
  // avformat_open_input options, e.g. {"rtsp_transport", "tcp"}.
  std::string input_format;
  std::vector<std::pair<std::string, std::string>> input_options;
  // Turn frames upright as the stream's rotation metadata asks (display matrix, or a legacy
  // "rotate" tag), like the ffmpeg CLI; false: frames as stored (MediaInfo::rotation tells).
  bool autorotate = true;
  // FFmpeg's low-delay flags: demuxer (DemuxerOptions::low_latency) and decoder
  // (DecoderOptions::low_delay: no frame threads, so no frames held back).
  bool low_latency = false;
  // What to do when a live source is lost (read error, stall, end of stream): see
  // reconnect_policy.hpp and VideoSource's "Reconnecting" below.
  ReconnectOptions reconnect;
  // Set by the Player from its mode, not a user option: the source is played in real time. A
  // live source then decodes with slice threads (DecoderOptions::slice_threads) and, once the
  // Player asks for newest-wins delivery, skips to the next keyframe when decoding falls more
  // than kLiveBacklogLimit behind the stream (SourceStats::frames_late).
  bool realtime = false;
  // The most bytes of device frames (decoder.device "cuda") the back-step cache keeps, apart
  // from cache_bytes (host memory); 0 = device frames are not cached.
  size_t cache_device_bytes = 0;

  DemuxerOptions demuxer_options() const { return {input_format, input_options, timeouts, low_latency}; }
};

struct SourceStats {
  int64_t packets_read = 0;
  int64_t frames_decoded = 0;    // frames the decoder produced (non-reference frames it skipped are not)
  int64_t frames_converted = 0;  // decoded frames sent through the filter graph (pixel conversion)
  int64_t frames_output = 0;
  int64_t decode_errors = 0;  // corrupt packets/frames skipped + read errors
  int64_t read_errors = 0;    // failed demuxer reads (a truncated end, damaged data, I/O errors)
  int64_t seeks = 0;          // demuxer repositionings (a target reached by decoding forward is none)
  int64_t device_to_host_bytes = 0;   // hardware frames the decoder downloaded (hwaccel without device=)
  int64_t device_to_host_copies = 0;
  int64_t frames_superseded = 0;  // decoded frames replaced by a newer one before conversion (newest wins)
  int64_t reconnects = 0;     // live source connections restored after a loss
  double downtime = 0.0;      // seconds without a connection, summed over the restored outages
  int64_t frames_lost = 0;    // estimate: frames the source would have sent while it was down
  int64_t frames_late = 0;    // live, real time: video packets skipped undecoded to catch up (see realtime)
};

// A live source lost or restored (VideoSource's connection listener).
struct ConnectionEvent {
  enum class Kind {
    Disconnected,   // the connection was lost (reason: why); reconnecting starts
    AttemptFailed,  // one reconnect attempt failed (reason: its error)
    Reconnected,    // the source delivers again (reason: why it had been lost)
  };
  Kind kind = Kind::Disconnected;
  std::string reason;
  int64_t attempt = 0;    // 1-based attempt of this outage (0 for Disconnected)
  double downtime = 0.0;  // seconds since the loss
  int64_t frames_lost = 0;  // Reconnected: estimate of the frames missed (downtime x frame rate)
};

class VideoSource {
 public:
  // Called with every non-video packet read (e.g. audio, for muxing); may be empty.
  using PacketSink = std::function<void(AVPacket*)>;

  // `cancel`: shared with the owner's other blocking calls (null: a private token). `index`: the
  // frame index of this same file, already built by another source (DecodeLanes): used as is,
  // shared, instead of scanning the file again.
  VideoSource(const std::string& url, const SourceOptions& options, std::shared_ptr<CancelToken> cancel = nullptr,
              std::shared_ptr<const FrameIndex> index = nullptr);
  ~VideoSource();
  VideoSource(const VideoSource&) = delete;
  VideoSource& operator=(const VideoSource&) = delete;

  // Immutable after open, so any thread may read it: hwaccel is settled in the constructor,
  // frame_count is the count known at open (exact for indexed local files; indexed_frame_count()
  // tells the exact count of a source indexed later).
  const MediaInfo& info() const { return info_; }
  // Error(Source) while a lost live source is not connected (see "Reconnecting").
  Demuxer& demuxer() {
    if (!demuxer_) throw not_connected();
    return *demuxer_;
  }
  // input_options nothing used when the source was opened (immutable after open).
  const std::vector<std::string>& unused_input_options() const { return unused_input_options_; }
  // Non-video packets are discarded at the demuxer unless a sink is set.
  void set_packet_sink(PacketSink sink);

  // The next frame in display order, or nullptr at end of stream.
  FramePtr next();

  // After these, next() returns exactly that frame (or nullptr if past the end).
  void seek_to_index(int64_t index);
  // Targeted random access (FrameBatch, Reader.frame_at): the caller will read exactly these
  // frames (display indices, in range), each through seek_to_index() or, for the one right
  // after the previous, next(). Until end_targets(): non-reference frames that are not targets
  // are never decoded, and each decode run stops feeding the decoder after the last packet its
  // targets need and drains it, so a keyframe target costs one frame's decode and no frames in
  // flight are decoded only to be flushed. After end_targets(), next() continues after the
  // last frame read (repositioning by a seek when the run was cut short).
  void begin_targets(std::vector<int64_t> indices);
  void end_targets();
  // Frame `index` by targeted access (nullptr past the end); next() continues after it.
  FramePtr frame_at(int64_t index);
  // The frame on screen at `seconds` (see index_at_time); past the end of the last frame,
  // next() returns nullptr. A non-finite time is Error(InvalidArgument).
  void seek_to_time(double seconds);

  // Builds the frame index now (normally lazy: first seek). Returns the exact frame count.
  int64_t count_frames();
  // Index of the frame on screen at `seconds`: the last frame whose pts <= seconds, counting
  // a frame that starts within the container's timestamp rounding after `seconds` (half a tick
  // of the stream's time base, at least half a millisecond) as started; 0 before the first
  // frame. After the last frame's end: the last frame when `clamp_to_last`, else size().
  // -1 when the source has no index (live). A non-finite time is Error(InvalidArgument).
  // Thread-safe once the index exists.
  int64_t index_at_time(double seconds, bool clamp_to_last = true) const;
  bool indexed() const { return index_ != nullptr; }
  // The frame index, built now if needed (Error(Source) for a live source); FrameBatch plans
  // its seeks with its keyframes. Consumer thread only.
  const FrameIndex& frame_table() { return frame_index(); }
  // The same, as a shared pointer for sources that decode this file alongside (DecodeLanes).
  std::shared_ptr<const FrameIndex> shared_frame_table() {
    frame_index();
    return index_;
  }
  // next() returns frame `index` (of an indexed source), repositioning only when next() is
  // called: for a caller that got the frames before it elsewhere (decode lanes).
  void resume_at(int64_t index);
  int64_t indexed_frame_count() const {
    if (filtered_) return static_cast<int64_t>(filtered_->pts.size());
    return index_ && !timeline_unknown_ ? index_->size() : 0;
  }
  // The user's vfilter changes the timeline (fps=, select=, setpts=...): indexes, the count,
  // index_at_time() and seeks follow the filtered frames (see probe_filtered_timeline()).
  bool timeline_filtered() const { return filtered_.has_value(); }
  // The vfilter drops or times frames by their content (mpdecimate, select on scene...): the
  // filtered frames cannot be counted or indexed ahead; count_frames() and index seeks raise
  // Error(Filter), iteration works. Immutable after open.
  bool timeline_unknown() const { return timeline_unknown_; }
  double time_of_index(int64_t index) const;

  SourceStats stats() const;
  // The back-step cache's counters and size. Thread-safe.
  DecodedFrameCache::Stats cache_stats() const { return cache_.stats(); }
  CancelToken& cancel_token() { return *cancel_; }
  // Stops and joins the decode thread (no more packet-sink calls after this returns).
  // next() would start it again.
  void halt() { stop_prefetch(); }

  // Live sources in real time ("newest frame wins"): the decode thread never waits for the
  // consumer; it keeps one decoded frame, a newer one replaces it (counted, see
  // take_superseded()). So a slow consumer never backs decoding, and with it the network
  // buffers, up. Consumer thread, before the first next().
  void set_newest_wins(bool on) { newest_wins_ = on; }
  // Live sources in real time also catch up when decoding itself is too slow for the stream
  // (a CPU-starved machine): once the packets being read are more than kLiveBacklogLimit
  // seconds behind the stream's pace, video packets are skipped undecoded up to a keyframe read
  // with the backlog under half the limit. Frames skipped so since the last call (consumer).
  int64_t take_late() {
    const int64_t total = frames_late_.load();
    const int64_t fresh = total - late_reported_;
    late_reported_ = total;
    return fresh;
  }
  // Frames superseded since the last call (consumer thread).
  int64_t take_superseded() {
    const int64_t total = superseded_.load();
    const int64_t fresh = total - superseded_reported_;
    superseded_reported_ = total;
    return fresh;
  }
  // Reconnecting (options.reconnect): when a live source fails to read (I/O error, stall past
  // the read timeout) or ends, next() reopens it with backoff and goes on; the frames after a
  // reconnect continue the index and the timestamps of the frames before (the new stream's
  // timeline is mapped after the last one, so time never goes back). The listener is called on
  // the consumer thread, inside next(), with the decode thread halted: on Reconnected before
  // any packet of the new connection reaches the packet sink. An exception it throws leaves
  // next(). When the attempts run out next() throws the last failure's kind (SourceError or
  // SourceTimeoutError), naming the attempts; stop (the token) ends a wait or an attempt at once.
  using ConnectionListener = std::function<void(const ConnectionEvent&)>;
  void set_connection_listener(ConnectionListener listener) { connection_listener_ = std::move(listener); }
  bool reconnects() const { return reconnect_enabled_; }

 private:
  void fill_info();       // constructor only
  void settle_hwaccel();  // constructor only
  const FrameIndex& frame_index();
  // Runs the user's filter over blank frames stamped with the index's timestamps (no
  // decoding) and keeps the output timestamps when they differ from the input's. Constructor only.
  void probe_filtered_timeline(const VideoFormat& input);
  void seek_to_raw_index(int64_t index);   // seek_to_index on the decoded (unfiltered) frames
  void seek_to_filtered_index(int64_t index);
  void throw_if_timeline_unknown() const;
  UniqueFrame pull_output();  // next filtered frame (decoding as needed); null at the end
  bool feed_decoder();          // reads packets until one video packet was sent; false at EOF
  bool next_decoded(AVFrame* frame);  // next decoded frame (any thread that owns the decoder)
  void throw_if_nothing_decoded() const;
  UniqueFrame pop_decoded();          // from the decode thread, or decoded inline; null at end
  // Next decoded frame for a seek: pending frames, the running decode thread, or decoded
  // inline (without starting the thread). Null at end or on a bad seek landing.
  UniqueFrame take_decoded();
  // Drops decoded frames before `target_pts`, pushes the first other one into the filter.
  bool advance_to(int64_t target_pts);
  void push_decoded(AVFrame* frame);  // into the filter graph (a conversion)
  void note_delivered(const AVFrame* frame);  // the pipeline moved past this frame
  void start_prefetch();
  void stop_prefetch();
  void prefetch_loop();
  VideoFormat filter_input_for(const AVFrame* frame) const;
  int64_t index_for(int64_t pts);
  int64_t listed_pts(int64_t index) const;  // the index's pts of frame `index`, extrapolated past its end
  bool can_reach_by_decoding(int64_t index) const;
  // Seeks the demuxer to the keyframe (no check yet: the first packet read tells the landing).
  // `by_pts`: use the keyframe's pts as the seek timestamp rather than its dts.
  bool position_at_keyframe(size_t keyframe_pos, bool by_pts);
  void reset_decoding();  // flush decoder + filter after a demuxer repositioning
  void reopen();
  // Drops frames the filter graph holds for an earlier target; keeps the graph itself when it
  // is a stateless pixel conversion (rebuilding it costs a scaler set-up per seek).
  void discard_filtered();
  // Decode order of the last packet the decode run that starts at target `index` needs: the
  // targets reached by decoding on without a seek (their start keyframe is inside the run or
  // its very next packet). -1 when `index` is not a target.
  int64_t run_limit(int64_t index) const;
  double time_tolerance() const;  // seconds a container's rounding may put a frame late
  // Reconnecting (video_source.cpp, "Reconnecting a live source").
  Error not_connected() const;
  bool is_connection_loss(const Error& error) const;
  void reconnect(const std::string& reason, ErrorKind kind);  // throws when given up or stopped
  void open_new_connection();
  void notify(ConnectionEvent::Kind kind, const std::string& reason, int64_t attempt, double downtime,
              int64_t frames_lost = 0);
  void map_timeline(AVPacket* packet);  // decode side: every packet read
  bool in_live_order(AVFrame* frame);   // decode side: every decoded frame of a live source
  double frame_duration() const;        // seconds, from the stream's rate (0.04 when unknown)
  bool skip_late_packet(const AVPacket* packet);  // decode side: live catch-up (take_late())

  std::string url_;
  SourceOptions options_;
  std::shared_ptr<CancelToken> cancel_;  // immutable after construction
  std::unique_ptr<Demuxer> demuxer_;
  std::unique_ptr<VideoDecoder> decoder_;
  std::unique_ptr<VideoFilter> filter_;
  std::shared_ptr<const FrameIndex> index_;  // immutable once built; shared with decode lanes
  // The filtered timeline: output pts (filter output time base) of every filtered frame, and
  // the display index of the decoded frame whose arrival made it come out. Immutable after open.
  struct FilteredTimeline {
    std::vector<int64_t> pts;
    std::vector<int64_t> producer;
  };
  std::optional<FilteredTimeline> filtered_;
  bool timeline_unknown_ = false;  // immutable after open
  UniqueFrame held_output_;  // consumer only: a filtered frame a seek landed on, next() returns it
  MediaInfo info_;  // immutable after open (written by the constructor only)
  std::vector<std::string> unused_input_options_;  // immutable after open
  PacketSink packet_sink_;
  // Non-video packets read by settle_hwaccel() before anyone could set a sink; handed to the
  // first sink set, dropped when none is. Consumer only.
  std::vector<UniquePacket> early_packets_;
  UniquePacket packet_;
  UniqueFrame decoded_;
  AVRational stream_time_base_{1, 1};
  StreamOrientation orientation_;  // immutable after construction

  // Seek state (decode side). landing_: after a demuxer seek, the keyframe decoding must start
  // at; video packets before it are skipped undecoded, one after it means the demuxer landed
  // late (landed_late_). skip_nonref_before_pts_: packets shown before this pts are not
  // decoded when they are non-reference frames (set by the consumer, read by the decode side).
  std::optional<FrameIndex::Keyframe> landing_;
  bool landed_late_ = false;
  std::atomic<int64_t> skip_nonref_before_pts_{AV_NOPTS_VALUE};
  bool seek_by_pts_ = true;  // consumer only: see seek_to_index()
  // Targeted access (begin_targets): the targets' display indices and pts, sorted. Written by
  // the consumer only while no decode thread runs; read by the decode side.
  std::vector<int64_t> target_indices_;
  std::vector<int64_t> target_pts_;
  // After sending the packet of this decode order the decoder is drained (-1: never). Written
  // by the consumer with no decode thread running; fed_to_limit_ by the decode side.
  std::atomic<int64_t> feed_limit_order_{-1};
  std::atomic<bool> fed_to_limit_{false};
  // frame_at(): the previous target, and whether it continued a forward walk. Consumer only.
  int64_t last_frame_at_ = -1;
  bool last_frame_at_walked_ = false;
  // Decode-order ordinal of the next video packet the demuxer delivers (-1: unknown, e.g. after
  // an inexact landing). Written by the decode side, read by the consumer.
  std::atomic<int64_t> next_packet_order_{0};

  int64_t next_sequential_index_ = 0;
  int64_t last_output_pts_ = AV_NOPTS_VALUE;  // consumer only: pts of the last frame out since a seek
  // Display index of the next frame the decode pipeline (decoder, decode thread, pending
  // frames) delivers to the consumer; -1 unknown. Consumer only.
  int64_t pipeline_next_index_ = 0;

  // Back-step cache. cached_target_: the next frame comes from the cache; reposition_to_: the
  // frame after a cached one must be fetched by a (possibly cached) seek. Consumer only.
  DecodedFrameCache cache_;
  bool cache_enabled_ = false;  // set once in the constructor
  std::optional<int64_t> cached_target_;
  std::optional<int64_t> reposition_to_;
  bool demux_eof_ = false;
  bool decoder_drained_ = false;
  bool filter_eof_sent_ = false;

  // Counters written by the decode thread and read by the consumer.
  std::atomic<int64_t> packets_read_{0};
  std::atomic<int64_t> frames_decoded_{0};
  std::atomic<int64_t> earlier_read_errors_{0};  // of demuxers replaced by reopen()
  int64_t frames_output_ = 0;     // consumer only
  int64_t frames_converted_ = 0;  // consumer only
  int64_t seeks_ = 0;             // consumer only

  // Decode thread state. decoded_queue_ is replaced after each stop (a closed queue stays closed).
  std::thread prefetch_thread_;
  std::unique_ptr<BlockingQueue<UniqueFrame>> decoded_queue_;
  std::atomic<bool> prefetch_stop_{false};
  std::exception_ptr prefetch_error_;  // written by the decode thread before it closes the queue
  std::atomic<bool> prefetch_ended_{false};  // the thread stopped because decoding ended or failed
  bool prefetch_done_ = false;         // consumer only: decoding ended (no thread will deliver more)
  std::deque<UniqueFrame> pending_frames_;  // consumer only: decoded ahead by a stopped thread

  // Capture time (see Frame::capture_time). The decode side remembers when each recent video
  // packet arrived (by pts) and stamps decoded frames with it (AVFrame::opaque, microseconds
  // since the epoch; av_frame_copy_props carries it through the filter graph); it also
  // publishes the stream's wallclock origin once RTCP gives one. The consumer picks the clock.
  struct Arrival {
    int64_t pts = AV_NOPTS_VALUE;
    int64_t micros = 0;
  };
  void note_arrival(const AVPacket* packet);  // decode side
  void stamp_arrival(AVFrame* frame) const;   // decode side
  void set_capture_time(Frame& frame) const;  // consumer
  std::array<Arrival, 64> arrivals_{};  // decode side only (ring)
  size_t next_arrival_ = 0;             // decode side only
  int64_t last_arrival_micros_ = 0;     // decode side only
  std::atomic<int64_t> wallclock_origin_micros_{AV_NOPTS_VALUE};  // epoch time of pts 0
  bool wallclock_timestamps_ = false;   // immutable after construction
  bool newest_wins_ = false;            // consumer, before the decode thread starts
  std::atomic<int64_t> superseded_{0};  // written by the decode thread
  int64_t superseded_reported_ = 0;     // consumer only
  // Live catch-up (skip_late_packet). Decode side only, except frames_late_ (read by the
  // consumer) and the reset by open_new_connection() (no decode thread running).
  struct Backlog {
    bool applies = false;            // immutable after construction: a live, paced source (not HLS)
    double floor = INFINITY;         // least (wall - media) seconds seen: the stream's own pace
    double floor_wall = 0.0;         // steady-clock seconds when the floor was set (it may drift up)
    double last_media = -INFINITY;   // media seconds of the last video packet
    bool skipping = false;           // skipping video packets up to a keyframe
    double skip_media = 0.0;         // media seconds and backlog when the skipping started
    double skip_backlog = 0.0;
    bool pace_unreliable = false;    // timestamps do not follow the sender's pace: no catching up
  } backlog_;
  std::atomic<int64_t> frames_late_{0};
  int64_t late_reported_ = 0;  // consumer only
  DecoderOptions decoder_options_;  // immutable after construction: what every decoder is opened with
  // Reconnecting. Set once in the constructor: reconnect_enabled_, live_, the original time
  // bases. The timeline state is written by the decode side (map_timeline) and by the consumer
  // only while no decode thread runs (reconnect()).
  bool reconnect_enabled_ = false;
  bool live_ = false;               // a network URL or a device: its end is an outage too
  AVRational audio_time_base_{1, 1};  // of the first connection's audio: what consumers expect
  ConnectionListener connection_listener_;  // consumer only
  struct Timeline {
    int connection = 0;            // 0: the first connection (timestamps untouched)
    bool offset_known = true;      // false until the new connection's first timestamp
    int64_t offset_us = 0;         // added to the new connection's timestamps (AV_TIME_BASE)
    double end = -INFINITY;        // seconds: end of the latest packet delivered (mapped)
    double last_video_dts = -INFINITY;  // seconds (mapped): spots a live stream jumping back
    double lost_downtime = 0.0;    // seconds of the outage being mapped (own clock may go on)
  } timeline_;
  int64_t last_live_pts_ = AV_NOPTS_VALUE;  // decode side: the last frame's pts (live order)
  int64_t earlier_decode_errors_ = 0;  // of decoders replaced by a reconnect
  int64_t reconnects_ = 0;             // consumer only
  double downtime_ = 0.0;              // consumer only
  int64_t frames_lost_ = 0;            // consumer only
};

}  // namespace vistream
