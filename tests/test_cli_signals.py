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
    """Frames ffprobe decodes from ``path``, demanding that it reads the whole file without an error."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", str(path)],
                           capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stderr == "", probe.stderr  # e.g. "moov atom not found"
    # every packet of every stream read and decoded (a truncated mkv or mp4 reports errors here)
    count = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-count_packets", "-show_entries",
                            "stream=codec_type,nb_read_frames,nb_read_packets", "-of", "json", str(path)],
                           capture_output=True, text=True)
    assert count.returncode == 0 and count.stderr == "", count.stderr
    streams = {s["codec_type"]: s for s in json.loads(count.stdout)["streams"]}
    assert int(streams["audio"]["nb_read_frames"]) > 0, "the source audio must be kept up to the cut"
    return int(streams["video"]["nb_read_frames"])


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
