#include "vistream/error.hpp"

#include "vistream/ffmpeg.hpp"

namespace vistream {

std::string av_error_string(int code) {
  char buffer[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buffer, sizeof(buffer));
  return buffer;
}

void throw_av_error(int code, ErrorKind kind, const std::string& context) {
  if (kind == ErrorKind::Source && code == AVERROR(ENOENT)) kind = ErrorKind::SourceNotFound;
  throw Error(kind, context + ": " + av_error_string(code));
}

}  // namespace vistream
