#pragma once
// Small text helpers shared by the option validators (player_options.cpp, reconnect_policy.cpp):
// how numbers appear in their messages, how they refuse a value, and case folding of names.

#include <algorithm>
#include <cctype>
#include <sstream>
#include <string>

#include "vistream/error.hpp"

namespace vistream::option_text {

// Numbers in messages as a user would type them (6 significant digits, no trailing zeros).
inline std::string number(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

// Every refused option value is an InvalidArgument error with the given message.
[[noreturn]] inline void refuse(const std::string& message) { throw Error(ErrorKind::InvalidArgument, message); }

inline std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace vistream::option_text
