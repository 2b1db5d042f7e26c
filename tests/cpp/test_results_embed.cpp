// copy_with_embedding / read_embedded_text / video_frame_times on the generated clip: text tracks
// and attachments round-trip through mp4 and Matroska, the copied video keeps every frame, and
// what a container cannot carry is refused before anything is written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "test_support.hpp"
#include "vistream/error.hpp"
#include "vistream/results_embed.hpp"

namespace vistream {
namespace {

namespace fs = std::filesystem;
using testing::TestClip;
using testing::test_clip_path;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("vistream-embed-" + std::to_string(::getpid()) + "-" + name)).string();
}

struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() { std::remove(path.c_str()); }
};

TextTrack track(const std::string& name, std::vector<TimedText> samples) {
  TextTrack t;
  t.name = name;
  t.samples = std::move(samples);
  return t;
}

const TextTrack* find_track(const EmbeddedText& text, const std::string& name) {
  for (const TextTrack& t : text.tracks)
    if (t.name == name) return &t;
  return nullptr;
}

TEST(ResultsEmbed, VideoFrameTimesListEveryFrameInDisplayOrder) {
  const std::vector<double> times = video_frame_times(test_clip_path());
  ASSERT_EQ(times.size(), static_cast<size_t>(TestClip::kFrames));
  for (size_t i = 0; i < times.size(); ++i) EXPECT_NEAR(times[i], double(i) / TestClip::kFps, 1e-3) << i;
}

TEST(ResultsEmbed, Mp4TextTracksRoundTripWithGapsAndLongSamples) {
  const std::string out = temp_path("tracks.mp4");
  RemoveOnExit cleanup{out};
  // Back to back, a gap, and a sample longer than a timed text sample's 16-bit length.
  const std::string long_text(70000, 'x');
  TextEmbedding embedding;
  embedding.tracks.push_back(track("labels", {{0, 40, "a"}, {40, 40, "b"}, {200, 80, "line 1\nline 2"}}));
  embedding.tracks.push_back(track("records", {{40, 40, "{\"frame\": 1}"}, {80, 40, long_text}}));
  copy_with_embedding(test_clip_path(), out, embedding);

  EXPECT_EQ(video_frame_times(out).size(), static_cast<size_t>(TestClip::kFrames));
  const EmbeddedText labels = read_embedded_text(out, "labels");
  ASSERT_EQ(labels.tracks.size(), 2u);
  const TextTrack* read = find_track(labels, "labels");
  ASSERT_NE(read, nullptr);
  ASSERT_EQ(read->samples.size(), 3u);  // the gap (80-200 ms) is an empty sample, not a sample
  EXPECT_EQ(read->samples[0].text, "a");
  EXPECT_EQ(read->samples[1].start_ms, 40);
  EXPECT_EQ(read->samples[1].duration_ms, 40);
  EXPECT_EQ(read->samples[2].start_ms, 200);
  EXPECT_EQ(read->samples[2].text, "line 1\nline 2");
  EXPECT_TRUE(find_track(labels, "records")->samples.empty());  // samples only of the track asked for

  const EmbeddedText with_records = read_embedded_text(out, "records");
  const TextTrack* records = find_track(with_records, "records");
  ASSERT_NE(records, nullptr);
  ASSERT_EQ(records->samples.size(), 2u);
  EXPECT_EQ(records->samples[0].text, "{\"frame\": 1}");
  EXPECT_EQ(records->samples[1].text, long_text);
}

TEST(ResultsEmbed, MatroskaCarriesAssAndAttachmentsAndEmbeddingAgainReplaces) {
  const std::string first = temp_path("first.mkv"), second = temp_path("second.mkv");
  RemoveOnExit cleanup_first{first}, cleanup_second{second};
  TextEmbedding embedding;
  embedding.tracks.push_back(track("labels", {{0, 120, "person #3 {0.91}"}, {120, 40, "two\nlines"}}));
  embedding.attachments.push_back(Attachment{"results.jsonl", "application/x-ndjson", std::string("{}\n\0x", 5)});
  copy_with_embedding(test_clip_path(), first, embedding);
  embedding.attachments[0].data = "{\"again\": 1}\n";
  copy_with_embedding(first, second, embedding);

  const EmbeddedText text = read_embedded_text(second, "labels");
  ASSERT_EQ(text.tracks.size(), 1u);
  ASSERT_EQ(text.attachments.size(), 1u);
  EXPECT_EQ(text.attachments[0].filename, "results.jsonl");
  EXPECT_EQ(text.attachments[0].mimetype, "application/x-ndjson");
  EXPECT_EQ(text.attachments[0].data, "{\"again\": 1}\n");
  ASSERT_EQ(text.tracks[0].samples.size(), 2u);
  EXPECT_EQ(text.tracks[0].samples[0].text, "person #3 (0.91)");  // ASS braces open override blocks
  EXPECT_EQ(text.tracks[0].samples[1].text, "two\nlines");
  EXPECT_EQ(text.tracks[0].samples[1].start_ms, 120);
  EXPECT_TRUE(text.tracks[0].shown_by_default == false);
  EXPECT_EQ(video_frame_times(second).size(), static_cast<size_t>(TestClip::kFrames));
}

TEST(ResultsEmbed, RefusesWhatTheContainerCannotCarry) {
  const std::string mp4 = temp_path("refused.mp4"), ts = temp_path("refused.ts"), unordered = temp_path("u.mkv");
  RemoveOnExit a{mp4}, b{ts}, c{unordered};
  TextEmbedding attachment;
  attachment.attachments.push_back(Attachment{"r.jsonl", "application/x-ndjson", "{}\n"});
  TextEmbedding text;
  text.tracks.push_back(track("labels", {{0, 40, "a"}}));
  TextEmbedding out_of_order;
  out_of_order.tracks.push_back(track("labels", {{40, 40, "b"}, {0, 40, "a"}}));
  for (const auto& [path, embedding] : {std::pair{mp4, &attachment}, std::pair{ts, &text},
                                        std::pair{unordered, &out_of_order}}) {
    try {
      copy_with_embedding(test_clip_path(), path, *embedding);
      ADD_FAILURE() << path << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    }
    EXPECT_FALSE(fs::exists(path)) << "nothing is written when the request is refused";
  }
  try {
    video_frame_times(temp_path("missing.mp4"));
    ADD_FAILURE() << "a missing file was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::SourceNotFound) << e.what();
  }
}

}  // namespace
}  // namespace vistream
