"""Outputs pushed to real servers on 127.0.0.1 and read back with vistream (issue 10).

The publisher is vistream (a Writer fed solid red frames at the media's pace, or a Player);
the server is a real program (nginx-rtmp, rtsp-server-perl, srt-live-transmit, or none for
UDP); the frames read back must be the red ones written. Before this issue every one of these
outputs failed with "cannot tell the container format".
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

import vistream
from conftest import ffprobe_frames
from live_servers import free_port, perl_rtsp_server, start_nginx_rtmp, start_perl_rtsp, start_srt_to_udp  # noqa: F401

RED_BGR = np.zeros((240, 320, 3), np.uint8)
RED_BGR[:, :, 2] = 255


class Publisher:
    """A Writer pushing red frames at 25 fps from a thread until stopped (or 30 s)."""

    def __init__(self, url, **options) -> None:
        self.url = url
        self.options = options
        self.error = None
        self.written = 0
        self.stats = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with vistream.Writer(self.url, fps=25, gop=25, **self.options) as writer:
                start = time.monotonic()
                while not self._stop.is_set() and time.monotonic() - start < 30:
                    writer.write(RED_BGR)
                    self.written += 1
                    time.sleep(max(0.0, start + self.written / 25 - time.monotonic()))
            self.stats = writer.stats
        except BaseException as error:  # reported by stop()
            self.error = error

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=20)
        assert not self._thread.is_alive(), "the publisher did not stop"
        if self.error is not None:
            raise self.error
        return self.stats


def read_red_frames(url: str, count: int, **options) -> int:
    """Reads `count` frames from `url`; every one must be the red picture. Returns how many."""
    got = 0
    with vistream.Reader(url, timeout=15, **options) as reader:
        for frame in reader:
            blue, green, red = frame.array.reshape(-1, 3).mean(axis=0)
            assert red > 200 and blue < 60 and green < 60, f"frame {got} is not the red picture: {blue, green, red}"
            got += 1
            if got == count:
                break
    return got


def test_udp_output_reads_back(tmp_path):
    port = free_port(socket.SOCK_DGRAM)
    publisher = Publisher(f"udp://127.0.0.1:{port}")
    try:
        assert read_red_frames(f"udp://127.0.0.1:{port}", 30) == 30
    finally:
        stats = publisher.stop()
    (output,) = stats.outputs
    assert output.format == "mpegts" and output.network and output.packets_written >= 30


def test_rtmp_push_to_nginx_reads_back(tmp_path):
    server, port = start_nginx_rtmp(tmp_path)
    url = f"rtmp://127.0.0.1:{port}/live/pushed"
    try:
        publisher = Publisher(url)
        try:
            time.sleep(1.0)  # the stream exists once the publisher connected
            assert read_red_frames(url, 30) == 30
        finally:
            stats = publisher.stop()
    finally:
        server.stop()
    assert stats.outputs[0].format == "flv" and stats.outputs[0].failures == 0


def test_rtsp_publish_to_rtsp_server_perl_reads_back(tmp_path):
    server, client_port, source_port = start_perl_rtsp(tmp_path)
    try:
        publisher = Publisher(f"rtsp://127.0.0.1:{source_port}/live", output_options={"rtsp_transport": "udp"})
        try:
            time.sleep(1.5)  # ANNOUNCE/RECORD: the mount exists only then
            for attempt in range(3):  # on a loaded machine the first join may come before the stream settled
                try:
                    got = read_red_frames(f"rtsp://127.0.0.1:{client_port}/live", 30,
                                          input_options={"rtsp_transport": "udp"})
                    break
                except vistream.SourceError:
                    if attempt == 2:
                        raise
                    time.sleep(1.0)
            assert got == 30
        finally:
            stats = publisher.stop()
    finally:
        server.stop()
    assert stats.outputs[0].format == "rtsp"


def test_srt_output_through_srt_live_transmit_reads_back(tmp_path):
    server, srt_port, udp_port = start_srt_to_udp(tmp_path)
    try:
        publisher = Publisher(f"srt://127.0.0.1:{srt_port}?mode=caller")
        try:
            assert read_red_frames(f"udp://127.0.0.1:{udp_port}", 30) == 30
        finally:
            stats = publisher.stop()
    finally:
        server.stop()
    assert stats.outputs[0].format == "mpegts" and stats.outputs[0].packets_written > 0


def test_file_and_stream_at_once_survive_the_server_dying(tmp_path):
    """Record a file and push RTMP from one encoding; nginx is killed at frame 60 and restarted
    at frame 120: the file has every frame and plays, the stream failed, was counted and came back."""
    clip = tmp_path / "clip.mp4"  # 240 frames + sound at 320x240: cheap to re-encode
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=8", "-f", "lavfi",
                    "-i", "sine=d=8", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(clip)],
                   check=True, timeout=120)
    server_dir = tmp_path / "nginx"
    server_dir.mkdir()
    server, port = start_nginx_rtmp(server_dir)
    url = f"rtmp://127.0.0.1:{port}/live/rec"
    recording = tmp_path / "rec.mp4"
    player = vistream.Player(str(clip), output=[str(recording), url], reconnect_delay=0.2, reconnect_delay_max=0.3)
    servers = [server]

    @player.on_frame
    def pace(frame):
        time.sleep(0.015)  # ~4 s in all: time for the failure to show and the retries to work
        if frame.index == 60:  # the whole group: nginx's worker holds the connection
            os.killpg(servers[0].process.pid, signal.SIGKILL)
            servers[0].process.wait(timeout=5)
        if frame.index == 120:
            servers[0], _ = start_nginx_rtmp(server_dir, port)

    try:
        stats = player.run()
    finally:
        servers[0].stop()
    assert stats.frames_encoded == 240
    file_output, stream_output = stats.outputs
    assert file_output.url == str(recording) and file_output.failures == 0
    assert stream_output.url == url and stream_output.failures >= 1 and stream_output.reconnects >= 1
    assert stream_output.last_error
    with vistream.Reader(str(recording)) as reader:
        assert sum(1 for _ in reader) == 240


def test_recording_an_rtsp_source_gives_strictly_increasing_timestamps(tmp_path, perl_rtsp_server):
    """Joining a live RTSP stream mid-GOP: the recording must succeed with growing timestamps."""
    output = tmp_path / "rtsp.mp4"
    player = vistream.Player(perl_rtsp_server, output=str(output), input_options={"rtsp_transport": "udp"},
                             timeout=15)

    @player.on_frame
    def stop_after_two_seconds(frame):
        if frame.index >= 60:
            player.stop()

    stats = player.run()
    assert stats.frames_encoded >= 30
    frames = ffprobe_frames(output)
    times = frames["pts"]
    assert frames["count"] == len(times) == stats.frames_encoded
    assert None not in times
    assert all(b > a for a, b in zip(times, times[1:])), "output timestamps must grow strictly"


def test_a_stream_that_cannot_connect_fails_clearly_when_it_is_the_only_output(tmp_path):
    port = free_port()  # nothing listens there
    writer = vistream.Writer(f"rtmp://127.0.0.1:{port}/live/x", fps=25)
    started = time.monotonic()
    with pytest.raises(vistream.SourceError, match=f"127.0.0.1:{port}"):
        writer.write(RED_BGR)
    assert time.monotonic() - started < 6  # bounded, never a hang
    writer.close()
    # Beside a file, the same stream is retried while the file is written in full.
    recording = tmp_path / "rec.mkv"
    with vistream.Writer([recording, f"rtmp://127.0.0.1:{port}/live/x"], fps=25, reconnect_delay_max=0.2) as writer:
        for _ in range(50):
            writer.write(RED_BGR)
            time.sleep(0.01)
    file_output, stream_output = writer.stats.outputs
    assert file_output.packets_written == 50 and file_output.failures == 0
    assert stream_output.failures >= 2 and stream_output.packets_written == 0 and not stream_output.connected
    with vistream.Reader(str(recording)) as reader:
        assert sum(1 for _ in reader) == 50
