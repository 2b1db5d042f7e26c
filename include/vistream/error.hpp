// The core's one exception type. The bindings map each ErrorKind to a Python exception class
// (vistream.errors), so the kind is the contract, the message is for humans.
#pragma once

#include <stdexcept>
#include <string>

namespace vistream {

enum class ErrorKind {
  Generic,          // VistreamError
  Source,           // SourceError (an OSError)
  SourceNotFound,   // SourceNotFoundError (a FileNotFoundError)
  SourceTimeout,    // SourceTimeoutError (a TimeoutError): a network source stalled
  SourceNotAllowed,  // SourceNotAllowedError (a PermissionError): a protocol outside protocol_whitelist
  SourceCertificate,  // SourceCertificateError: a TLS peer certificate failed verification
  Decode,           // DecodeError
  Encoder,          // EncoderError
  Filter,           // FilterError
  Hardware,         // HardwareError
  InvalidArgument,  // ValueError
  FrameSizeMismatch,  // FrameSizeMismatchError (a ValueError): frames of different sizes asked as one array
  // Control flow, not failures: a blocking call ended because its CancelToken was cancelled
  // (stop(), close()), or because the interrupt check of the calling thread fired (the
  // bindings then raise the pending Python exception, e.g. KeyboardInterrupt).
  Cancelled,
  Interrupted,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// FFmpeg's text for an AVERROR code.
std::string av_error_string(int code);

// Throws Error(kind, context + ": " + av_strerror(code)). A missing file reported by FFmpeg
// (ENOENT) while opening a source is promoted to SourceNotFound.
[[noreturn]] void throw_av_error(int code, ErrorKind kind, const std::string& context);

}  // namespace vistream

// The one error-checking macro: evaluates a libav call once and throws with FFmpeg's reason.
#define VS_CHECK(expr, kind, context)                                   \
  do {                                                                  \
    const int vs_check_ret_ = (expr);                                   \
    if (vs_check_ret_ < 0) ::vistream::throw_av_error(vs_check_ret_, (kind), (context)); \
  } while (0)
