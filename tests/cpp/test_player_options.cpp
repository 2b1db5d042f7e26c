// PlayerOptions: the one place option values are checked (validate/checked) and where the
// sound-playing decision is made (plays_audio). Pure functions: no media needed.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "vistream/error.hpp"
#include "vistream/player_options.hpp"

namespace vistream {
namespace {

// The message of the Error(InvalidArgument) that checked() throws for these options ("" if none).
std::string refusal(const std::function<void(PlayerOptions&)>& edit) {
  PlayerOptions options;
  edit(options);
  try {
    checked(options, "clip.mp4");
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument) << error.what();
    return error.what();
  }
  return "";
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

TEST(PlayerOptions, DefaultsAreValidAndKeepTheFrameCache) {
  EXPECT_EQ(refusal([](PlayerOptions&) {}), "");
  EXPECT_EQ(PlayerOptions().source.cache_bytes, kDefaultPlayerCacheBytes);
  EXPECT_EQ(SourceOptions().cache_bytes, 0u);  // a Reader keeps none
}

TEST(PlayerOptions, EachRefusalNamesTheOption) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(starts_with(refusal([](PlayerOptions& o) { o.speed = 0; }), "speed must be between"));
  EXPECT_TRUE(starts_with(refusal([&](PlayerOptions& o) { o.speed = nan; }), "speed must be between"));
  EXPECT_TRUE(starts_with(refusal([](PlayerOptions& o) { o.start = -0.5; }), "start "));
  EXPECT_TRUE(starts_with(refusal([](PlayerOptions& o) { o.start = 2, o.end = 1; }), "end "));
  EXPECT_TRUE(starts_with(refusal([](PlayerOptions& o) { o.end = -2; }), "end "));
  EXPECT_TRUE(starts_with(refusal([](PlayerOptions& o) { o.source.output_format = "yuv444p"; }), "format "));
  EXPECT_TRUE(starts_with(refusal([](PlayerOptions& o) { o.source.decoder.threads = -1; }), "threads "));
  EXPECT_TRUE(starts_with(refusal([](PlayerOptions& o) { o.source.timeouts.read = 0; }), "read_timeout "));
  EXPECT_TRUE(starts_with(refusal([](PlayerOptions& o) { o.encoder.crf = -2; }), "crf "));
  EXPECT_TRUE(starts_with(refusal([](PlayerOptions& o) { o.encoder.encoder.clear(); }), "encoder "));
  EXPECT_THROW(parse_player_mode("fast"), Error);
}

TEST(PlayerOptions, UnsetMeansMinusOneExactly) {
  EXPECT_EQ(refusal([](PlayerOptions& o) { o.end = -1, o.encoder.crf = -1, o.source.timeouts.open = -1; }), "");
  EXPECT_EQ(refusal([](PlayerOptions& o) { o.source.timeouts.open = std::numeric_limits<double>::infinity(); }), "");
}

TEST(PlayerOptions, CheckedSpellsValuesCanonically) {
  PlayerOptions options;
  options.source.output_format = "GREY";
  options.source.decoder.hwaccel = "";
  options.source.vfilter = "  hflip \n";
  options.encoder.codec = "HEVC";
  const PlayerOptions result = checked(options, "/videos/street.mp4");
  EXPECT_EQ(result.source.output_format, "gray");
  EXPECT_EQ(result.source.decoder.hwaccel, "none");
  EXPECT_EQ(result.source.vfilter, "hflip");
  EXPECT_EQ(result.encoder.codec, "hevc");
  EXPECT_EQ(result.display_options.title, "vistream - street.mp4");
  SourceOptions reader;  // a Reader's options go through the same spelling rules
  reader.output_format = "BGR";
  EXPECT_EQ(checked(reader).output_format, "bgr24");
}

TEST(PlayerOptions, SoundIsPlayedOnlyWhenPacedAndByDefaultWithAudio) {
  PlayerOptions options;
  EXPECT_FALSE(plays_audio(options));  // offline, headless
  options.play_audio = true;
  EXPECT_FALSE(plays_audio(options));  // nothing paces it
  options = PlayerOptions();
  options.mode = PlayerMode::Realtime;
  EXPECT_TRUE(plays_audio(options));
  options.audio = false;
  EXPECT_FALSE(plays_audio(options));
  options.play_audio = true;
  EXPECT_TRUE(plays_audio(options));
  options = PlayerOptions();
  options.display = true;
  EXPECT_TRUE(plays_audio(options));
}

}  // namespace
}  // namespace vistream
