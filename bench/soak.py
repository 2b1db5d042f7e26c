"""Soak: does a long run leak memory, file descriptors or threads?

Two loads, each sampled for RSS (VmRSS), open file descriptors (/proc/self/fd) and threads
(/proc/self/status) of this process:

- ``files``: N iterations of decode + pipeline (a cheap plugin chain: a synthetic detector, the
  IoU tracker, the box annotator) + encode, each a fresh ``Player(clip, output=...)`` on a small
  generated H.264+AAC clip, plus a ``Reader`` pass with a seek and a batch fetch; one sample
  after every iteration.
- ``live``: one ``Player`` reading a live UDP MPEG-TS stream from the ffmpeg CLI on 127.0.0.1
  (looping the same clip in real time) through the same pipeline, encoding it, for M minutes;
  one sample per second from a second thread.

Growth is reported after a warm-up (allocator pools, codec tables, thread pools and caches fill
in the first iterations / seconds): RSS as last-minus-warm, as a least-squares slope over the
samples after warm-up and as the trend (median of the last third minus median of the first
third: robust to the allocator returning memory now and then), fds and threads as the largest count after warm-up minus the count at
its end. ``tests/test_soak.py`` runs a small count and asserts the tolerances given there;
BENCHMARKS.md ("Soak") has a long run's numbers.

    python bench/soak.py                                     # 200 iterations, 5 live minutes
    python bench/soak.py --iterations 40 --live-seconds 30 --json soak.json
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

import vistream as vs
from vistream.annotate import BoxAnnotator
from vistream.track import IoUTracker

FF = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def _libc_malloc_trim():
    """glibc's ``malloc_trim``, or None on another C library."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def process_sample() -> Dict[str, float]:
    """RSS (MiB), open fds and threads of this process, now.

    Free memory glibc keeps cached in its arenas is handed back first (``malloc_trim``): without it
    RSS moved by ~20 MiB between samples as arenas were kept or returned at random, which hid a
    small leak and, in a short run, looked like one (a 19.6 MiB "trend" with the last sample below
    the first). A leak is memory still in use, and trimming does not release that."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024.0,
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": int(fields["Threads"]),
    }


def make_clip(folder: Path, seconds: int = 2) -> Path:
    """A small H.264 + AAC clip (320x240, 30 fps) with a GOP of 15."""
    clip = folder / "soak.mp4"
    subprocess.run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={seconds}", "-f", "lavfi",
                         "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
                         "-pix_fmt", "yuv420p", "-g", "15", "-c:a", "aac", "-shortest", str(clip)], check=True)
    return clip


class MovingBoxDetector:
    """A cheap stand-in detector: two boxes moving with the frame index (no model, no allocation churn
    beyond what a real detector's result costs)."""

    def __call__(self, image: np.ndarray) -> vs.Detections:
        height, width = image.shape[:2]
        step = float(self.calls % 50)
        self.calls += 1
        return vs.Detections(xyxy=[[10 + step, 20, 60 + step, 90], [width - 80, height - 60 - step, width - 20,
                                                                    height - 10 - step]],
                             confidence=[0.9, 0.8], class_id=[0, 0])

    def __init__(self) -> None:
        self.calls = 0


def make_pipeline() -> vs.Pipeline:
    # The pipeline keeps replay records for its last ``replay_window`` frames (3000 by default:
    # 100 s of 30 fps video, growing on purpose until then). A short window reaches that bound
    # within the warm-up, so growth after it is a leak, not the window filling.
    return vs.Pipeline(detector=MovingBoxDetector(), tracker=IoUTracker(), annotators=[BoxAnnotator()],
                       replay_window=120)


def growth(samples: List[Dict[str, float]], warmup: int) -> Dict[str, float]:
    """What grew after the first ``warmup`` samples."""
    after = samples[warmup:]
    if len(after) < 2:
        raise ValueError(f"need at least 2 samples after a warm-up of {warmup}, got {len(after)}")
    rss = np.array([s["rss_mib"] for s in after])
    slope = float(np.polyfit(np.arange(len(rss)), rss, 1)[0])
    # Even trimmed, single samples jump (a frame pool or an arena grown at that moment); medians of
    # the first and last thirds follow a trend, not a jump.
    third = max(1, len(rss) // 3)
    trend = float(np.median(rss[-third:]) - np.median(rss[:third]))
    return {
        "samples": len(samples),
        "warmup": warmup,
        "rss_at_warmup_mib": round(float(rss[0]), 2),
        "rss_last_mib": round(float(rss[-1]), 2),
        "rss_max_mib": round(float(rss.max()), 2),
        "rss_growth_mib": round(float(rss[-1] - rss[0]), 2),
        "rss_slope_mib_per_sample": round(slope, 4),
        "rss_trend_mib": round(trend, 2),
        "rss_median_first_third_mib": round(float(np.median(rss[:third])), 2),
        "fds_at_warmup": int(after[0]["fds"]),
        "fds_growth": int(max(s["fds"] for s in after) - after[0]["fds"]),
        "fds_last": int(after[-1]["fds"]),
        "threads_at_warmup": int(after[0]["threads"]),
        "threads_growth": int(max(s["threads"] for s in after) - after[0]["threads"]),
        "threads_last": int(after[-1]["threads"]),
    }


def soak_files(clip: Path, folder: Path, iterations: int, warmup: int) -> Dict[str, object]:
    """Decode + pipeline + encode, then a Reader pass, ``iterations`` times; a sample after each."""
    samples = []
    frames = 0
    started = time.monotonic()
    output = folder / "soak-out.mp4"
    for _ in range(iterations):
        player = vs.Player(clip, output=str(output))
        player.on_frame(make_pipeline())
        frames += player.run().frames_encoded
        with vs.Reader(clip) as reader:
            for _ in reader:
                pass
            reader.seek(index=len(reader) // 2)
            next(reader)
            reader.frames_at([0, 5, len(reader) - 1], stack=True)
        samples.append(process_sample())
    result = growth(samples, warmup)
    result.update(iterations=iterations, frames_encoded=frames, seconds=round(time.monotonic() - started, 1),
                  series=samples)
    return result


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def soak_live(clip: Path, folder: Path, seconds: float, warmup_seconds: float) -> Dict[str, object]:
    """A live UDP MPEG-TS source for ``seconds``, through the pipeline into a file; a sample per second."""
    port = free_udp_port()
    url = f"udp://127.0.0.1:{port}"
    sender = subprocess.Popen(FF + ["-re", "-stream_loop", "-1", "-i", str(clip), "-c", "copy", "-f", "mpegts",
                                    f"{url}?pkt_size=1316"], stdin=subprocess.DEVNULL)
    samples: List[Dict[str, float]] = []
    done = threading.Event()
    try:
        player = vs.Player(url, output=str(folder / "soak-live.mkv"), timeout=10)
        player.on_frame(make_pipeline())

        def sample_every_second() -> None:
            deadline = time.monotonic() + seconds
            while not done.wait(1.0):
                samples.append(process_sample())
                if time.monotonic() >= deadline:
                    player.stop()
                    return

        sampler = threading.Thread(target=sample_every_second, name="soak-sampler")
        sampler.start()
        try:
            stats = player.run()
        finally:
            done.set()
            sampler.join()
    finally:
        sender.terminate()
        sender.wait(10)
    result = growth(samples, int(warmup_seconds))
    result.update(seconds=seconds, frames_processed=stats.frames_processed, frames_encoded=stats.frames_encoded,
                  series=samples)
    return result


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="file iterations (0: skip)")
    parser.add_argument("--warmup", type=int, default=20, help="file iterations not counted for growth")
    parser.add_argument("--live-seconds", type=float, default=300, help="seconds of live UDP (0: skip)")
    parser.add_argument("--live-warmup", type=float, default=30, help="live seconds not counted for growth")
    parser.add_argument("--json", help="write the report (with every sample) here")
    args = parser.parse_args(argv)
    vs.set_log_level("ERROR")
    report: Dict[str, object] = {"machine": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                                 "vistream": vs.__version__, "start": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    with tempfile.TemporaryDirectory(prefix="vistream-soak-") as scratch:
        folder = Path(scratch)
        clip = make_clip(folder)
        report["baseline"] = process_sample()
        if args.iterations:
            report["files"] = soak_files(clip, folder, args.iterations, args.warmup)
        if args.live_seconds:
            report["live"] = soak_live(clip, folder, args.live_seconds, args.live_warmup)
    for name in ("files", "live"):
        if name in report:
            shown = {k: v for k, v in report[name].items() if k != "series"}
            print(f"{name}: {json.dumps(shown)}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
