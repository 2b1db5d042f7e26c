"""The play CLI's input flags (--input-format, --input-option, --rtsp-transport, --camera,
--capture-size, --capture-fps, --low-latency) reach the engine: each is run through the real
CLI (python/play.py) against a real source whose frames only come out right when the flag
was applied."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ffprobe_count
from live_servers import gst_rtsp_rig, tcp_only_rtsp_server, udp_feed  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
PLAY = [sys.executable, str(REPO / "python" / "play.py")]


def play(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([*PLAY, *arguments], capture_output=True, text=True, timeout=timeout, env=env)


def ffprobe_size(path: Path) -> str:
    return subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                           "-of", "csv=p=0:s=x", str(path)], capture_output=True, text=True, check=True).stdout.strip()


def test_input_format_opens_a_lavfi_graph(tmp_path):
    out = tmp_path / "lavfi.mp4"
    result = play("testsrc2=size=320x240:rate=25:duration=2", "--input-format", "lavfi", "--headless",
                  "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert ffprobe_count(out) == 50
    assert ffprobe_size(out) == "320x240"
    # Without the flag the graph is taken for a file name.
    missing = play("testsrc2=size=320x240:rate=25:duration=2", "--headless")
    assert missing.returncode != 0


def test_capture_size_fps_and_input_option_describe_raw_video(tmp_path):
    # 12 gray frames of 64x48: only video_size + pixel_format (+ framerate) make them 12 frames
    # of the right size; the rawvideo default (yuv420p) would cut the bytes into 8 frames.
    frames = np.stack([np.full((48, 64), 20 * k, np.uint8) for k in range(12)])
    raw = tmp_path / "gray.raw"
    raw.write_bytes(frames.tobytes())
    out = tmp_path / "raw.mp4"
    result = play(str(raw), "--input-format", "rawvideo", "--capture-size", "64x48", "--capture-fps", "10",
                  "--input-option", "pixel_format=gray", "--headless", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert ffprobe_count(out) == 12
    assert ffprobe_size(out) == "64x48"
    duration = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                     str(out)], capture_output=True, text=True, check=True).stdout)
    assert duration == pytest.approx(1.2, abs=0.05)  # 10 fps, from --capture-fps


def test_rtsp_transport_flag_reaches_the_client(tcp_only_rtsp_server):
    # The server refuses UDP transport: tcp plays, udp fails, so the flag is what decides.
    ok = play(tcp_only_rtsp_server, "--rtsp-transport", "tcp", "--headless", "--offline", "--end", "1")
    assert ok.returncode == 0, ok.stderr
    assert " 0 frames processed" not in ok.stdout and "frames processed" in ok.stdout
    refused = play(tcp_only_rtsp_server, "--rtsp-transport", "udp", "--headless", "--end", "1")
    assert refused.returncode != 0
    assert "rtsp" in refused.stderr.lower()


def test_low_latency_realtime_live_source_reports_latency(udp_feed):
    # A live stream has no end: Ctrl-C ends it, and the summary still reports the run.
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    process = subprocess.Popen([*PLAY, udp_feed, "--low-latency", "--input-option", "fifo_size=100000",
                                "--headless", "--realtime", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        time.sleep(6)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "latency (capture to callback, packet_arrival): p50" in stdout, stdout + stderr
    assert "input options not used" not in stderr  # fifo_size reached the udp protocol


def test_camera_opens_the_v4l2_device_of_that_number():
    result = play("--camera", "57", "--headless")
    assert result.returncode != 0
    assert "/dev/video57" in result.stderr


@pytest.mark.parametrize("arguments, message", [
    (["--input-option", "novalue"], "--input-option needs KEY=VALUE"),
    (["--capture-size", "1280"], "--capture-size needs WIDTHxHEIGHT"),
    (["--capture-fps", "fast"], "--capture-fps needs a rate"),
    (["--camera", "0"], "either a source or --camera"),
    (["--rtsp-transport", "tcp", "--input-option", "rtsp_transport=udp"], "disagree"),
])
def test_bad_input_flags_are_usage_errors(test_mp4, arguments, message):
    result = play(str(test_mp4), "--headless", *arguments)
    assert result.returncode == 2
    assert message in result.stderr


def test_help_lists_the_input_flags():
    result = play("--help")
    for flag in ("--input-format", "--input-option", "--rtsp-transport", "--camera", "--capture-size",
                 "--capture-fps", "--low-latency", "--reconnect", "--reconnect-delay", "--reconnect-delay-max",
                 "--reconnect-attempts"):
        assert flag in result.stdout


def start_play(*arguments: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.Popen([*PLAY, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_reconnect_flags_reach_the_source(tmp_path, test_mp4):
    # GStreamer's RTSP server (TCP transport) killed mid-stream: the connection drops at once.
    # --reconnect never: the run ends at the outage (the default, auto, would wait for the server
    # forever). --reconnect always with short delays: the run survives the server's restart and
    # the summary counts the reconnect.
    rig = gst_rtsp_rig(tmp_path, test_mp4).start()
    try:
        never = start_play(rig.url, "--rtsp-transport", "tcp", "--reconnect", "never", "--headless", "--realtime",
                           "-q")
        try:
            time.sleep(4)
            assert never.poll() is None, never.communicate()[1][-2000:]
            rig.kill_server()
            stdout, stderr = never.communicate(timeout=30)  # ends by itself: no reconnect
        finally:
            never.kill()
        assert "frames processed" in stdout + stderr and "reconnects" not in stdout, stdout + stderr
        rig.start_server()
        always = start_play(rig.url, "--rtsp-transport", "tcp", "--reconnect", "always", "--reconnect-delay", "0.2",
                            "--reconnect-delay-max", "0.5", "--reconnect-attempts", "100", "--headless",
                            "--realtime", "-q")
        try:
            time.sleep(4)
            rig.kill_server()
            time.sleep(1.5)
            assert always.poll() is None, always.communicate()[1][-2000:]  # still trying
            rig.start_server()
            time.sleep(5)
            always.send_signal(signal.SIGINT)
            stdout, stderr = always.communicate(timeout=30)
        finally:
            always.kill()
    finally:
        rig.close()
    assert always.returncode == 130, stderr[-2000:]
    assert "source: 1 reconnects" in stdout, stdout + stderr


@pytest.mark.parametrize("arguments, message", [
    (["--reconnect", "sometimes"], "invalid choice"),
    (["--reconnect-delay", "0"], "--reconnect-delay must be > 0"),
    (["--reconnect-delay", "2", "--reconnect-delay-max", "1"], "must be >= --reconnect-delay"),
    (["--reconnect-attempts", "-1"], "--reconnect-attempts must be >= 0"),
])
def test_bad_reconnect_flags_are_usage_errors(test_mp4, arguments, message):
    result = play(str(test_mp4), "--headless", *arguments)
    assert result.returncode == 2
    assert message in result.stderr
