// Test-only delays at the engine's historical race points (issue 9's "seeded races").
//
// A race needs two threads to meet inside a window that is usually microseconds wide; a sleep
// injected inside that window makes the bad interleaving the common one, so a regression test
// reproduces it on every run instead of once in a thousand. The environment variable
//
//   VISTREAM_TEST_DELAYS="audio_packet_write:30,encode_frame:20"
//
// names the points and the milliseconds to sleep at each. It is read once per process (the
// first time any point is passed); without it a point costs one test of a pointer set at start.
// The points are listed in docs/architecture.md ("Seeded races"); tests/test_seeded_races.py
// runs each scenario in a subprocess with the variable set.
#pragma once

#include <string_view>

namespace vistream {
namespace detail {
struct TestDelays;
// The parsed VISTREAM_TEST_DELAYS, or null when the variable is unset or names nothing.
const TestDelays* test_delays();
void sleep_at(const TestDelays& delays, std::string_view point);
}  // namespace detail

// Sleeps when VISTREAM_TEST_DELAYS names `point`; otherwise returns at once.
inline void test_pause_point(std::string_view point) {
  static const detail::TestDelays* const delays = detail::test_delays();
  if (delays != nullptr) detail::sleep_at(*delays, point);
}

}  // namespace vistream
