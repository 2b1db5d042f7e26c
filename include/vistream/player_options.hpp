// What a Player is asked to do, as one typed struct (torchcodec's StreamOptions style): plain
// fields with their defaults written here, grouped by the component they configure (source,
// encoder, window). The defaults and the rules live here and in player_options.cpp only: the
// bindings map the structs onto Python classes with keyword constructors and convert types,
// the Python package forwards the user's keywords. A value out of range is refused by
// validate(), which names the option.
//
// "Unset" numbers use -1 where the component's struct says so (EncoderOptions::crf/gop,
// IoTimeouts, PlayerOptions::end): -1 exactly means "the default"; any other value out of
// range is an error, never silently a default.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "vistream/display.hpp"
#include "vistream/latency_stats.hpp"
#include "vistream/video_encoder.hpp"
#include "vistream/video_source.hpp"

namespace vistream {

enum class PlayerMode {
  Offline,   // every frame goes through the hook, as fast as possible
  Realtime,  // frames are released at the media clock; the hook gets the newest, others drop
};

// The one range of playback speeds, checked by validate_speed() and nowhere else (Python reads
// it from the module); the window's [ and ] keys halve and double within it. atempo keeps the
// pitch at any speed in it (chained instances).
inline constexpr double kMinSpeed = 1.0 / 16.0;
inline constexpr double kMaxSpeed = 16.0;

// Bytes of recently decoded frames a Player keeps for instant backward steps, unless told
// otherwise (SourceOptions::cache_bytes; a Reader keeps none). The one place this default is
// written: PlayerOptions' constructor uses it, the bindings and Python read it from there.
inline constexpr size_t kDefaultPlayerCacheBytes = size_t{256} << 20;
// The same for device frames (device="cuda"), in GPU memory (SourceOptions::cache_device_bytes):
// smaller, since the models running on the frames share the GPU's memory.
inline constexpr size_t kDefaultPlayerCacheDeviceBytes = size_t{128} << 20;

struct PlayerOptions {
  PlayerOptions() {
    source.cache_bytes = kDefaultPlayerCacheBytes;
    source.cache_device_bytes = kDefaultPlayerCacheDeviceBytes;
    display_options.title.clear();  // "": named after the source (see checked())
  }

  SourceOptions source;
  std::string afilter;
  std::string output;  // empty = no file
  EncoderOptions encoder;
  bool audio = true;   // copy (or transcode) the source's audio into the output
  double start = 0.0;  // seconds, >= 0; the output's timestamps start at 0 there
  double end = -1.0;   // seconds, > start; -1: to the end
  PlayerMode mode = PlayerMode::Offline;
  double speed = 1.0;  // [kMinSpeed, kMaxSpeed]
  bool start_paused = false;
  // End run() when the source ends while playing (false: stay, so seeks/steps still work
  // until stop()). An end reached while paused (a seek or step past the end) never ends it.
  bool exit_at_end = true;
  bool loop = false;  // at the end, start over (until stop())
  // Play the sound; it becomes the master clock. Only a paced playback (real-time mode, or a
  // window) can play it. Unset: whenever `audio` is on and the playback is paced. The one
  // decision is plays_audio().
  std::optional<bool> play_audio;
  // Open a window (Display) showing the frames after the hook; the Player's constructor throws
  // Error(Generic) with the reason when no window can be opened here.
  bool display = false;
  DisplayOptions display_options;
};

// Counters of a running Player; any thread may read them.
struct PlayerStats {
  std::atomic<int64_t> frames_decoded{0};
  std::atomic<int64_t> frames_processed{0};
  std::atomic<int64_t> frames_encoded{0};
  std::atomic<int64_t> frames_dropped{0};
  std::atomic<int64_t> decode_errors{0};
  std::atomic<int64_t> read_errors{0};
  std::atomic<int64_t> seeks{0};
  std::atomic<double> elapsed{0.0};
  // A/V sync, measured when a frame is shown (released, headless): video pts - audio clock.
  std::atomic<double> av_drift_max{0.0};   // largest |drift|, seconds
  std::atomic<int64_t> av_drift_samples{0};
  // Capture -> callback start of every frame handed to the hook (sources with a capture time).
  LatencyStats latency;  // internally locked
  // The output's timestamp guard (Writer): frames not encoded because their pts did not grow,
  // and frames without a pts that were given one.
  std::atomic<int64_t> frames_dropped_timestamps{0};
  std::atomic<int64_t> timestamps_filled{0};
  // Live sources (SourceOptions::reconnect): restored connections, seconds without one, and
  // the frames the source would have sent meanwhile (estimate).
  std::atomic<int64_t> reconnects{0};
  std::atomic<double> reconnect_downtime{0.0};
  std::atomic<int64_t> frames_lost{0};
  // Live sources in real time: video packets skipped undecoded because decoding had fallen
  // more than a second behind the stream (VideoSource::take_late()).
  std::atomic<int64_t> frames_late{0};
  // Device frames downloaded for the window (one per frame shown; the encoder's own download
  // path is counted by the encoder).
  std::atomic<int64_t> device_to_host_bytes{0};
  std::atomic<int64_t> device_to_host_copies{0};
};

// "offline" or "realtime" (the names the bindings use); Error(InvalidArgument) otherwise.
PlayerMode parse_player_mode(const std::string& name);
const char* player_mode_name(PlayerMode mode);

// Error(InvalidArgument) "speed must be between ..." outside [kMinSpeed, kMaxSpeed].
void validate_speed(double speed);

// Each throws Error(InvalidArgument) whose message starts with the offending option's name
// ("speed must be ...", "threads must be >= 0, got -1"). Values must be canonical (see checked()).
void validate(const SourceOptions& options);
void validate(const EncoderOptions& options);
void validate(const PlayerOptions& options);

// The canonical form of what a user may spell loosely (pixel format aliases and case, hwaccel
// and codec case, blanks around filter graphs), then validate()d. The Reader's source options
// and every Player go through these. `url` names the window when no title was given.
SourceOptions checked(SourceOptions options);
PlayerOptions checked(PlayerOptions options, const std::string& url);

// Whether a Player with these options plays the sound (see PlayerOptions::play_audio).
bool plays_audio(const PlayerOptions& options);

}  // namespace vistream
