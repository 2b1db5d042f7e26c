"""The dashboard's data (issue 16, docs/api.md "Live parameters and dashboard data"):
``Pipeline.timings`` and ``Pipeline.dashboard()``, read from another thread while a real Player runs."""

from __future__ import annotations

import json
import subprocess
import threading
import time as clock

import numpy as np
import pytest

import vistream as vs
from vistream.analytics import LineZone, ZoneAnalytics
from vistream.dashboard import SERIES_LENGTH
from vistream.detect.motion import MotionDetector
from vistream.track.byte_track import ByteTrack

SMALL = {"vfilter": "scale=640:360", "end": 3.0, "display": False, "mode": "offline", "audio": False}


def test_snapshots_match_each_frames_detections_and_round_trip_json(test_mp4):
    analytics = ZoneAnalytics({"middle": LineZone((320, 0), (320, 360))})
    pipeline = vs.Pipeline(MotionDetector(), ByteTrack(frame_rate=30), [vs.annotate.BoxAnnotator()],
                           plugins=[analytics.schedule()])
    player = vs.Player(test_mp4, **SMALL)
    checked = []
    read_elsewhere = []
    stop = threading.Event()

    @player.on_frame
    def frame_done(frame):
        pipeline(frame)
        snapshot = pipeline.dashboard()
        data = snapshot.to_json()
        assert json.loads(json.dumps(data)) == data
        tracked = pipeline.last
        assert (data["index"], data["time"], data["serial"]) == (frame.index, frame.time, frame.serial)
        assert len(data["detections"]) == len(tracked)
        if len(tracked):
            assert np.allclose([row["box"] for row in data["detections"]], tracked.xyxy, atol=0.06)
            assert [row["track_id"] for row in data["detections"]] == tracked.tracker_id.tolist()
            assert {row["class_name"] for row in data["detections"]} == {"motion"}
        counts = data["counts"]
        assert counts["time"][-1] == frame.time and counts["total"][-1] == len(tracked)
        assert sum(series[-1] for series in counts["by_class"].values()) == len(tracked)
        line = analytics.zones["middle"]
        assert data["zones"] == {"middle": {"kind": "line", "in": line.in_count, "out": line.out_count}}
        assert counts["zones"]["middle"]["in"][-1] == line.in_count
        assert data["timings"]["total"]["runs"] == frame.index + 1
        checked.append(frame.index)

    def web_thread():
        # what a web server does at up to 5 Hz, here as fast as it can: every snapshot it gets is whole
        while not stop.is_set():
            snapshot = pipeline.dashboard()
            if snapshot is not None:
                data = json.loads(json.dumps(snapshot.to_json()))
                assert len(data["counts"]["time"]) == len(data["counts"]["total"])
                assert data["counts"]["total"][-1] == len(data["detections"])
                assert all(len(s) == len(data["counts"]["time"]) for s in data["counts"]["by_class"].values())
                read_elsewhere.append(data["index"])
            clock.sleep(0.002)

    errors = []

    def guarded():
        try:
            web_thread()
        except BaseException as error:
            errors.append(error)

    reader = threading.Thread(target=guarded)
    reader.start()
    try:
        player.run()
    finally:
        stop.set()
        reader.join(10)
    pipeline.close()
    assert not errors, errors
    assert checked == list(range(len(checked))) and len(checked) >= 85
    assert len(read_elsewhere) > 20 and read_elsewhere == sorted(read_elsewhere)
    assert sum(pipeline.dashboard().to_json()["counts"]["total"]) > 100  # the street moves


def test_timings_are_positive_and_plausible(test_mp4):
    def slow_plugin(frames, detections):
        clock.sleep(0.005)
        return len(detections)

    pipeline = vs.Pipeline(MotionDetector(), ByteTrack(frame_rate=30), [vs.annotate.BoxAnnotator()],
                           plugins=[vs.Schedule(slow_plugin, name="slow", every_n_frames=2)])
    assert pipeline.timings.frames == 0 and pipeline.timings.total is None
    walls = []
    with vs.Reader(test_mp4, vfilter="scale=640:360") as reader:
        for frame in reader:
            if frame.index == 20:
                break
            started = clock.perf_counter()
            pipeline(frame)
            walls.append((clock.perf_counter() - started) * 1000)
            t = pipeline.timings
            parts = t.detect.last_ms + t.track.last_ms + t.annotate.last_ms + \
                (t.plugins["slow"].last_ms if frame.index % 2 == 0 else 0)
            assert 0 < parts <= t.total.last_ms <= walls[-1]
    t = pipeline.timings
    assert t.frames == 20 and t.total.runs == 20 and t.detect.runs == 20 and t.plugins["slow"].runs == 10
    assert t.plugins["slow"].last_ms >= 5 and t.plugins["slow"].mean_ms >= 5
    assert t.classify is None  # no classifier
    assert min(walls) * 0.5 < t.total.mean_ms <= max(walls)
    data = json.loads(json.dumps(t.to_json()))
    assert set(data) == {"frames", "detect", "track", "classify", "plugins", "annotate", "total"}
    assert data["plugins"]["slow"]["runs"] == 10 and data["classify"] is None
    assert pipeline.dashboard().timings == t


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """700 frames at 25 fps (28 s), small: longer than twice the series window.
    ffmpeg -f lavfi -i testsrc2=size=96x64:rate=25:duration=28 -c:v libx264 -g 25 -pix_fmt yuv420p"""
    path = tmp_path_factory.mktemp("dashboard") / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=28",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    return path


#: the frame index the detector below is called on (set by the test before each frame)
_CURRENT = [0]


def _detect_by_index(image) -> vs.Detections:
    """Frame i gets i % 10 boxes: the series' values say which frame they came from."""
    n = _CURRENT[0] % 10
    boxes = np.array([[i, i, i + 10, i + 10] for i in range(n)], np.float32).reshape(-1, 4)
    return vs.Detections(xyxy=boxes, confidence=np.ones(n, np.float32), class_id=np.zeros(n, np.int64))


def _run(pipeline, frames) -> None:
    for frame in frames:
        _CURRENT[0] = frame.index
        pipeline(frame)


def test_series_are_bounded_and_a_seek_back_cuts_them_instead_of_running_backwards(long_clip):
    pipeline = vs.Pipeline(_detect_by_index)
    with vs.Reader(long_clip) as reader:
        frames_seen = [frame.time for frame in reader]
        reader.seek(index=0)
        _run(pipeline, reader)
        counts = pipeline.dashboard().to_json()["counts"]
        assert len(counts["time"]) == SERIES_LENGTH == len(counts["total"]) and len(frames_seen) == 700
        assert counts["time"] == frames_seen[-SERIES_LENGTH:]
        assert counts["total"] == [i % 10 for i in range(700 - SERIES_LENGTH, 700)]
        snapshot_before_seek = pipeline.dashboard()
        # a seek back to frame 650 (26 s) and 10 frames from there: the series ends at the new
        # position, as a forward run to there shows it (the points after 26 s are gone)
        reader.seek(index=650)
        _run(pipeline, (next(reader) for _ in range(10)))
        counts = pipeline.dashboard().to_json()["counts"]
        assert counts["time"] == frames_seen[660 - SERIES_LENGTH:660]
        assert counts["total"] == [i % 10 for i in range(660 - SERIES_LENGTH, 660)]
        # a seek back beyond what the series holds restarts it there
        reader.seek(index=150)
        _run(pipeline, (next(reader) for _ in range(5)))
        counts = pipeline.dashboard().to_json()["counts"]
        assert counts["time"] == frames_seen[150:155]
    # a snapshot published earlier is immutable: what a reader held still shows the old series
    assert snapshot_before_seek.to_json()["counts"]["time"] == frames_seen[-SERIES_LENGTH:]


def test_by_class_series_and_rows_without_tracker(test_mp4):
    def two_classes(image) -> vs.Detections:
        return vs.Detections(xyxy=np.array([[0, 0, 10, 10], [5, 5, 20, 20], [30, 30, 40, 40]], np.float32),
                             confidence=np.array([0.9, 0.8, 0.7], np.float32), class_id=np.array([0, 2, 2]),
                             class_names={0: "person", 2: "car"})

    pipeline = vs.Pipeline(two_classes)
    assert pipeline.dashboard() is None
    with vs.Reader(test_mp4) as reader:
        frame = next(iter(reader))
        pipeline(frame)
    data = pipeline.dashboard().to_json()
    assert data["counts"]["by_class"] == {"person": [1], "car": [2]}
    assert data["detections"][1] == {"track_id": None, "class_id": 2, "class_name": "car", "score": 0.8,
                                     "box": [5.0, 5.0, 20.0, 20.0]}
    assert data["zones"] == {} and data["decoupled"] is None and data["sinks"] == {} and data["highlighted"] is None
