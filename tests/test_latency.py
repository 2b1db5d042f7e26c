"""Live sources in real time: newest frame wins, latency stays bounded and is reported.

The true latency is measured without trusting any clock of the engine: the sender paints its
wallclock into every frame (bench/latency.py's pixel clock) and the callback reads it back from
the pixels it got."""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from live_servers import clock_udp_feed, free_port, load_latency_bench, rtsp_server  # noqa: F401  (fixtures)

bench = load_latency_bench()


@pytest.mark.parametrize("width, height", [(320, 240), (1280, 720)])
def test_pixel_clock_encodes_and_decodes_exactly(width, height):
    now = int(time.time() * 1000)
    for milliseconds in (now, now - 1, now + 123_456, 0, (1 << 40) - 1, 1 << 40, 2**41 + 7):
        gray = np.full((height, width), 128, np.uint8)
        bench.paint_clock(gray, milliseconds)
        assert bench.read_clock(gray, now_ms=milliseconds) == milliseconds
        bgr = np.repeat(gray[..., None], 3, axis=2)
        assert bench.read_clock(bgr, now_ms=milliseconds + 5000) == milliseconds  # unwrapped to the nearest
    # A damaged code is refused, not misread: flip one block of the timestamp.
    gray = np.full((height, width), 128, np.uint8)
    bench.paint_clock(gray, now)
    side = bench.block_size(width)
    block = gray[side:2 * side, 5 * side:6 * side]
    block[...] = 255 - block
    assert bench.read_clock(gray, now_ms=now) is None


def test_pixel_clock_survives_h264(tmp_path, vs):
    # Through the encoder the bench uses, and back through vistream's decoder: exact.
    stamps = [int(time.time() * 1000) + 37 * k for k in range(10)]
    raw = b""
    for stamp in stamps:
        gray = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
        bench.paint_clock(gray, stamp)
        raw += gray.tobytes()
    out = tmp_path / "clock.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "gray", "-video_size", "320x240",
                    "-framerate", "30", "-i", "pipe:0", "-c:v", "libx264", "-preset", "ultrafast", "-tune",
                    "zerolatency", "-pix_fmt", "yuv420p", str(out)], input=raw, check=True)
    with vs.Reader(out) as reader:
        assert [bench.read_clock(frame.array, now_ms=stamps[0]) for frame in reader] == stamps


def run_live(vs, url: str, seconds: float, work: float, **options):
    """Real-time Player on `url` for `seconds` with a callback taking `work` seconds per frame.
    Returns (stats, [(seconds since the first frame, true latency)])."""
    player = vs.Player(url, mode="realtime", display=False, play_audio=False, timeout=(20, 10), **options)
    samples = []
    first = []

    @player.on_frame
    def on_frame(frame):
        now = time.time()
        painted = bench.read_clock(frame.array, now_ms=int(now * 1000))
        if painted is not None:
            if not first:
                first.append(now)
            samples.append((now - first[0], now - painted / 1000.0))
        time.sleep(work)

    stopper = threading.Timer(seconds, player.stop)
    stopper.start()
    try:
        stats = player.run()
    finally:
        stopper.cancel()
    return stats, samples


def test_slow_callback_on_a_live_source_gets_the_newest_frame_and_latency_stays_bounded(vs, clock_udp_feed):
    # 30 s of a 30 fps stream, a callback that needs 100 ms per frame (3 frames' time): two of
    # three frames must be dropped, and what the callback gets must stay fresh the whole time.
    stats, samples = run_live(vs, clock_udp_feed, seconds=32, work=0.100)
    assert samples and samples[-1][0] > 25, samples[-3:]
    latencies = [latency for _, latency in samples]
    third = len(latencies) // 3
    early, late = statistics.median(latencies[:third]), statistics.median(latencies[-third:])
    assert late - early < 0.100, (early, late)  # does not build up over the run
    steady = sorted(latency for at, latency in samples if at > 2)
    # The newest frame is at most one callback (100 ms) plus the pipeline old; percentiles,
    # not the maximum, since a loaded CI machine may stall this process once in a while.
    assert steady[int(0.95 * len(steady))] < 0.450, steady[-10:]
    assert steady[-1] < 1.500, steady[-10:]
    assert statistics.median(latencies) < 0.300
    # Drops are counted, and every decoded frame is either processed or dropped (the one
    # waiting when stop() came is neither).
    assert stats.frames_processed == pytest.approx(len(samples), abs=2)
    assert stats.frames_dropped > stats.frames_processed
    assert 0 <= stats.frames_decoded - stats.frames_processed - stats.frames_dropped <= 2
    # The engine's own measure: packet arrival -> callback start, every processed frame.
    assert stats.latency_clock == "packet_arrival"
    assert stats.latency_samples == stats.frames_processed
    assert 0 < stats.latency_p50 <= stats.latency_p95 < 0.450 and stats.latency_p95 <= stats.latency_max
    # It starts after the sender's encoding and the network, so it is at most the true latency.
    assert stats.latency_p50 <= statistics.median(latencies) + 0.010


def reader_latencies(vs, url: str, seconds: float, **options) -> list:
    """True latencies of the frames a Reader (not real time: frame threads) gets over `seconds`."""
    latencies = []
    started = time.monotonic()
    with vs.Reader(url, format="gray", timeout=(20, 10), **options) as reader:
        for frame in reader:
            now = time.time()
            painted = bench.read_clock(frame.array, now_ms=int(now * 1000))
            if painted is not None and time.monotonic() - started > 1:
                latencies.append(now - painted / 1000.0)
            if time.monotonic() - started > seconds:
                break
    return latencies


def test_live_realtime_decodes_with_slice_threads_by_default(vs, clock_udp_feed):
    # Three frame threads hold back two frames (67 ms at 30 fps) before the first comes out: a
    # Reader (not real time) keeps them, since they decode faster. A real-time Player on a live
    # source decodes with slice threads by default, holding back none, as low_latency does.
    frame_threads = statistics.median(reader_latencies(vs, clock_udp_feed, seconds=6, threads=3))
    _, default = run_live(vs, clock_udp_feed, seconds=6, work=0.0, threads=3)
    default_p50 = statistics.median(latency for at, latency in default if at > 1)
    assert frame_threads - default_p50 > 0.030, (frame_threads, default_p50)
    stats, low = run_live(vs, clock_udp_feed, seconds=6, work=0.0, threads=3, low_latency=True)
    low_p50 = statistics.median(latency for at, latency in low if at > 1)
    assert abs(default_p50 - low_p50) < 0.030, (default_p50, low_p50)
    assert stats.latency_samples > 100


# A decoder slower than the stream (a CPU-starved machine), simulated by the engine's test
# delay point after each decoded frame: 55 ms per frame, so ~18 of the stream's 30 fps.
_SLOW_DECODER_CHILD = textwrap.dedent('''
    import json, sys, threading, time
    sys.path.insert(0, sys.argv[2])
    from live_servers import load_latency_bench
    import vistream as vs

    bench = load_latency_bench()
    player = vs.Player(sys.argv[1], mode="realtime", display=False, play_audio=False, timeout=(20, 10),
                       reconnect="never")
    samples = []

    @player.on_frame
    def on_frame(frame):
        now = time.time()
        painted = bench.read_clock(frame.array, now_ms=int(now * 1000))
        if painted is not None:
            samples.append((now, now - painted / 1000.0))

    threading.Timer(float(sys.argv[3]), player.stop).start()
    stats = player.run()
    start = samples[0][0] if samples else 0.0
    print(json.dumps({"samples": [(at - start, latency) for at, latency in samples],
                      "frames_late": stats.frames_late, "frames_decoded": stats.frames_decoded}))
''')


def test_live_source_catches_up_when_decoding_falls_behind(clock_udp_feed, tmp_path):
    # Without catching up, the backlog (packets waiting in the socket and FFmpeg's FIFO) grows by
    # 0.4 s every second: ~5 s after 12 s. With it, decoding skips to a keyframe whenever the
    # backlog passes 1 s, so the frames shown stay within ~1 s + a GOP (1 s here) of live.
    child = subprocess.run([sys.executable, "-c", _SLOW_DECODER_CHILD, clock_udp_feed,
                            str(Path(__file__).resolve().parent), "14"],
                           env={**os.environ, "VISTREAM_TEST_DELAYS": "video_decode:55"},
                           capture_output=True, text=True, timeout=90)
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    samples = report["samples"]
    assert samples and samples[-1][0] > 10, samples[-3:]
    late = [latency for at, latency in samples if at > 6]
    assert late and statistics.median(late) < 1.6, late[-10:]
    assert max(late) < 2.6, sorted(late)[-10:]
    assert report["frames_late"] > 30, report["frames_late"]  # skipped undecoded, counted
    # The skipped frames were never decoded: the decoder's own rate, not the stream's.
    assert report["frames_decoded"] < 14 * 30 - report["frames_late"] + 30


def test_files_have_no_capture_latency(vs, test_mp4):
    player = vs.Player(test_mp4, mode="offline", display=False, end=0.5)
    seen = []
    player.on_frame(lambda frame: seen.append(frame.capture_time))
    stats = player.run()
    assert seen and all(value is None for value in seen)
    assert stats.latency_samples == 0 and stats.latency_p50 is None and stats.latency_clock is None


def test_rtsp_latency_uses_the_senders_rtcp_wallclock(vs, rtsp_server):
    # GStreamer's RTSP server sends RTCP sender reports: once the first arrives, capture times
    # come from the stream's wallclock (start_time_realtime), and earlier arrival-based samples
    # are discarded so that every sample used one clock.
    player = vs.Player(rtsp_server, mode="realtime", display=False, play_audio=False,
                       input_options={"rtsp_transport": "tcp"}, timeout=(20, 10))
    clocks = []
    player.on_frame(lambda frame: clocks.append(frame.capture_time))
    stopper = threading.Timer(8, player.stop)
    stopper.start()
    try:
        stats = player.run()
    finally:
        stopper.cancel()
    assert stats.latency_clock == "sender_wallclock"
    assert 0 < stats.latency_samples <= stats.frames_processed
    # Sender and receiver share this machine's clock: the mapping is sane (not off by hours).
    assert abs(stats.latency_p50) < 2.0
    assert all(value is not None for value in clocks)


def test_a_sender_whose_timestamps_run_slow_is_not_skipped_for_good(vs, tmp_path):
    # Frames sent 30 a second but stamped slower (setpts=0.8*PTS: media time runs at 0.8x the
    # wallclock): the gap to the stream's pace grows 0.2 s a second with no backlog
    # behind it. Catching up skips once (~2 s of media), sees that skipping drains nothing, and
    # stops catching up for this connection, instead of skipping every frame from then on.
    port = free_port(socket.SOCK_DGRAM)
    url = f"udp://127.0.0.1:{port}"
    sender = bench.ClockSender(["-vf", "setpts=0.8*PTS", "-f", "mpegts", f"{url}?pkt_size=1316"], width=320,
                               height=240, fps=30, log=tmp_path / "slow-clock-sender.log")
    try:
        stats, samples = run_live(vs, url, seconds=16, work=0.0)
    finally:
        sender.close()
    assert samples and samples[-1][0] > 12, samples[-3:]
    last_seconds = [at for at, _ in samples if at > samples[-1][0] - 4]
    assert len(last_seconds) > 4 * 30 * 0.7, len(last_seconds)  # frames flow at the end of the run
    assert 0 < stats.frames_late < 5 * 30, stats.frames_late  # one skip, a few seconds at most
