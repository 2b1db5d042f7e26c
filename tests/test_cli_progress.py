"""Progress of long runs: a bar on a terminal (a real pty), plain lines every few seconds otherwise,
nothing with --quiet; the final summary names tracks and every file written."""
from __future__ import annotations

import fcntl
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import termios
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLAY = [sys.executable, str(REPO / "python" / "play.py")]


def _run_on_pty(argv, columns=100, timeout=120) -> tuple:
    """Runs ``argv`` with stdin/stdout/stderr on a new pseudo-terminal of the given width; returns
    (exit status, everything written to the terminal)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        status = process.wait(timeout)
    finally:
        os.close(master)
    return status, b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal(test_mp4, tmp_path):
    status, screen = _run_on_pty([*PLAY, str(test_mp4), "--headless", "--end", "3",
                                  "--output", str(tmp_path / "o.mp4")])
    assert status == 0, screen
    # tqdm redraws one line with \r: frames done / total, rate and ETA, ending at 100 %
    updates = [u for u in re.split(r"[\r\n]+", screen) if "frame/s" in u]
    assert len(updates) >= 2, screen
    assert re.search(r"100%\|.*\| 90/90 \[\d\d:\d\d<00:00, +[\d.]+frame/s\]", updates[-1]), updates[-1]
    assert all(len(u) <= 100 for u in updates), "the bar must fit the terminal's width"
    assert "90 frames processed, 0 dropped" in screen

    status, screen = _run_on_pty([*PLAY, str(test_mp4), "--headless", "--end", "1", "--quiet"])
    assert status == 0 and "frame/s" not in screen and "%|" not in screen, screen


def test_progress_lines_when_not_on_a_terminal(test_mp4):
    # --realtime paces the run at the media's speed: 6 s, enough for a line every ~5 s
    result = subprocess.run([*PLAY, str(test_mp4), "--headless", "--realtime", "--end", "6"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("vistream: ")]
    assert lines, result.stderr
    # 6 s of a 30.1 fps clip: 181 frames; about 5 s of them done at the first line, at about 30 fps
    match = re.fullmatch(r"vistream: (\d+)/181 frames \((\d+)%\), ([\d.]+) fps, ETA 0:0\d", lines[0])
    assert match, lines
    assert 100 <= int(match.group(1)) <= 170 and 15 <= float(match.group(3)) <= 35, lines[0]
    assert "\r" not in result.stderr and "%|" not in result.stderr

    quiet = subprocess.run([*PLAY, str(test_mp4), "--headless", "--realtime", "--end", "6", "--quiet"],
                           capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_summary_counts_tracks_and_names_every_file(test_mp4, tmp_path):
    out, results = tmp_path / "o.mkv", tmp_path / "r.jsonl"
    result = subprocess.run([*PLAY, str(test_mp4), "--headless", "--detector", "motion", "--tracker", "bytetrack",
                             "--end", "2", "--output", str(out), "--results", str(results), "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    frames_per_track: dict = {}
    for line in results.read_text().splitlines():
        for detection in json.loads(line)["detections"]:
            frames_per_track[detection["tracker_id"]] = frames_per_track.get(detection["tracker_id"], 0) + 1
    assert frames_per_track, "the motion detector finds people walking in the street clip"
    summary = result.stdout.splitlines()
    assert re.fullmatch(rf"{re.escape(str(test_mp4))}: 60 frames processed, 0 dropped, [\d.]+ fps, [\d.]+ s",
                        summary[0]), summary
    assert summary[1] == (f"tracks: {len(frames_per_track)}, median length "
                          f"{statistics.median(frames_per_track.values()):g} frames")
    assert summary[2:] == [f"wrote {out}", f"wrote {results}"]
