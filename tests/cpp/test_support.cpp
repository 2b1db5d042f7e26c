#include "test_support.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "vistream/error.hpp"

namespace vistream::testing {

namespace fs = std::filesystem;

const std::string& test_clip_path() {
  static const std::string path = [] {
    const fs::path dir = VISTREAM_TEST_MEDIA_DIR;
    // The version suffix changes whenever the generating command changes.
    const fs::path clip = dir / "testsrc2_160x120_25fps_50f_gop12_bf2_v1.mp4";
    if (fs::exists(clip)) return clip.string();
    fs::create_directories(dir);
    const fs::path partial = dir / ("partial-" + std::to_string(::getpid()) + ".mp4");
    const std::string command =
        "ffmpeg -nostdin -hide_banner -loglevel error -y "
        "-f lavfi -i testsrc2=size=160x120:rate=25:duration=2 "
        "-c:v libx264 -preset ultrafast -g 12 -keyint_min 12 -sc_threshold 0 -bf 2 "
        "-pix_fmt yuv420p '" + partial.string() + "'";
    const int status = std::system(command.c_str());
    if (status != 0 || !fs::exists(partial)) {
      throw Error(ErrorKind::Generic, "generating the test clip failed (status " +
                                          std::to_string(status) + "): " + command);
    }
    fs::rename(partial, clip);  // atomic: a concurrent test process sees all or nothing
    return clip.string();
  }();
  return path;
}

void finishes_within(std::chrono::milliseconds deadline, const std::string& what,
                     std::function<void()> work) {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::thread worker([&] {
    work();
    std::lock_guard lock(mutex);
    done = true;
    done_cv.notify_all();
  });
  std::unique_lock lock(mutex);
  if (!done_cv.wait_for(lock, deadline, [&] { return done; })) {
    ADD_FAILURE() << what << ": still blocked after " << deadline.count() << " ms";
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(1);
  }
  lock.unlock();
  worker.join();
}

UniqueFrame make_gray_frame(int width, int height, uint8_t value) {
  UniqueFrame frame = make_frame();
  frame->format = AV_PIX_FMT_GRAY8;
  frame->width = width;
  frame->height = height;
  if (av_frame_get_buffer(frame.get(), 0) < 0) throw std::bad_alloc();
  for (int y = 0; y < height; ++y)
    std::fill_n(frame->data[0] + static_cast<ptrdiff_t>(y) * frame->linesize[0], width, value);
  return frame;
}

uint64_t plane_checksum(const AVFrame* frame) {
  uint64_t hash = 1469598103934665603ull;
  for (int y = 0; y < frame->height; ++y) {
    const uint8_t* row = frame->data[0] + static_cast<ptrdiff_t>(y) * frame->linesize[0];
    for (int x = 0; x < frame->width; ++x) {
      hash ^= row[x];
      hash *= 1099511628211ull;
    }
  }
  return hash;
}

}  // namespace vistream::testing
