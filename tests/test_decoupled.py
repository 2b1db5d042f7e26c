"""Pipeline(decoupled=True): a realtime Player never waits for a slow detector, every frame shows the
latest tracks moved forward by the tracker's motion model, results computed before a seek are not
applied after it, offline use keeps the synchronous behaviour, and the worker's errors and shutdown
behave like the callback's."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
PLAY = [sys.executable, str(REPO / "python" / "play.py")]
TEST_MP4_FRAMES = 240
DETECTOR_SECONDS = 0.15


class SlowMotionDetector:
    """A real detector (MOG2 motion blobs, on a half-size copy to spare the shared CPU) that takes
    150 ms per call, like a CNN on a CPU."""

    def __init__(self, seconds: float = DETECTOR_SECONDS) -> None:
        import cv2
        from vistream.detect import MotionDetector

        self._cv2 = cv2
        self._motion = MotionDetector()
        self.seconds = seconds
        self.calls = 0
        self.threads = set()

    def prime(self, video, frames: int = 60) -> None:
        """Teaches the background model the scene first, so that every call finds the walkers."""
        import vistream

        with vistream.Reader(video) as reader:
            for frame in reader:
                if frame.index == frames:
                    break
                self._motion(self._half(frame.array))

    def _half(self, image):
        return self._cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=self._cv2.INTER_AREA)

    def __call__(self, image):
        started = time.perf_counter()
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        detections = self._motion(self._half(image))
        detections.xyxy = detections.xyxy * 2
        time.sleep(max(0.0, self.seconds - (time.perf_counter() - started)))
        return detections


def inference_threads():
    return [t for t in threading.enumerate() if t.name == "vistream-inference" and t.is_alive()]


def test_realtime_player_keeps_media_pace_and_every_frame_carries_tracks(vs, test_mp4, tmp_path):
    from vistream.annotate import BoxAnnotator
    from vistream.track import ByteTrack

    out, results = tmp_path / "out.mp4", tmp_path / "r.jsonl"
    # ultrafast: x264's default preset alone cannot keep a loaded 2-core machine at media pace; no
    # sound played: the test's dummy audio device would be the clock, and it lags on a starved machine
    player = vs.Player(test_mp4, output=str(out), mode="realtime", display=False, preset="ultrafast",
                       play_audio=False)
    detector = SlowMotionDetector()
    detector.prime(test_mp4)
    pipeline = vs.Pipeline(detector, ByteTrack(frame_rate=player.info.fps), [BoxAnnotator()],
                           results=str(results), decoupled=True)
    player.on_frame(pipeline)
    started = time.perf_counter()
    stats = player.run()
    wall = time.perf_counter() - started
    pipeline.close()
    assert not inference_threads()  # close() joined the worker

    duration = TEST_MP4_FRAMES / player.info.fps
    # synchronously, 240 frames x 150 ms is > 36 s offline (4.5x), or ~190 frames dropped in real time
    assert wall < 1.5 * duration, f"{wall:.1f} s for {duration:.1f} s of media: {stats}, {pipeline.decoupled_stats}"
    assert detector.threads == {"vistream-inference"}
    # every frame reaches the output (240 of 240 on a quiet machine); a few may be lost to a CPU-starved
    # one, as any callback loses them there, never the ~80% the synchronous pipeline drops
    assert stats.frames_encoded + stats.frames_dropped == TEST_MP4_FRAMES
    assert stats.frames_dropped <= TEST_MP4_FRAMES // 10, stats
    with vs.Reader(str(out)) as reader:
        assert sum(1 for _ in reader) == stats.frames_encoded

    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == stats.frames_processed
    with_tracks = [i for i, line in enumerate(lines) if line["detections"]]
    assert with_tracks and with_tracks[0] < 30, "no tracks in the first second"
    # from the first tracked result on, every frame carries tracks (held and moved forward in between)
    assert with_tracks == list(range(with_tracks[0], len(lines)))
    assert all(line["detections"][0].get("tracker_id") is not None for line in lines[with_tracks[0]:])
    for line in lines[with_tracks[0]:]:
        inference = line["inference"]
        assert 0 <= inference["frames_behind"] <= 60 and inference["frame"] <= line["frame"]
        assert inference["latency_ms"] >= DETECTOR_SECONDS * 1000 * 0.9

    inference = pipeline.decoupled_stats
    assert inference.frames == stats.frames_processed
    # results applied or dropped; at most the one under way at the end and one not taken yet are not counted
    assert detector.calls - 2 <= inference.detector_runs <= detector.calls
    assert detector.calls >= 20  # ~50 at 150 ms per call over 8 s; fewer on a starved machine
    assert inference.frames_replaced > 0  # busy worker: frames were not queued
    assert inference.frames_behind_mean >= DETECTOR_SECONDS * player.info.fps * 0.9
    assert inference.latency_ms_p50 >= DETECTOR_SECONDS * 1000 * 0.9
    assert inference.detector_ms_mean >= DETECTOR_SECONDS * 1000 * 0.95


@pytest.mark.parametrize("tracker_name", ["ByteTrack", "BoTSORT"])
def test_predicted_at_moves_tracks_forward_without_touching_the_tracker(tracker_name):
    from vistream import Detections, track

    tracker = getattr(track, tracker_name)(frame_rate=30)

    def box_at(k):  # a person walking right at 5 px per frame
        return Detections(xyxy=np.array([[100 + 5 * k, 100, 140 + 5 * k, 200]], np.float32),
                          confidence=np.array([0.9], np.float32), class_id=np.array([0]))

    for k in range(15):
        tracked = tracker.update(box_at(k))
    before = json.dumps(tracker.state_dict())
    ahead = tracker.predicted_at(6, tracked)
    assert json.dumps(tracker.state_dict()) == before  # no side effect
    assert ahead.tracker_id.tolist() == tracked.tracker_id.tolist()
    truth = box_at(20).xyxy[0]
    assert np.abs(ahead.xyxy[0] - truth).max() < 4, (ahead.xyxy, truth)        # moved with the track
    assert np.abs(tracked.xyxy[0] - truth).max() > 25                           # the held box is far behind
    assert np.array_equal(tracker.predicted_at(0, tracked).xyxy, tracked.xyxy)
    with pytest.raises(ValueError):
        tracker.predicted_at(-1, tracked)


def marked_frame(index, serial, discontinuity=False):
    """A frame whose pixel (0, 0) names it: the detector below boxes at x = that value."""
    array = np.zeros((64, 64, 3), np.uint8)
    array[0, 0, 0] = index % 256
    return SimpleNamespace(index=index, time=index / 30, array=array, serial=serial,
                           discontinuity=discontinuity, reconnected=False)


def test_a_result_computed_before_a_seek_is_not_applied_after_it(vs):
    release = threading.Event()
    seen = []

    def detector(image):
        mark = int(image[0, 0, 0])
        seen.append(mark)
        if mark == 1:
            release.wait(10)  # frame 1's detection is still running when the seek happens
        return vs.Detections(xyxy=np.array([[mark, 10, mark + 20, 50]], np.float32),
                             confidence=np.array([0.9], np.float32), class_id=np.array([0]))

    pipeline = vs.Pipeline(detector, decoupled=True)

    def run_until(predicate, start, serial):
        index = start
        deadline = time.monotonic() + 10
        while not predicate():
            assert time.monotonic() < deadline
            pipeline(marked_frame(index, serial))
            index += 1
            time.sleep(0.005)
        return index

    pipeline(marked_frame(0, serial=0, discontinuity=True))
    run_until(lambda: len(pipeline.last) == 1, 1, serial=0)          # frame 0's result shown
    run_until(lambda: 1 in seen, 1, serial=0)                        # frame 1 being detected
    pipeline(marked_frame(200, serial=1, discontinuity=True))        # seek while it runs
    assert len(pipeline.last) == 0  # the old timeline's tracks are gone
    release.set()
    run_until(lambda: len(pipeline.last) == 1, 201, serial=1)
    # the first result shown after the seek is from the new timeline, never frame 1's
    assert pipeline.last.xyxy[0, 0] >= 200 % 256
    stats = pipeline.decoupled_stats
    assert stats.results_discarded >= 1
    pipeline.close()
    assert not inference_threads()


def test_offline_use_warns_and_keeps_the_synchronous_results(vs, test_mp4):
    from vistream.track import ByteTrack

    def run(decoupled, frames):
        pipeline = vs.Pipeline(SlowMotionDetector(seconds=0), ByteTrack(frame_rate=30), decoupled=decoupled)
        boxes = []
        for frame in frames:
            pipeline(frame)
            boxes.append((pipeline.last.tracker_id.tolist(), pipeline.last.xyxy.round(2).tolist()))
        pipeline.close()
        return boxes, pipeline

    def reader_frames():
        with vs.Reader(test_mp4) as reader:
            for frame in reader:
                if frame.index == 30:
                    return
                yield frame

    expected, _ = run(False, reader_frames())
    with pytest.warns(UserWarning, match="decoupled=True"):
        got, pipeline = run(True, reader_frames())
    assert got == expected and any(ids for ids, _ in got)
    assert pipeline.decoupled_stats.frames == 0
    assert not inference_threads()

    # a Player in offline mode: every frame through the detector, as without decoupled
    detector_calls = []
    player = vs.Player(test_mp4, mode="offline", display=False, end=0.5)
    pipeline = vs.Pipeline(lambda image: detector_calls.append(1) or vs.Detections.empty(), decoupled=True)
    player.on_frame(pipeline)
    with pytest.warns(UserWarning, match="offline mode"):
        stats = player.run()
    pipeline.close()
    assert len(detector_calls) == stats.frames_processed > 0


def test_detector_error_on_the_worker_ends_the_run_with_its_type(vs, test_mp4, tmp_path):
    class Broken(RuntimeError):
        pass

    def detector(image):
        raise Broken("model exploded")

    player = vs.Player(test_mp4, output=str(tmp_path / "o.mp4"), mode="realtime", display=False,
                       preset="ultrafast", end=2)
    pipeline = vs.Pipeline(detector, decoupled=True)
    player.on_frame(pipeline)
    with pytest.raises(Broken, match="model exploded"):
        player.run()
    pipeline.close()
    assert not inference_threads()


def test_decoupled_needs_a_detector_and_realtime_on_the_command_line(vs, test_mp4):
    with pytest.raises(ValueError, match="needs a detector"):
        vs.Pipeline(None, decoupled=True)
    with pytest.raises(TypeError):
        vs.Pipeline(lambda image: vs.Detections.empty(), decoupled="yes")
    for arguments, words in ((["--detector", "motion", "--decoupled", "--offline"], "--decoupled is for real-time"),
                             (["--decoupled"], "add a detector")):
        result = subprocess.run([*PLAY, str(test_mp4), "--headless", *arguments], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 2 and words in result.stderr, result.stderr
