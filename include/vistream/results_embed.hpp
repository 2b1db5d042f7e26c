// Timed text and attached files added to a finished media file, and read back from one.
//
// Results embedded in the output (python/vistream/embedded_results.py) are written by a
// finalize step after the run: every stream of the finished file is copied packet for packet
// (nothing is decoded or re-encoded) into a new file that also carries subtitle tracks and
// attachments. The recording path (Muxer, Writer) stays as it is, and a failure here can
// never cost the recording: the caller writes to a partial name and renames on success.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vistream {

// One sample of a text track, timed in milliseconds on the file's timeline (the timeline of
// its packets' timestamps, as video_frame_times() reports them).
struct TimedText {
  int64_t start_ms = 0;
  int64_t duration_ms = 0;
  std::string text;  // UTF-8; '\n' breaks lines
};

// A subtitle track. Its codec follows the container: mov_text (3GPP timed text, 'tx3g') in
// mp4/mov, ASS in Matroska.
struct TextTrack {
  std::string name;                 // mp4: the handler name; Matroska: the track name (title)
  std::string language = "und";     // ISO 639-2
  bool shown_by_default = false;    // the default disposition: players show it unasked
  std::vector<TimedText> samples;   // start_ms strictly increasing, duration_ms > 0
};

// A file stored inside the container (Matroska attachments).
struct Attachment {
  std::string filename;
  std::string mimetype;
  std::string data;
};

struct TextEmbedding {
  std::vector<TextTrack> tracks;
  std::vector<Attachment> attachments;
  int video_width = 0;   // the ASS script's PlayResX/PlayResY (0: taken from the source's video)
  int video_height = 0;
};

// Copies every stream of `source` into the new file `destination` (container chosen from its
// extension), keeping packets, timestamps, metadata, dispositions and side data (rotation), and
// adds `embedding`'s tracks and attachments. Streams of `source` named like one of the new
// tracks, and attachments with one of the new filenames, are left out: embedding again replaces,
// it never duplicates. Throws Error(InvalidArgument) when the container cannot carry what is
// asked (attachments outside Matroska, text outside mp4/mov/Matroska, unordered samples),
// Error(Source/SourceNotFound) when `source` cannot be read, Error(Encoder) when writing fails.
// On failure `destination` may be left partly written: the caller removes it.
void copy_with_embedding(const std::string& source, const std::string& destination,
                         const TextEmbedding& embedding);

// Presentation times in seconds of the packets of the file's first video stream, ascending
// (the demuxer's timeline: edit lists applied). Reads packets only, decodes nothing.
std::vector<double> video_frame_times(const std::string& path);

// The text tracks and attachments of a file. Every text subtitle track is listed (name from the
// handler name or title tag); the samples are read only for tracks named `samples_of` (an empty
// name reads none, so a file whose attachments are all that is wanted is not read through).
struct EmbeddedText {
  std::vector<TextTrack> tracks;
  std::vector<Attachment> attachments;
};
EmbeddedText read_embedded_text(const std::string& path, const std::string& samples_of);

}  // namespace vistream
