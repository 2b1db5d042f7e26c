// The Player's source side: the VideoSource and the source thread that feeds decoded frames
// into the queue the run() thread takes them from. The source thread performs every seek
// (asked for through the transport), restarts loops, and in real-time mode releases each
// frame when the clock reaches it, replacing one the run() thread has not taken yet.
//
// Audio packets are read by the source's decode thread (the packet sink) and go to the sound
// device (the transport's) and to the recorder, stamped with the generation of the demuxer
// position they were read at (packet_serial_).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "vistream/blocking_queue.hpp"
#include "vistream/cancel_token.hpp"
#include "vistream/frame.hpp"
#include "vistream/player_presentation.hpp"
#include "vistream/player_recorder.hpp"
#include "vistream/player_transport.hpp"
#include "vistream/video_source.hpp"

namespace vistream {

struct PlayerOptions;
struct PlayerStats;

class PlayerSource {
 public:
  // Opens the source (blocking; cancelled through `cancel`). `options` and `stats` are the
  // Player's (they outlive this).
  PlayerSource(const std::string& url, const PlayerOptions& options, std::shared_ptr<CancelToken> cancel,
               PlayerStats& stats);

  // Any thread: immutable after open.
  const MediaInfo& info() const { return source_->info(); }
  // Any thread when opened indexed (the index never changes after that).
  int64_t index_at_time(double seconds) const { return source_->index_at_time(seconds); }
  // Opening facts, read by the Player's constructor before the source thread exists.
  VideoSource& video_source() { return *source_; }

  // The source thread: decodes into `decoded` until the end, a stop or a failure; closes
  // `decoded` when done (the run() thread then ends). `recorder` is null without an output.
  // Throws what the source threw, except a read cut short by stop().
  void run(BlockingQueue<FramePtr>& decoded, PlayerTransport& transport, PlayerRecorder* recorder,
           PlayerPresentation& presentation);
  // After the source thread ended: what decoding and reading counted.
  SourceStats stats() const { return source_->stats(); }
  // Called on the source thread when a live source is lost or restored (after the Player has
  // started the new timeline generation of a reconnect). Set before run().
  void set_connection_hook(VideoSource::ConnectionListener hook) { connection_hook_ = std::move(hook); }

 private:
  void install_packet_sink(PlayerTransport& transport, PlayerRecorder* recorder);
  void perform_seek(const PlayerTransport::SeekOrder& seek, PlayerTransport& transport, PlayerRecorder* recorder,
                    PlayerPresentation& presentation);
  // The next frame of the current timeline, or null at the end (of the media, or of options.end).
  FramePtr next_frame();
  // Real-time mode: waits for the frame's time, then hands it over (replacing one not yet
  // taken). False when the queue was aborted.
  bool release_when_due(FramePtr frame, uint64_t serial, BlockingQueue<FramePtr>& decoded,
                        PlayerTransport& transport, PlayerPresentation& presentation);
  // Real-time mode, live source: hands the frame over at once (the sender paces it; waiting for
  // its pts would keep whatever backlog probing or a network hiccup built). Paused: dropped.
  bool release_live(FramePtr frame, uint64_t serial, BlockingQueue<FramePtr>& decoded, PlayerTransport& transport);
  // Source thread, inside next(): a reconnect starts a new timeline generation (`serial`).
  void on_connection_event(const ConnectionEvent& event, uint64_t& serial, PlayerTransport& transport,
                           PlayerPresentation& presentation);

  // Immutable after construction.
  const PlayerOptions& options_;
  PlayerStats& stats_;  // atomics
  std::shared_ptr<CancelToken> cancel_;
  // Driven by the source thread only once run() starts (before: the Player's constructor);
  // info() and index_at_time() are the exceptions above.
  std::unique_ptr<VideoSource> source_;
  // Generation of the demuxer's position, read by the packet sink (decode thread). Written by
  // the source thread only while the decode thread is halted, so no packet read before a seek
  // can carry the generation after it.
  std::atomic<uint64_t> packet_serial_{0};
  VideoSource::ConnectionListener connection_hook_;  // set before run(); source thread only then
  // The generation the last reconnect started (its frames are marked Frame::reconnected);
  // source thread only.
  uint64_t reconnect_serial_ = UINT64_MAX;
};

}  // namespace vistream
