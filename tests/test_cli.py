"""Command line: `python python/play.py`, `vistream play`, `vistream demo`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ffprobe_count, ffprobe_stream

REPO = Path(__file__).resolve().parents[1]


def test_play_script_headless_writes_output(test_mp4, tmp_path):
    out = tmp_path / "played.mp4"
    result = subprocess.run([sys.executable, str(REPO / "python" / "play.py"), str(test_mp4), "--headless",
                             "--offline", "--start", "2", "--end", "3", "--output", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 29 <= ffprobe_count(out) <= 31
    assert ffprobe_stream(out, "a:0") is not None, "the source audio must be in the output"


def test_play_reports_bad_source_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vistream", "play", str(tmp_path / "missing.mp4"), "--headless"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "No such file" in result.stderr and "Traceback" not in result.stderr


def test_demo_makes_its_own_media(tmp_path):
    out = tmp_path / "demo.mp4"
    env = {"VISTREAM_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "vistream", "demo", "--output", str(out)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert ffprobe_count(out) == 300
    assert "motion boxes on" in result.stdout
    assert "3 objects tracked over half the clip" in result.stdout  # the sample's three moving squares


def test_loop_starts_over(vs, test_mp4):
    indices = []
    player = vs.Player(test_mp4, loop=True, end=0.5)

    @player.on_frame
    def count(frame):
        indices.append(frame.index)
        if len(indices) >= 40:
            player.stop()

    player.run()
    first_pass = indices[:indices.index(0, 1)]
    assert first_pass == list(range(len(first_pass))) and 14 <= len(first_pass) <= 16
    assert indices[len(first_pass):len(first_pass) * 2] == first_pass
