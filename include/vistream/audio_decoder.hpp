// Opening a decoder for an audio stream: shared by the file output (transcode path) and the
// speaker output, which each decode the same packets independently.
#pragma once

#include "vistream/av_ptr.hpp"

namespace vistream {

// An opened decoder for `stream` (timestamps in the stream's time base). Throws Error(Decode).
UniqueCodecContext open_audio_decoder(const AVStream* stream);

}  // namespace vistream
