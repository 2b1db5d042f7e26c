#include "vistream/player_source.hpp"

#include "vistream/player.hpp"
#include "vistream/test_hooks.hpp"

namespace vistream {
namespace {
// Real-time mode with a window: frames are released this much before their time, so the
// callback and the hand-over to the display do not make the picture late; the display then
// shows each at its time.
constexpr double kDisplayLead = 0.040;

SourceOptions realtime_source_options(const PlayerOptions& options) {
  SourceOptions source = options.source;
  source.realtime = options.mode == PlayerMode::Realtime;
  return source;
}
}  // namespace

PlayerSource::PlayerSource(const std::string& url, const PlayerOptions& options, std::shared_ptr<CancelToken> cancel,
                           PlayerStats& stats)
    : options_(options),
      stats_(stats),
      cancel_(std::move(cancel)),
      source_(std::make_unique<VideoSource>(url, realtime_source_options(options), cancel_)) {}

void PlayerSource::install_packet_sink(PlayerTransport& transport, PlayerRecorder* recorder) {
  AudioPlayback* sound = transport.sound();
  const bool record_audio = recorder && recorder->has_audio_output();
  if (!sound && !record_audio) return;
  // Runs on the source's decode thread, which ends (halt()) before the sound device or the
  // recorder go away.
  source_->set_packet_sink([this, sound, recorder, record_audio](AVPacket* packet) {
    const uint64_t serial = packet_serial_.load();
    test_pause_point("audio_packet_write");  // seeded race: a seek starts a new generation now
    if (sound) sound->write(packet, serial);
    if (record_audio) recorder->hold_audio(packet, serial);
  });
}

void PlayerSource::perform_seek(const PlayerTransport::SeekOrder& seek, PlayerTransport& transport,
                                PlayerRecorder* recorder, PlayerPresentation& presentation) {
  // The demuxer moves to the new timeline only with the decode thread (the packet sink)
  // halted, so every audio packet carries the generation of the position it was read at.
  source_->halt();
  // A seek drops the audio of the old position; a loop restart keeps the end of the old one.
  if (recorder && !seek.is_loop) recorder->drop_audio_before(seek.serial);
  if (AudioPlayback* sound = transport.sound())
    sound->start_generation(seek.serial, source_->time_of_index(seek.index), !seek.is_loop);
  packet_serial_.store(seek.serial);
  presentation.restart_drift_measure();
  source_->seek_to_index(seek.index);
  ++stats_.seeks;
}

FramePtr PlayerSource::next_frame() {
  FramePtr frame = source_->next();
  if (frame && options_.end >= 0 && frame->time() >= options_.end) return nullptr;
  return frame;
}

bool PlayerSource::release_when_due(FramePtr frame, uint64_t serial, BlockingQueue<FramePtr>& decoded,
                                    PlayerTransport& transport, PlayerPresentation& presentation) {
  // options_.display, not the window: the window belongs to the run() thread.
  const PlayerTransport::Release release = transport.wait_for_release(frame, options_.display ? kDisplayLead : 0.0);
  if (release == PlayerTransport::Release::Stale) return true;  // a seek or stop came first
  // Headless, a frame is "shown" when released: that is where A/V drift is measured.
  if (release == PlayerTransport::Release::OnTime && !options_.display)
    presentation.measure_av_drift(frame->time(), frame->serial());
  const int dropped = decoded.push_replacing(std::move(frame), serial);
  if (dropped < 0) return false;
  stats_.frames_dropped += dropped;
  return true;
}

bool PlayerSource::release_live(FramePtr frame, uint64_t serial, BlockingQueue<FramePtr>& decoded,
                                PlayerTransport& transport) {
  if (transport.paused()) {  // a live source does not wait: what plays while paused is lost
    ++stats_.frames_dropped;
    return true;
  }
  const int dropped = decoded.push_replacing(std::move(frame), serial);
  if (dropped < 0) return false;
  stats_.frames_dropped += dropped;
  return true;
}

void PlayerSource::on_connection_event(const ConnectionEvent& event, uint64_t& serial, PlayerTransport& transport,
                                       PlayerPresentation& presentation) {
  if (event.kind == ConnectionEvent::Kind::Reconnected) {
    // The decode thread is halted: no packet of the new connection has reached the sink yet.
    // Frames queued from before the outage still play (no floor), like a loop restart's.
    serial = transport.start_reconnect_generation();
    reconnect_serial_ = serial;
    packet_serial_.store(serial);
    if (AudioPlayback* sound = transport.sound()) sound->start_generation(serial, -1.0, /*discard_queued=*/false);
    presentation.restart_drift_measure();
    ++stats_.reconnects;
    stats_.reconnect_downtime.store(stats_.reconnect_downtime.load() + event.downtime);
    stats_.frames_lost += event.frames_lost;
  }
  if (connection_hook_) connection_hook_(event);
}

void PlayerSource::run(BlockingQueue<FramePtr>& decoded, PlayerTransport& transport, PlayerRecorder* recorder,
                       PlayerPresentation& presentation) {
  uint64_t serial = 0;
  struct ClearListener {
    VideoSource& source;
    ~ClearListener() { source.set_connection_listener(nullptr); }
  } clear_listener{*source_};
  source_->set_connection_listener([this, &serial, &transport, &presentation](const ConnectionEvent& event) {
    on_connection_event(event, serial, transport, presentation);
  });
  try {
    install_packet_sink(transport, recorder);
    const bool realtime = options_.mode == PlayerMode::Realtime;
    // Live in real time: newest frame wins at every stage (decode thread, decoded_), nothing
    // between the network and the hook waits for Python (docs/architecture.md, "Live sources").
    const bool live_realtime = realtime && source_->demuxer().live() && !source_->indexed();
    source_->set_newest_wins(live_realtime);
    if (options_.start > 0) source_->seek_to_time(options_.start);
    bool ended = false;
    PlayerTransport::SeekOrder seek;
    for (;;) {
      const PlayerTransport::SourceStep step = transport.next_source_step(ended, options_.exit_at_end, &seek);
      if (step == PlayerTransport::SourceStep::Stop || step == PlayerTransport::SourceStep::Ended) break;
      if (step == PlayerTransport::SourceStep::Seek) {
        perform_seek(seek, transport, recorder, presentation);
        serial = seek.serial;
        ended = false;
      }
      FramePtr frame = next_frame();
      if (const int64_t superseded = source_->take_superseded()) {
        stats_.frames_decoded += superseded;
        stats_.frames_dropped += superseded;
      }
      stats_.frames_late += source_->take_late();
      if (!frame) {
        if (options_.loop && source_->indexed() && stats_.frames_decoded.load() > 0) {
          // Loop: start over (at `start`), frame-exact like any seek, as a new timeline; the
          // frames still queued are the end of the old one and still play.
          transport.request_loop_restart(options_.start > 0 ? source_->index_at_time(options_.start) : 0);
          continue;
        }
        ended = true;
        decoded.push(nullptr, serial, cancel_.get());  // end marker: waits for room even in real-time mode
        continue;
      }
      ++stats_.frames_decoded;
      frame->set_serial(static_cast<int64_t>(serial));
      frame->set_reconnected(serial == reconnect_serial_);
      bool handed_over;
      if (live_realtime)
        handed_over = release_live(std::move(frame), serial, decoded, transport);
      else if (realtime)
        handed_over = release_when_due(std::move(frame), serial, decoded, transport, presentation);
      else
        handed_over = decoded.push(std::move(frame), serial, cancel_.get());
      if (!handed_over) break;
    }
  } catch (...) {
    source_->halt();  // no audio packet may arrive after this thread ends
    throw;
  }
  source_->halt();
  stats_.decode_errors.store(source_->stats().decode_errors);
  decoded.close();
}

}  // namespace vistream
