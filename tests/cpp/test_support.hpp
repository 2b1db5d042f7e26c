// Shared helpers of the core's C++ tests: a generated test clip and deadlines for calls that
// must not block. Tests of blocking behaviour (queues, the cancel token, stop()) use
// finishes_within() so a missing wake-up fails with a message instead of hanging ctest.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "vistream/av_ptr.hpp"

namespace vistream::testing {

// The generated clip (H.264 in mp4, 160x120, 25 fps, 50 frames, a keyframe every 12 frames,
// B-frames so decode order differs from display order). testsrc2 draws a different picture in
// every frame, so a frame's checksum identifies it.
struct TestClip {
  static constexpr int kWidth = 160;
  static constexpr int kHeight = 120;
  static constexpr int kFps = 25;
  static constexpr int kFrames = 50;
  static constexpr int kGop = 12;  // keyframes at 0, 12, 24, 36, 48
};

// Path of the clip, generated with the ffmpeg CLI on first use and shared by all test
// processes (written under a temporary name, then renamed). Throws when ffmpeg fails.
const std::string& test_clip_path();

// Runs `work` on a new thread and waits up to `deadline` for it to return. If it does not, the
// test fails with `what` and the process exits: a thread stuck in a wait can be neither joined
// nor detached safely, and the rest of the binary must not hang behind it.
void finishes_within(std::chrono::milliseconds deadline, const std::string& what,
                     std::function<void()> work);

// Sanitized builds run several times slower; deadlines are generous so only a real hang trips them.
constexpr std::chrono::milliseconds kNoHangDeadline{10000};

// A grayscale frame of the given size whose every pixel is `value`.
UniqueFrame make_gray_frame(int width, int height, uint8_t value);

// FNV-1a over the visible pixels of plane 0 (ignores linesize padding).
uint64_t plane_checksum(const AVFrame* frame);

}  // namespace vistream::testing
