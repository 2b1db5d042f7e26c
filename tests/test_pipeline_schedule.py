"""Pipeline scheduling: detector every_n_frames / interval (media seconds), analysis plugins
(``vistream.Schedule``) with frame history, their results export, and replay after seeks.

Frames come from a real ``Player`` (or a ``Reader`` where a test needs exact seek order) on
media generated with the ffmpeg CLI; expected frame times come from ffprobe.
"""
from __future__ import annotations

import collections
import csv
import json
import math
import subprocess

import numpy as np
import pytest

from conftest import TEST_MP4_FRAMES, ffprobe_frames

# Same tolerance as the implementation documents: container timestamps may be rounded to 1 ms.
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """2 s testsrc2 clips at 25 and 30 fps (no audio): name -> (path, ffprobe frame times)."""
    out = {}
    directory = tmp_path_factory.mktemp("schedule")
    for rate in (25, 30):
        path = directory / f"clip{rate}.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                        "-i", f"testsrc2=size=320x240:rate={rate}:duration=2", "-c:v", "libx264",
                        "-preset", "veryfast", "-pix_fmt", "yuv420p", "-an", str(path)],
                       check=True, capture_output=True)
        out[rate] = (path, ffprobe_frames(path)["pts_time"])
    return out


class RecordingDetector:
    """Notes the index of every frame it is run on (the test callback sets ``current``) and
    returns one box whose x position is that index, so outputs can be told apart."""

    def __init__(self, vs):
        self.vs = vs
        self.current = None
        self.calls = []

    def __call__(self, image):
        self.calls.append(self.current)
        x = float(self.current)
        return self.vs.Detections(xyxy=[[x, 0, x + 10, 10]], confidence=[0.9])


def play(vs, path, pipeline, before=None):
    """Plays `path` offline through `pipeline` (and `before(frame)` just ahead of it)."""
    player = vs.Player(path, display=False)

    def callback(frame):
        if before is not None:
            before(frame)
        pipeline(frame)

    player.on_frame(callback)
    player.run()
    pipeline.close()


def feed(vs, path, pipeline, ranges, before=None):
    """Feeds `pipeline` the frames first..last of each (first, last) range in turn, seeking a
    Reader between ranges: exactly the frame order a player shows around seeks."""
    with vs.Reader(path) as reader:
        for first, last in ranges:
            reader.seek(index=first)
            for _ in range(first, last + 1):
                frame = next(reader)
                if before is not None:
                    before(frame)
                pipeline(frame)


def expected_runs(times, every_n_frames=1, interval=None):
    """The documented rule, applied to ffprobe's frame times."""
    runs, last = [], None
    for index, time in enumerate(times):
        if index % every_n_frames:
            continue
        if interval is None or last is None or time - last >= interval - TOLERANCE:
            runs.append(index)
            last = time
    return runs


def run_detector(vs, path, **schedule):
    detector = RecordingDetector(vs)
    pipeline = vs.Pipeline(detector, **schedule)
    play(vs, path, pipeline, before=lambda frame: setattr(detector, "current", frame.index))
    return detector.calls


# -- detector scheduling ----------------------------------------------------------------------

def test_detector_every_n_frames(vs, clips):
    path, times = clips[30]
    assert run_detector(vs, path, every_n_frames=4) == list(range(0, len(times), 4))


@pytest.mark.parametrize("rate, interval, step", [
    (25, 0.1, 3),      # 0.1 s = 2.5 frames -> every 3rd frame (0.12 s): a minimum spacing, not a rate
    (25, 0.5, 13),     # 12.5 frames -> 13
    (30, 0.1, 3),      # exactly 3 frames: on time counts as due
    (30, 1 / 3, 10),   # exactly 10 frames
    (30, 1.0, 30),
])
def test_detector_interval_in_media_seconds(vs, clips, rate, interval, step):
    path, times = clips[rate]
    calls = run_detector(vs, path, interval=interval)
    assert calls == list(range(0, len(times), step))
    assert calls == expected_runs(times, interval=interval)


def test_detector_interval_follows_media_time_on_variable_frame_rate(vs, media):
    # vfr.mp4: 30 fps for 1 s, then 10 fps: the same interval is fewer frames in the second part
    times = ffprobe_frames(media["vfr"])["pts_time"]
    calls = run_detector(vs, media["vfr"], interval=0.25)
    assert calls == expected_runs(times, interval=0.25)
    steps = set(np.diff(calls).tolist())
    assert 8 in steps and 3 in steps, calls


def test_detector_every_n_frames_and_interval_must_both_hold(vs, clips):
    path, times = clips[25]
    # alone: every 2nd frame, or every 3rd (0.12 s); together: frames 0, 4, 8, ... (even and >= 0.1 s)
    calls = run_detector(vs, path, every_n_frames=2, interval=0.1)
    assert calls == list(range(0, len(times), 4))
    assert calls == expected_runs(times, every_n_frames=2, interval=0.1)


def test_skipped_frames_hold_the_last_detector_result(vs, clips):
    path, _ = clips[25]
    detector = RecordingDetector(vs)
    pipeline = vs.Pipeline(detector, every_n_frames=5)
    shown = {}
    player = vs.Player(path, display=False)

    @player.on_frame
    def callback(frame):
        detector.current = frame.index
        pipeline(frame)
        shown[frame.index] = float(pipeline.last.xyxy[0, 0])

    player.run()
    assert detector.calls == list(range(0, 50, 5))
    assert shown == {i: float(i - i % 5) for i in range(50)}, "skipped frames show the last detection"


def test_bytetrack_keeps_tracks_when_the_detector_skips_frames(vs, test_mp4):
    from vistream.detect import MotionDetector
    from vistream.track import ByteTrack

    # The tracker is updated on detector frames only, so it is given the detector's rate.
    pipeline = vs.Pipeline(MotionDetector(), ByteTrack(frame_rate=10), every_n_frames=3)
    ids = {}
    player = vs.Player(test_mp4, display=False)

    @player.on_frame
    def callback(frame):
        pipeline(frame)
        tids = pipeline.last.tracker_id
        ids[frame.index] = [] if tids is None else tids.tolist()

    player.run()
    assert len(ids) == TEST_MP4_FRAMES
    lifetimes = collections.Counter(t for frame_ids in ids.values() for t in frame_ids)
    assert sum(1 for n in lifetimes.values() if n >= 60) >= 5, "expected tracks that stay for 2+ seconds"
    assert all(ids[i] == ids[i - i % 3] for i in ids), "frames between detector runs show the held tracks"


# -- plugins --------------------------------------------------------------------------------

def test_plugin_gets_the_actual_previous_frames_oldest_first(vs, clips):
    path, times = clips[25]
    seen = {}       # copies of every frame, taken in the callback before the pipeline runs
    calls = []      # (index, frames, detections) per plugin call
    current = {}

    def history(frames, detections):
        assert all(not f.flags.writeable for f in frames), "plugins must not alter the shared history"
        calls.append((current["index"], frames, len(detections)))
        return len(frames)

    def before(frame):
        current["index"] = frame.index
        seen[frame.index] = frame.array.copy()

    detector = lambda image: vs.Detections(xyxy=[[1, 2, 3, 4], [5, 6, 7, 8]])  # noqa: E731
    pipeline = vs.Pipeline(detector, plugins=[vs.Schedule(history, frame_count=3)])
    play(vs, path, pipeline, before=before)

    assert [index for index, _, _ in calls] == list(range(2, len(times))), "called once 3 frames exist"
    for index, frames, n_detections in calls:
        assert n_detections == 2
        assert len(frames) == 3
        for got, wanted in zip(frames, (index - 2, index - 1, index)):
            assert np.array_equal(got, seen[wanted]), f"frame {index}: expected frame {wanted}"
    assert not np.array_equal(seen[0], seen[1]), "consecutive frames must differ for the check to mean anything"
    # and they are the frames an independent decoder gives at those indices
    with vs.Reader(path) as reader:
        reader.seek(index=20)
        decoded = [next(reader).array.copy() for _ in range(3)]
    frames_at_22 = dict((index, frames) for index, frames, _ in calls)[22]
    assert all(np.array_equal(a, b) for a, b in zip(frames_at_22, decoded))
    assert pipeline.results == {"history": 3}


def test_plugin_frame_step_and_bounded_history(vs, clips):
    path, times = clips[25]
    seen, lengths, steps = {}, [], []
    current = {}

    def spaced(frames, detections):
        steps.append((current["index"], frames))

    def before(frame):
        current["index"] = frame.index
        seen[frame.index] = frame.array.copy()

    plugins = [vs.Schedule(lambda frames, d: None, name="three", frame_count=3),
               vs.Schedule(spaced, frame_count=2, frame_step=4)]   # frames i-4 and i: 5 frames of history
    pipeline = vs.Pipeline(plugins=plugins)
    player = vs.Player(path, display=False)

    @player.on_frame
    def callback(frame):
        before(frame)
        pipeline(frame)
        lengths.append(pipeline.history_length)

    player.run()
    assert lengths == [min(i + 1, 5) for i in range(len(times))], "the ring holds what the longest history needs"
    assert [index for index, _ in steps] == list(range(4, len(times)))
    for index, frames in steps:
        assert np.array_equal(frames[0], seen[index - 4]) and np.array_equal(frames[1], seen[index])


def test_single_frame_plugins_copy_nothing(vs, clips):
    path, _ = clips[25]
    live = {}
    shared = []

    def width(frames, detections):
        return frames[0].shape[1]

    def check(frames, detections):
        shared.append((np.shares_memory(frames[0], live["array"]), frames[0].flags.writeable))

    pipeline = vs.Pipeline(plugins=[vs.Schedule(width, every_n_frames=2), vs.Schedule(check)])
    player = vs.Player(path, display=False)

    @player.on_frame
    def callback(frame):
        live["array"] = frame.array
        pipeline(frame)
        assert pipeline.history_length == 0

    player.run()
    assert len(shared) == 50 and all(s == (True, False) for s in shared), "a read-only view of the frame, not a copy"
    assert pipeline.results == {"width": 320, "check": None}


def test_plugin_cadence_every_n_frames_and_interval(vs, clips):
    path, times = clips[30]
    runs = collections.defaultdict(list)
    current = {}

    def recorder(name):
        return lambda frames, detections: runs[name].append(current["index"])

    plugins = [vs.Schedule(recorder("every5"), name="every5", every_n_frames=5),
               vs.Schedule(recorder("half_second"), name="half_second", interval=0.5),
               vs.Schedule(recorder("both"), name="both", every_n_frames=4, interval=0.25),
               # due on frames 0, 15, 30, 45 but needs 4 frames: frame 0 is skipped, not postponed
               vs.Schedule(recorder("late"), name="late", interval=0.5, frame_count=4)]
    pipeline = vs.Pipeline(plugins=plugins)
    play(vs, path, pipeline, before=lambda frame: current.__setitem__("index", frame.index))
    assert runs["every5"] == list(range(0, 60, 5))
    assert runs["half_second"] == [0, 15, 30, 45] == expected_runs(times, interval=0.5)
    assert runs["both"] == [0, 8, 16, 24, 32, 40, 48, 56] == expected_runs(times, 4, 0.25)
    assert runs["late"] == [15, 30, 45]


def test_plugin_history_restarts_after_a_seek(vs, clips):
    path, _ = clips[25]
    calls = []
    seen = {}
    current = {}

    def history(frames, detections):
        calls.append(current["index"])
        expected = [seen[current["index"] - k] for k in (2, 1, 0)]
        assert all(np.array_equal(a, b) for a, b in zip(frames, expected))

    def before(frame):
        current["index"] = frame.index
        seen[frame.index] = frame.array.copy()

    pipeline = vs.Pipeline(plugins=[vs.Schedule(history, frame_count=3)])
    feed(vs, path, pipeline, [(0, 5), (30, 34), (10, 11), (12, 13)], before=before)
    # after each seek two frames pass before 3 consecutive ones exist; (10,11)->(12,13) is no seek
    assert calls == [2, 3, 4, 5, 32, 33, 34, 12, 13]


# -- results --------------------------------------------------------------------------------

def test_results_jsonl_carries_plugin_values(vs, clips, tmp_path):
    path, times = clips[25]
    current = {}

    def count(frames, detections):
        return {"boxes": len(detections), "index": np.int64(current["index"])}  # numpy is converted

    def odd_only(frames, detections):
        return current["index"] if current["index"] % 2 else None  # None: nothing to report

    plugins = [vs.Schedule(count, every_n_frames=5), vs.Schedule(odd_only, frame_count=2)]
    detector = lambda image: vs.Detections(xyxy=[[1, 2, 30, 40]], confidence=[0.8])  # noqa: E731
    results = tmp_path / "out.jsonl"
    pipeline = vs.Pipeline(detector, plugins=plugins, results=str(results))
    play(vs, path, pipeline, before=lambda frame: current.__setitem__("index", frame.index))

    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(len(times)))
    for line in lines:
        i = line["frame"]
        assert len(line["detections"]) == 1
        wanted = {}
        if i % 5 == 0:
            wanted["count"] = {"boxes": 1, "index": i}
        if i % 2:
            wanted["odd_only"] = i
        assert line["plugins"] == wanted, line
    assert pipeline.results == {"count": {"boxes": 1, "index": 45}, "odd_only": 49}


def test_other_results_formats_stay_valid_with_plugins(vs, clips, tmp_path):
    from vistream.track import IoUTracker

    path, times = clips[25]
    detector = lambda image: vs.Detections(xyxy=[[1, 2, 30, 40]], confidence=[0.8])  # noqa: E731
    for name in ("r.txt", "r.csv"):
        pipeline = vs.Pipeline(detector, IoUTracker(), plugins=[vs.Schedule(lambda f, d: {"n": 1}, name="n")],
                               results=str(tmp_path / name))
        play(vs, path, pipeline)
    rows = (tmp_path / "r.txt").read_text().splitlines()
    assert len(rows) == len(times) and rows[0] == "1,1,1.00,2.00,29.00,38.00,0.8000,-1,-1,-1"
    table = list(csv.reader(open(tmp_path / "r.csv")))
    assert table[0][0] == "frame" and len(table) == len(times) + 1 and all(len(r) == 9 for r in table)


def test_unserialisable_plugin_value_names_the_plugin(vs, tmp_path):
    from vistream import ResultsWriter

    with ResultsWriter(tmp_path / "r.jsonl") as writer:
        with pytest.raises(TypeError, match=r"plugin 'crowd' on frame 7 .*not JSON-serialisable"):
            writer.write(7, 0.25, vs.Detections.empty(), plugins={"ok": 1, "crowd": object()})
        writer.write(8, 0.3, vs.Detections.empty(), plugins={"a": np.float32(0.5), "b": np.arange(3)})
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert [json.loads(line)["plugins"] for line in lines] == [{"a": 0.5, "b": [0, 1, 2]}]


# -- determinism after seeks ------------------------------------------------------------------

def test_interval_decisions_follow_the_frame_chain_not_the_seek_order(vs, clips):
    path, times = clips[25]
    straight = run_detector(vs, path, interval=0.1)   # 0, 3, 6, ...

    detector = RecordingDetector(vs)
    pipeline = vs.Pipeline(detector, interval=0.1)
    before = lambda frame: setattr(detector, "current", frame.index)  # noqa: E731
    # play 0-10, jump ahead to unplayed 31-40, come back to 11-30, then revisit 5-35
    feed(vs, path, pipeline, [(0, 10), (31, 40), (11, 30), (5, 35)], before=before)
    runs = sorted(detector.calls)
    assert len(runs) == len(set(runs)), "a revisited frame reuses its detections"
    # 11-30 continue the chain of 0-10 (frame 10 had been seen): the same frames as a straight run
    assert [i for i in runs if i <= 30] == [i for i in straight if i <= 30]
    # 31 was first reached by a jump into unplayed media: the chain starts afresh there
    assert [i for i in runs if i > 30] == [31, 34, 37, 40]


def test_ids_after_seeks_match_a_straight_run_with_interval(vs, test_mp4):
    from test_pipeline import SEEK_VISITS, SEEK_VISITED, _ids_by_frame
    from vistream.detect import MotionDetector
    from vistream.track import ByteTrack

    def factory():
        return vs.Pipeline(MotionDetector(), ByteTrack(frame_rate=10), interval=0.1, snapshot_every=30,
                           plugins=[vs.Schedule(lambda frames, d: len(d), name="n", frame_count=2)])

    straight = _ids_by_frame(factory, vs, test_mp4)
    revisited = _ids_by_frame(factory, vs, test_mp4, SEEK_VISITS)
    assert set(revisited) == SEEK_VISITED
    for index, tids in revisited.items():
        assert tids == straight[index], f"frame {index}: ids {tids} != straight run {straight[index]}"
    assert any(len(t) >= 3 for t in revisited.values())


# -- bad arguments --------------------------------------------------------------------------

def _fn(frames, detections):
    return None


@pytest.mark.parametrize("kwargs, error, message", [
    ({"every_n_frames": 0}, ValueError, "every_n_frames must be >= 1"),
    ({"every_n_frames": 2.5}, TypeError, "every_n_frames must be an int"),
    ({"interval": 0}, ValueError, "interval must be a finite number of seconds > 0"),
    ({"interval": -1.0}, ValueError, "interval must be"),
    ({"interval": math.nan}, ValueError, "interval must be"),
    ({"interval": "1s"}, TypeError, "interval must be seconds"),
    ({"frame_count": 0}, ValueError, "frame_count must be >= 1"),
    ({"frame_count": True}, TypeError, "frame_count must be an int"),
    ({"frame_step": 0}, ValueError, "frame_step must be >= 1"),
])
def test_schedule_rejects_bad_values(vs, kwargs, error, message):
    with pytest.raises(error, match=message):
        vs.Schedule(_fn, name="crowd", **kwargs)


def test_schedule_rejects_bad_fn_and_name(vs):
    with pytest.raises(TypeError, match="fn must be callable"):
        vs.Schedule(42, name="crowd")
    with pytest.raises(ValueError, match="give a name"):
        vs.Schedule(lambda frames, d: None)
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        vs.Schedule(_fn, name="")
    assert vs.Schedule(_fn).name == "_fn"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"every_n_frames": 0}, ValueError, "Pipeline: every_n_frames must be >= 1"),
    ({"interval": 0.0}, ValueError, "Pipeline: interval must be"),
    ({"interval": -2}, ValueError, "Pipeline: interval must be"),
    ({"plugins": [_fn]}, TypeError, "plugins must be vistream.Schedule objects"),
    ({"plugins": ["crowd"]}, TypeError, "plugins must be vistream.Schedule objects"),
    ({"snapshot_every": 0}, ValueError, "snapshot_every"),
])
def test_pipeline_rejects_bad_values(vs, kwargs, error, message):
    with pytest.raises(error, match=message):
        vs.Pipeline(**kwargs)


def test_pipeline_rejects_duplicate_plugin_names(vs):
    with pytest.raises(ValueError, match="two plugins are named 'crowd'"):
        vs.Pipeline(plugins=[vs.Schedule(_fn, name="crowd"), vs.Schedule(lambda f, d: 1, name="crowd")])
    with pytest.raises(TypeError, match="detector must be callable"):
        vs.Pipeline("yolo")


def test_cadence_counts_media_time_across_dropped_frames_and_stays_bounded(vs):
    from vistream.schedule import Cadence
    cadence = Cadence(interval=1.0, window=100)
    # frames 0..9, then the player dropped 10..27: frame 28 (0.93 s) is not a second after 0
    seen = [i for i in range(10)] + [28, 29, 30, 31, 60, 61]
    due, previous = [], None
    for i in seen:
        if cadence.due(i, i / 30, previous):
            due.append(i)
        previous = i
    assert due == [0, 30, 60], due
    # decisions are remembered for a window of frames only
    for i in range(62, 5_000):
        cadence.due(i, i / 30, i - 1)
    assert len(cadence) == 100
