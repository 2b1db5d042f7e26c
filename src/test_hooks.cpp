#include "vistream/test_hooks.hpp"

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vistream::detail {

struct TestDelays {
  std::vector<std::pair<std::string, int>> points;  // name, milliseconds
};

namespace {
// "name:ms,name:ms"; malformed entries are ignored (a test that names a point wrongly fails on
// its own assertion that the delay happened, not here).
TestDelays parse(const char* text) {
  TestDelays delays;
  const std::string spec(text);
  size_t begin = 0;
  while (begin <= spec.size()) {
    size_t end = spec.find(',', begin);
    if (end == std::string::npos) end = spec.size();
    const std::string entry = spec.substr(begin, end - begin);
    const size_t colon = entry.rfind(':');
    if (colon != std::string::npos && colon > 0) {
      const int ms = std::atoi(entry.c_str() + colon + 1);
      if (ms > 0) delays.points.emplace_back(entry.substr(0, colon), ms);
    }
    begin = end + 1;
  }
  return delays;
}
}  // namespace

const TestDelays* test_delays() {
  static const TestDelays parsed = [] {
    const char* text = std::getenv("VISTREAM_TEST_DELAYS");
    return text ? parse(text) : TestDelays{};
  }();
  return parsed.points.empty() ? nullptr : &parsed;
}

void sleep_at(const TestDelays& delays, std::string_view point) {
  for (const auto& [name, ms] : delays.points) {
    if (name == point) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return;
    }
  }
}

}  // namespace vistream::detail
