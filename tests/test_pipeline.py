"""Pipeline (detector -> tracker -> annotators -> results) end to end, and deterministic replay."""
from __future__ import annotations

import collections
import csv
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import TEST_MP4_FRAMES, ffprobe_count

REPO = Path(__file__).resolve().parents[1]


def test_play_detect_track_end_to_end(test_mp4, tmp_path):
    out, results = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    cmd = [sys.executable, str(REPO / "python" / "play.py"), str(test_mp4), "--detector", "motion",
           "--tracker", "bytetrack", "--headless", "--output", str(out), "--results", str(results)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert ffprobe_count(out) == TEST_MP4_FRAMES
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(TEST_MP4_FRAMES)), "one line per frame, in order"
    lifetimes = collections.Counter(d["tracker_id"] for r in lines for d in r["detections"])
    assert sum(1 for n in lifetimes.values() if n >= 60) >= 5, "expected tracks that stay for 2+ seconds"


def test_results_formats(vs, tmp_path):
    from vistream import ResultsWriter
    d = vs.Detections(xyxy=[[10, 20, 40, 60]], confidence=[0.9], class_id=[2], tracker_id=[7])
    for name in ("r.txt", "r.csv", "r.jsonl"):
        with ResultsWriter(tmp_path / name) as writer:
            writer.write(0, 0.0, d)
            writer.write(1, 1 / 30, vs.Detections.empty())
    assert (tmp_path / "r.txt").read_text().splitlines() == ["1,7,10.00,20.00,30.00,40.00,0.9000,-1,-1,-1"]
    rows = list(csv.reader(open(tmp_path / "r.csv")))
    assert rows[0][:3] == ["frame", "time", "tracker_id"] and rows[1][2] == "7" and len(rows) == 2
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 2
    with pytest.raises(ValueError):
        ResultsWriter(tmp_path / "r.xml")


# seeks and steps around the test clip, backward and forward, and the frames they land on
SEEK_VISITS = [("seek", {"index": 100}), ("step", -1), ("step", -1), ("step", 1), ("seek", {"index": 37}),
               ("seek", {"index": 211}), ("step", -5), ("seek", {"index": 0}), ("step", 1), ("seek", {"index": 150})]
SEEK_VISITED = {100, 99, 98, 37, 211, 206, 0, 1, 150}


def _sorted_ids(pipeline):
    tids = pipeline.last.tracker_id
    return sorted([] if tids is None else tids.tolist())


def _ids_by_frame(pipeline_factory, vs, test_mp4, visits=None, record=_sorted_ids, **player_options):
    """Runs the pipeline; with `visits`, plays forward once, then seeks/steps to each index.

    Returns {frame index: record(pipeline)} for every frame of the straight run, or for the
    frame each visit lands on.
    """
    shown = {}
    pipeline = pipeline_factory()

    def callback(frame):
        pipeline(frame)
        shown.setdefault(frame.index, []).append(record(pipeline))

    if visits is None:
        player = vs.Player(test_mp4, **player_options)
        player.on_frame(callback)
        player.run()
        return {k: v[0] for k, v in shown.items()}
    player = vs.Player(test_mp4, exit_at_end=False, **player_options)
    player.on_frame(callback)
    thread = threading.Thread(target=player.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while TEST_MP4_FRAMES - 1 not in shown:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    player.pause()  # from here on, each seek/step shows exactly one frame
    revisited = {}
    for action, value in visits:
        count = sum(len(v) for v in shown.values())
        getattr(player, action)(**value) if isinstance(value, dict) else getattr(player, action)(value)
        while sum(len(v) for v in shown.values()) == count:
            assert time.monotonic() < deadline + 60
            time.sleep(0.01)
        index = player.position.index
        revisited[index] = shown[index][-1]
    player.stop()
    thread.join(30)
    return revisited


def test_ids_after_seeks_and_back_steps_match_a_straight_run(vs, test_mp4):
    from vistream.detect import MotionDetector
    from vistream.track import ByteTrack
    from vistream import Pipeline

    def factory():
        return Pipeline(MotionDetector(), ByteTrack(frame_rate=30), snapshot_every=30)

    straight = _ids_by_frame(factory, vs, test_mp4)
    revisited = _ids_by_frame(factory, vs, test_mp4, SEEK_VISITS)
    assert set(revisited) == SEEK_VISITED
    for index, tids in revisited.items():
        assert tids == straight[index], f"frame {index}: ids {tids} != straight run {straight[index]}"
    assert any(len(t) >= 5 for t in revisited.values())


class _GapDetector:
    """Two squares moving right 2 px a frame, the upper one from frame 0, the lower one from
    frame 5 and listed first (a tracker started afresh mid-way numbers them the other way
    round from a straight run)."""

    def __init__(self, vs):
        self.vs, self.current = vs, 0

    def __call__(self, image):
        x = 5 + 2 * self.current
        boxes = ([[x, 60, x + 30, 90]] if self.current >= 5 else []) + [[x, 10, x + 30, 40]]
        return self.vs.Detections(xyxy=boxes, confidence=[0.9] * len(boxes))


def _ids_by_top(detections):
    return {int(box[1] > 50): int(i) for box, i in zip(detections.xyxy, detections.tracker_id)}


def _feed(vs, pipeline, detector, frames):
    import numpy as np
    out = {}
    for f in frames:
        detector.current = f["index"]
        pipeline(type("F", (), dict(f, array=np.zeros((120, 160, 3), np.uint8)))())
        out[f["index"]] = _ids_by_top(pipeline.last)
    return out


def test_pipeline_tells_drops_from_seeks_by_serial(vs):
    """Frames of one serial with index gaps (real-time drops) are tracked across the gap — same
    ids as a straight run, and ``interval`` counts media time; without a serial (Reader frames,
    user objects) a gap is a discontinuity (the documented fallback)."""
    from vistream.track import ByteTrack

    def run(frames, **options):
        detector = _GapDetector(vs)
        calls = []

        def counted(image):
            calls.append(detector.current)
            return detector(image)
        pipeline = vs.Pipeline(counted, ByteTrack(frame_rate=30), **options)
        return _feed(vs, pipeline, detector, frames), calls

    straight, _ = run([{"index": i, "time": i / 30} for i in range(60)])
    assert straight[59] == {0: 1, 1: 2}  # top 1, bottom 2
    kept = [i for i in range(60) if i < 10 or i % 7 == 0]  # drops after frame 9
    dropped, _ = run([{"index": i, "time": i / 30, "serial": 0, "discontinuity": i == 0} for i in kept])
    assert all(dropped[i] == straight[i] for i in kept), dropped
    # The same gaps without a serial: each is treated as a jump into unseen media.
    unserialed, _ = run([{"index": i, "time": i / 30} for i in kept])
    assert unserialed[kept[-1]] != straight[kept[-1]]
    # interval=0.5: once per half second of media time, across the gaps too
    _, calls = run([{"index": i, "time": i / 30, "serial": 0, "discontinuity": i == 0} for i in kept],
                   interval=0.5)
    assert calls == [0, 21, 42], calls
