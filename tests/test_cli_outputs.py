"""No run loses data silently: every frame reaches --output/--results unless --realtime is asked for,
the source is never overwritten, and an earlier output survives a failed run."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEST_MP4_FRAMES, ffprobe_count

REPO = Path(__file__).resolve().parents[1]
PLAY = [sys.executable, str(REPO / "python" / "play.py")]


def _without_display() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("SDL_VIDEODRIVER", None)
    return env


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_without_headless_and_without_display_every_frame_is_written(test_mp4, tmp_path):
    # Reproduced: no --headless, no display -> real-time mode -> 43 of 240 frames written, exit 0.
    out, results = tmp_path / "o.mp4", tmp_path / "r.jsonl"
    result = subprocess.run([*PLAY, str(test_mp4), "--detector", "motion", "--tracker", "bytetrack", "--end", "3",
                             "--output", str(out), "--results", str(results)],
                            capture_output=True, text=True, timeout=300, env=_without_display())
    assert result.returncode == 0, result.stderr
    assert ffprobe_count(out) == 90
    assert [json.loads(line)["frame"] for line in results.read_text().splitlines()] == list(range(90))
    assert "90 frames processed, 0 dropped" in result.stdout


def test_readme_speed_start_output_example_keeps_every_frame(test_mp4, tmp_path):
    # Reproduced: `--speed 1.5 --start 2 --output shown.mp4` wrote 133 of 180 frames.
    out = tmp_path / "shown.mp4"
    result = subprocess.run([*PLAY, str(test_mp4), "--speed", "1.5", "--start", "2", "--end", "5",
                             "--output", str(out)], capture_output=True, text=True, timeout=300,
                            env=_without_display())
    assert result.returncode == 0, result.stderr
    assert ffprobe_count(out) == 90


def test_output_naming_the_source_is_refused_and_the_input_kept(test_mp4, tmp_path):
    # Reproduced: `play copy.mp4 --headless --output copy.mp4 --end 1` truncated the input, exit 0.
    source = tmp_path / "copy.mp4"
    shutil.copy(test_mp4, source)
    (tmp_path / "link.mp4").symlink_to(source)
    os.link(source, tmp_path / "hardlink.mp4")
    before = _digest(source)
    for output in ("copy.mp4", "link.mp4", "hardlink.mp4", str(source)):
        result = subprocess.run([*PLAY, "copy.mp4", "--headless", "--output", output, "--end", "1"],
                                capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert result.returncode == 2, (output, result.stderr)
        assert "is the source file" in result.stderr and "Traceback" not in result.stderr
        assert _digest(source) == before, f"--output {output} changed the input"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.mp4", "hardlink.mp4", "link.mp4"]


def test_player_refuses_the_source_as_output_through_a_symlink(vs, test_mp4, tmp_path):
    source = tmp_path / "in.mp4"
    shutil.copy(test_mp4, source)
    (tmp_path / "out.mp4").symlink_to(source)
    with pytest.raises(ValueError, match="is the source file"):
        vs.Player(str(source), output=str(tmp_path / "out.mp4"))
    assert _digest(source) == _digest(test_mp4)


def test_failed_run_leaves_the_earlier_output_and_results_intact(vs, test_mp4, tmp_path):
    from vistream.detect import MotionDetector

    out, results = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    first = subprocess.run([*PLAY, str(test_mp4), "--headless", "--detector", "motion", "--end", "1",
                            "--output", str(out), "--results", str(results)],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    earlier = (_digest(out), _digest(results))

    player = vs.Player(str(test_mp4), output=str(out), end=2)
    pipeline = vs.Pipeline(MotionDetector(), results=str(results))

    @player.on_frame
    def analyse(frame):
        pipeline(frame)
        if frame.index == 20:
            raise RuntimeError("analysis failed")

    partial_results = None
    with pytest.raises(RuntimeError, match="analysis failed") as failure:
        try:
            player.run()
        except BaseException as error:
            partial_results = pipeline.close(error)
            raise
    assert (_digest(out), _digest(results)) == earlier, "a failed run replaced the earlier files"
    # ... and its partial output is kept, finalized, where the error says
    notes = "\n".join(failure.value.__notes__)
    partial_video = Path(player.stats.output)
    assert str(partial_video) in notes and str(partial_results) in notes
    assert ffprobe_count(partial_video) == 20
    assert len(partial_results.read_text().splitlines()) == 21
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.mp4", "out.jsonl", partial_video.name, partial_results.name])


def test_run_that_processes_no_frame_fails_and_writes_nothing(test_mp4, tmp_path):
    # Reproduced: `--start 100` on an 8 s clip wrote a 262-byte mp4 and exited 0.
    out = tmp_path / "late.mp4"
    result = subprocess.run([*PLAY, str(test_mp4), "--headless", "--start", "100", "--output", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"vistream: error: --start 100 is at or past the end of "
                                                  f"{test_mp4} (8.0 s)"]
    assert list(tmp_path.iterdir()) == []


def test_player_that_encodes_no_frame_keeps_the_earlier_file(vs, test_mp4, tmp_path):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"earlier result")
    stats = vs.Player(str(test_mp4), output=str(out), start=100).run()
    assert stats.frames_encoded == 0 and stats.output is None
    assert out.read_bytes() == b"earlier result" and list(tmp_path.iterdir()) == [out]


def test_successful_run_replaces_the_earlier_output(vs, test_mp4, tmp_path):
    out = tmp_path / "o.mkv"
    out.write_bytes(b"earlier result")
    stats = vs.Player(str(test_mp4), output=str(out), end=0.5).run()
    assert stats.output == str(out) and ffprobe_count(out) == 15
    assert list(tmp_path.iterdir()) == [out], "no partial file may be left behind"


def test_source_dash_reads_standard_input(test_mp4, tmp_path):
    out = tmp_path / "from_stdin.mp4"
    feed = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i", str(test_mp4), "-t", "1", "-c", "copy",
                             "-f", "mpegts", "-"], stdout=subprocess.PIPE)
    result = subprocess.run([*PLAY, "-", "--headless", "--output", str(out)], stdin=feed.stdout,
                            capture_output=True, text=True, timeout=120)
    feed.stdout.close()
    assert feed.wait(30) == 0
    assert result.returncode == 0, result.stderr
    assert 30 <= ffprobe_count(out) <= 31


def test_whole_clip_without_display_keeps_all_frames_in_results(test_mp4, tmp_path):
    # The exact reproduction (HOG + ByteTrack, the whole clip), results only: every frame has its line.
    results = tmp_path / "r.jsonl"
    result = subprocess.run([*PLAY, str(test_mp4), "--detector", "hog", "--tracker", "bytetrack",
                             "--every", "4", "--results", str(results)],
                            capture_output=True, text=True, timeout=600, env=_without_display())
    assert result.returncode == 0, result.stderr
    assert f"{TEST_MP4_FRAMES} frames processed, 0 dropped" in result.stdout
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(TEST_MP4_FRAMES))


def test_realtime_drops_are_reported(test_mp4, tmp_path):
    # --realtime is the one way to lose frames, and the summary says how many
    results = tmp_path / "r.jsonl"
    result = subprocess.run([*PLAY, str(test_mp4), "--headless", "--realtime", "--detector", "hog", "--end", "2",
                             "--results", str(results), "--quiet"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    processed, dropped = (int(n) for n in re.search(r"(\d+) frames processed, (\d+) dropped", result.stdout).groups())
    assert dropped > 0 and processed + dropped >= 55, result.stdout
    assert "(real-time mode: frames the analysis could not keep up with)" in result.stdout
    assert len(results.read_text().splitlines()) == processed
