// ReconnectBackoff and the live-source rule: pure arithmetic, checked exactly (no sleeping).
#include <gtest/gtest.h>

#include <cmath>

#include "vistream/error.hpp"
#include "vistream/reconnect_policy.hpp"

namespace vistream {
namespace {

ReconnectOptions no_jitter() {
  ReconnectOptions options;
  options.initial_delay = 0.5;
  options.max_delay = 4.0;
  options.backoff = 2.0;
  options.jitter = 0.0;
  return options;
}

TEST(ReconnectBackoff, DoublesFromTheInitialDelayUpToTheCap) {
  ReconnectBackoff backoff(no_jitter(), 1);
  const double expected[] = {0.5, 1.0, 2.0, 4.0, 4.0, 4.0};
  for (double delay : expected) EXPECT_DOUBLE_EQ(backoff.next_delay(), delay);
  EXPECT_EQ(backoff.attempt(), 6);
}

TEST(ReconnectBackoff, ResetStartsTheNextOutageAtTheInitialDelay) {
  ReconnectBackoff backoff(no_jitter(), 1);
  backoff.next_delay();
  backoff.next_delay();
  backoff.reset();
  EXPECT_EQ(backoff.attempt(), 0);
  EXPECT_DOUBLE_EQ(backoff.next_delay(), 0.5);
}

TEST(ReconnectBackoff, JitterStaysWithinItsFractionAndVaries) {
  ReconnectOptions options = no_jitter();
  options.jitter = 0.1;
  EXPECT_DOUBLE_EQ(ReconnectBackoff::delay_for(options, 1, -1.0), 0.45);
  EXPECT_DOUBLE_EQ(ReconnectBackoff::delay_for(options, 1, 1.0), 0.55);
  EXPECT_DOUBLE_EQ(ReconnectBackoff::delay_for(options, 10, 1.0), 4.4);  // the cap, jittered
  ReconnectBackoff backoff(options, 42);
  double low = 1e9, high = 0;
  for (int i = 0; i < 200; ++i) {
    backoff.reset();
    const double delay = backoff.next_delay();
    EXPECT_GE(delay, 0.45);
    EXPECT_LE(delay, 0.55);
    low = std::min(low, delay);
    high = std::max(high, delay);
  }
  EXPECT_GT(high - low, 0.05);  // the draws spread over the range, not one value
}

TEST(ReconnectBackoff, SameSeedSameDelays) {
  ReconnectOptions options = no_jitter();
  options.jitter = 0.2;
  ReconnectBackoff a(options, 7), b(options, 7);
  for (int i = 0; i < 10; ++i) EXPECT_DOUBLE_EQ(a.next_delay(), b.next_delay());
}

TEST(ReconnectBackoff, AttemptsRunOut) {
  ReconnectOptions options = no_jitter();
  options.attempts = 2;
  ReconnectBackoff backoff(options, 1);
  EXPECT_TRUE(backoff.may_retry());
  backoff.next_delay();
  EXPECT_TRUE(backoff.may_retry());
  backoff.next_delay();
  EXPECT_FALSE(backoff.may_retry());
  options.attempts = -1;  // forever
  ReconnectBackoff forever(options, 1);
  for (int i = 0; i < 1000; ++i) forever.next_delay();
  EXPECT_TRUE(forever.may_retry());
  EXPECT_DOUBLE_EQ(forever.next_delay(), 4.0);  // a huge attempt number is still the cap
}

TEST(ReconnectPolicy, AutoReconnectsLiveSourcesOnly) {
  const ReconnectOptions options;  // auto
  EXPECT_TRUE(reconnects(options, "rtsp://127.0.0.1:8554/live", ""));
  EXPECT_TRUE(reconnects(options, "udp://127.0.0.1:5000", ""));
  EXPECT_TRUE(reconnects(options, "https://cam.example/stream.m3u8", ""));
  EXPECT_TRUE(reconnects(options, "/dev/video0", ""));
  EXPECT_FALSE(reconnects(options, "testsrc2=duration=1", "lavfi"));  // generated: its end is the end
  EXPECT_FALSE(reconnects(options, "clip.mp4", ""));
  EXPECT_FALSE(reconnects(options, "/data/clip.mp4", ""));
  EXPECT_FALSE(reconnects(options, "file:///data/clip.mp4", ""));
  EXPECT_FALSE(reconnects(options, "-", ""));
  EXPECT_FALSE(reconnects(options, "pipe:0", "mpegts"));
}

TEST(ReconnectPolicy, ModesOverrideTheRule) {
  ReconnectOptions options;
  options.mode = ReconnectMode::Never;
  EXPECT_FALSE(reconnects(options, "rtsp://127.0.0.1/live", ""));
  options.mode = ReconnectMode::Always;
  EXPECT_TRUE(reconnects(options, "clip.mp4", ""));
  EXPECT_FALSE(reconnects(options, "-", ""));  // a pipe cannot be reopened
  EXPECT_EQ(parse_reconnect_mode("always"), ReconnectMode::Always);
  EXPECT_STREQ(reconnect_mode_name(ReconnectMode::Never), "never");
  EXPECT_THROW(parse_reconnect_mode("sometimes"), Error);
}

TEST(ReconnectPolicy, ValidateNamesTheOption) {
  ReconnectOptions options;
  options.max_delay = 0.1;  // below the initial delay
  try {
    validate(options);
    FAIL() << "accepted max_delay < initial_delay";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(error.what()).find("reconnect_delay_max"), std::string::npos);
  }
  options = ReconnectOptions();
  options.attempts = -2;
  EXPECT_THROW(validate(options), Error);
  options = ReconnectOptions();
  options.jitter = 1.0;
  EXPECT_THROW(validate(options), Error);
  options = ReconnectOptions();
  options.initial_delay = NAN;
  EXPECT_THROW(validate(options), Error);
  EXPECT_NO_THROW(validate(ReconnectOptions()));
}

}  // namespace
}  // namespace vistream
