"""SIGTERM (docker stop, systemd, timeout) finalizes like Ctrl-C: exit 143, and the output and
results written so far are complete, playable files under the names asked for."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ffprobe_count

REPO = Path(__file__).resolve().parents[1]
PLAY = [sys.executable, str(REPO / "python" / "play.py")]


def _wait_for_partial(folder: Path, suffix: str, process: subprocess.Popen, min_bytes: int = 200_000) -> None:
    """Waits until the run is well under way: its partial output has grown past ``min_bytes``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        partial = list(folder.glob(f"*.partial-*{suffix}"))
        if partial and partial[0].stat().st_size > min_bytes:
            return
        time.sleep(0.05)
    raise AssertionError("the encode did not get going")


def _playable_frames(path: Path) -> int:
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", str(path)],
                           capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stderr == "", probe.stderr  # e.g. "moov atom not found"
    # passthrough: FFmpeg's default frame-rate conversion makes equal dts from this clip's 30.106 fps
    # timestamps at Matroska's 1 ms precision (ffmpeg's own mkv transcode of the clip does the same)
    decode = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-fps_mode", "passthrough",
                             "-f", "null", "-"], capture_output=True, text=True)
    assert decode.returncode == 0 and decode.stderr == "", decode.stderr
    return ffprobe_count(path)


@pytest.mark.parametrize("sig, status, suffix", [(signal.SIGTERM, 143, ".mp4"), (signal.SIGTERM, 143, ".mkv"),
                                                 (signal.SIGINT, 130, ".mp4")])
def test_signal_mid_encode_keeps_a_playable_output(test_mp4, tmp_path, sig, status, suffix):
    out, results = tmp_path / f"out{suffix}", tmp_path / "out.jsonl"
    process = subprocess.Popen([*PLAY, str(test_mp4), "--headless", "--detector", "motion", "--output", str(out),
                                "--results", str(results)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_partial(tmp_path, suffix, process)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    processed = int(stdout.split(" frames processed")[0].rsplit(" ", 1)[1])
    assert 0 < processed < 240, stdout
    assert ("(stopped by SIGTERM)" if sig == signal.SIGTERM else "(interrupted)") in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, results.name]), "no partial file left"
    assert _playable_frames(out) == processed
    assert [json.loads(line)["frame"] for line in results.read_text().splitlines()] == list(range(processed))
