"""Network outputs next to a recording: a bad stream must never cost the recording anything.

Each network output has its own link thread (connect, write, reconnect with backoff); the
encode thread only queues packets for it. These tests use real sockets and servers on
127.0.0.1: a listener that never answers, a TCP server that drops its client, rtsp-server-perl
killed and restarted in place.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import vistream
from live_servers import (RecordingTcpServer, SilentTcpListener, start_perl_rtsp, start_perl_rtsp_on,
                          wait_until)

FRAME = np.zeros((240, 320, 3), np.uint8)
FRAME[:, :, 2] = 255  # red in BGR


def moving_frame(index: int) -> np.ndarray:
    """A picture that changes every frame (so the encoder has real work), still mostly red."""
    frame = FRAME.copy()
    frame[:, (index * 4) % 320:(index * 4) % 320 + 8] = 255
    return frame


def write_paced(writer: "vistream.Writer", count: int, fps: float = 25.0) -> "tuple[float, float]":
    """Writes `count` frames at `fps` (a camera's pace); returns (total seconds, slowest write())."""
    started = time.monotonic()
    slowest = 0.0
    for index in range(count):
        asked = time.monotonic()
        writer.write(moving_frame(index))
        slowest = max(slowest, time.monotonic() - asked)
        time.sleep(max(0.0, started + (index + 1) / fps - time.monotonic()))
    return time.monotonic() - started, slowest


def count_frames(path: Path) -> int:
    with vistream.Reader(str(path)) as reader:
        return sum(1 for _ in reader)


def test_an_unanswering_stream_costs_the_recording_nothing(tmp_path):
    """rtmp:// to a host that accepts the TCP connection and then never answers (each attempt
    blocks until its 5 s deadline, retried every 0.5 s): a recording written at 25 fps beside it
    keeps its pace and gets every frame, stats answer at once while an attempt hangs, and
    close() cancels the attempt."""
    frames = 75  # 3 s at 25 fps: the first attempt and a retry fall inside
    with vistream.Writer(tmp_path / "alone.mkv", fps=25, preset="ultrafast") as writer:
        _, slowest_alone = write_paced(writer, frames)

    silent = SilentTcpListener()
    url = f"rtmp://127.0.0.1:{silent.port}/live/x"
    recording = tmp_path / "rec.mkv"
    slowest_stats = 0.0
    states = set()
    stop_polling = threading.Event()
    try:
        writer = vistream.Writer([recording, url], fps=25, preset="ultrafast", reconnect_delay_max=0.5)

        def poll_stats() -> None:
            nonlocal slowest_stats
            while not stop_polling.is_set():
                asked = time.monotonic()
                outputs = writer.stats.outputs
                slowest_stats = max(slowest_stats, time.monotonic() - asked)
                if outputs:
                    states.add(outputs[1].state)
                time.sleep(0.01)

        poller = threading.Thread(target=poll_stats, daemon=True)
        poller.start()
        elapsed, slowest_write = write_paced(writer, frames)
        stop_polling.set()
        poller.join(timeout=10)
        closing = time.monotonic()
        writer.close()
        close_time = time.monotonic() - closing
    finally:
        stop_polling.set()
        silent.close()

    file_output, stream_output = writer.stats.outputs
    assert count_frames(recording) == frames
    assert file_output.packets_written >= frames and file_output.failures == 0
    # Timings taken on a shared 2-core machine: generous margins, yet far below one 5 s attempt.
    assert elapsed < frames / 25 + 1.0, f"{frames} frames at 25 fps took {elapsed:.2f} s beside the silent stream"
    assert slowest_write < slowest_alone + 0.3, \
        f"a write() took {slowest_write:.2f} s beside the silent stream, {slowest_alone:.2f} s alone"
    assert slowest_stats < 0.05, f"stats took {slowest_stats * 1000:.0f} ms during a connection attempt"
    assert close_time < 0.5, f"close() took {close_time:.2f} s with a connection attempt pending"
    assert "connecting" in states  # the first attempt hangs past the 3 s of writing
    assert stream_output.state == "closed" and not stream_output.connected
    assert stream_output.last_error == "closed while not connected"
    assert stream_output.packets_written == 0 and stream_output.packets_dropped > 0


def ffprobe_packets(path: Path) -> list:
    """The video packets of an MPEG-TS capture: [(pts, keyframe)] in stream order."""
    result = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                             "packet=pts,flags", "-of", "json", str(path)],
                            capture_output=True, text=True, timeout=60, check=True)
    return [(int(p["pts"]), "K" in p["flags"]) for p in json.loads(result.stdout)["packets"]]


def test_a_stream_that_reconnects_restarts_at_a_forced_keyframe(tmp_path):
    """A TCP server drops its client mid-stream; the output reconnects. With one keyframe every
    250 frames, the new connection still starts at once with a keyframe (forced from the
    encoder), decodes from its first packet, and its timestamps continue the first ones."""
    server = RecordingTcpServer()
    recording = tmp_path / "rec.mkv"
    try:
        writer = vistream.Writer([recording, f"tcp://127.0.0.1:{server.port}"], fps=25, gop=250,
                                 preset="ultrafast", reconnect_delay_max=0.3)
        for index in range(100):
            writer.write(moving_frame(index))
            time.sleep(0.02)
            if index == 30:
                wait_until(lambda: len(server.connections) == 1 and len(server.connections[0]) > 0, 5,
                           "the first connection's data")
                server.drop_current()
        wait_until(lambda: writer.stats.outputs[1].reconnects >= 1, 5, "the reconnection")
        writer.close()
    finally:
        server.close()
    assert count_frames(recording) == 100
    stream = writer.stats.outputs[1]
    assert stream.failures >= 1 and stream.reconnects >= 1
    first, second = tmp_path / "first.ts", tmp_path / "second.ts"
    first.write_bytes(bytes(server.connections[0]))
    second.write_bytes(bytes(server.connections[1]))
    before, after = ffprobe_packets(first), ffprobe_packets(second)
    assert before and after
    assert after[0][1], "the reconnected stream must start with a keyframe"
    assert len(after) >= 30, f"only {len(after)} frames after the reconnect: the keyframe was not forced"
    times = [pts for pts, _ in after]
    assert all(b > a for a, b in zip(times, times[1:])) and times[0] > before[-1][0]
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(second), "-f", "null", "-"],
                             capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr


def udp_sockets_of_this_process() -> int:
    """UDP sockets open in this process (/proc: socket inodes of our fds found in /proc/net/udp)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            if line.split()[9] in inodes:
                count += 1
    return count


def test_rtsp_publish_defaults_to_tcp_and_notices_a_dead_server(tmp_path):
    """RTSP publishing goes over TCP unless `rtsp_transport` says otherwise: no RTP/UDP socket
    is opened (over UDP, a silently vanished host is never noticed: RTP writes do not fail).
    The server is killed: the output goes down at once and reconnects when it is back."""
    server, client_port, source_port = start_perl_rtsp(tmp_path)
    url = f"rtsp://127.0.0.1:{source_port}/live"
    udp_before = udp_sockets_of_this_process()
    try:
        writer = vistream.Writer([tmp_path / "rec.mkv", url], fps=25, gop=25, preset="ultrafast",
                                 reconnect_delay_max=0.3)
        index = 0

        def write_until(condition, timeout: float, what: str) -> None:
            nonlocal index
            deadline = time.monotonic() + timeout
            while True:
                writer.write(moving_frame(index))
                index += 1
                if condition():
                    return
                assert time.monotonic() < deadline, f"timed out waiting for {what}: {writer.stats.outputs[1]}"
                time.sleep(0.04)

        write_until(lambda: writer.stats.outputs[1].packets_written > 10, 10, "packets sent")
        assert udp_sockets_of_this_process() == udp_before, "the publish opened UDP sockets: not TCP"
        assert writer.stats.outputs[1].state == "connected"
        server.kill()
        killed = time.monotonic()
        write_until(lambda: writer.stats.outputs[1].state == "reconnecting", 5, "the failure to show")
        noticed_after = time.monotonic() - killed
        written_before = writer.stats.outputs[1].packets_written
        server = start_perl_rtsp_on(tmp_path, client_port, source_port)
        write_until(lambda: writer.stats.outputs[1].reconnects >= 1
                    and writer.stats.outputs[1].packets_written > written_before + 10, 15, "the reconnection")
        writer.close()
    finally:
        server.stop()
    stream = writer.stats.outputs[1]
    assert noticed_after < 2.0 and stream.failures >= 1 and stream.reconnects >= 1
    assert count_frames(tmp_path / "rec.mkv") == index
