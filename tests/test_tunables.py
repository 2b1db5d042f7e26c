"""Live parameters (issue 16, docs/api.md "Live parameters and dashboard data"): plugins declare
``tunables``, ``Pipeline.set_tunable`` changes them from any thread, applied between frames on the
pipeline's own thread; ``Pipeline.highlight`` draws one track emphasised."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import vistream as vs
from vistream.annotate.highlight import HIGHLIGHT_COLOR
from vistream.detect.motion import MotionDetector
from vistream.track.bot_sort import BoTSORT
from vistream.track.byte_track import ByteTrack
from vistream.track.oc_sort import OCSORT

# the street clip at a quarter of its pixels and its first 3 s: MOG2 stays cheap on a loaded machine
SMALL = {"vfilter": "scale=640:360", "end": 3.0, "display": False, "mode": "offline", "audio": False}
CHANGE_AT = 45


class WatchedMotion(MotionDetector):
    """MotionDetector that records the min_area it ran with (at its start and end) and, on frame
    ``pause_at``, waits inside the detection until another thread has changed it."""

    def __init__(self, pause_at: int) -> None:
        super().__init__()
        self.pause_at = pause_at
        self.calls = 0
        self.inside = threading.Event()
        self.changed = threading.Event()
        self.seen: list = []  # (min_area at start, min_area at end, boxes)

    def __call__(self, image, **kwargs):
        start = self.min_area
        if self.calls == self.pause_at:
            self.inside.set()
            assert self.changed.wait(10), "the setter thread never ran"
        detections = super().__call__(image, **kwargs)
        self.calls += 1
        self.seen.append((start, self.min_area, detections.xyxy.copy()))
        return detections


def test_a_change_from_another_thread_applies_from_the_next_frame_never_mid_frame(test_mp4):
    detector = WatchedMotion(pause_at=CHANGE_AT)
    pipeline = vs.Pipeline(detector, ByteTrack(frame_rate=30))
    player = vs.Player(test_mp4, **SMALL)
    player.on_frame(pipeline)
    errors = []

    def web_thread():
        try:
            assert detector.inside.wait(30)
            pipeline.set_tunable("detector", "min_area", 0.05)  # while frame CHANGE_AT is being detected
            # the API already reports the queued value; the plugin does not have it yet
            assert {(t.plugin, t.name): t.value for t in pipeline.tunables()}[("detector", "min_area")] == 0.05
            assert detector.min_area == 0.0005
        except BaseException as error:  # reported by the test thread
            errors.append(error)
        finally:
            detector.changed.set()

    setter = threading.Thread(target=web_thread)
    setter.start()
    try:
        player.run()
    finally:
        detector.changed.set()
        setter.join(10)
    pipeline.close()
    assert not errors, errors
    seen = detector.seen
    assert len(seen) > CHANGE_AT + 20
    # never mid-frame: each detection ran with one value, the old one up to the frame it was set on
    assert all(start == end for start, end, _ in seen)
    assert [start for start, _, _ in seen[:CHANGE_AT + 1]] == [0.0005] * (CHANGE_AT + 1)
    assert [start for start, _, _ in seen[CHANGE_AT + 1:]] == [0.05] * (len(seen) - CHANGE_AT - 1)
    # and it changed the behaviour from the next frame on: no box smaller than 5% of the image
    area = 640 * 360 * 0.05
    boxes_area = [((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])) for _, _, b in seen]
    before, after = boxes_area[10:CHANGE_AT + 1], boxes_area[CHANGE_AT + 1:]
    assert sum(int((a < area).sum()) for a in before) > 50  # the street moves: many small blobs before
    assert all((a >= area).all() for a in after)
    assert sum(len(a) for a in after) / len(after) < 0.5 * sum(len(a) for a in before) / len(before)


def _frames(test_mp4, count: int):
    with vs.Reader(test_mp4) as reader:
        for frame in reader:
            if frame.index >= count:
                return
            yield frame


class FixedBoxes:
    """A detector whose boxes and scores the test sets per frame (the tracker is what is tested)."""

    def __init__(self) -> None:
        self.rows = [(100, 100, 200, 300, 0.5)]

    def __call__(self, image) -> vs.Detections:
        array = np.array(self.rows, np.float32)
        return vs.Detections(xyxy=array[:, :4], confidence=array[:, 4], class_id=np.zeros(len(array), np.int64))


def _second_track_started(test_mp4, tracker, track_thresh: float, score_b: float) -> bool:
    """Runs box A, then from frame 5 also box B scoring ``score_b``, with ``track_thresh`` set live
    at frame 4; whether B ever got a track."""
    detector = FixedBoxes()
    pipeline = vs.Pipeline(detector, tracker)
    started_b = False
    for frame in _frames(test_mp4, 12):
        if frame.index == 4:
            pipeline.set_tunable("tracker", "track_thresh", track_thresh)
        if frame.index == 5:
            detector.rows = [(100, 100, 200, 300, 0.5), (800, 100, 900, 300, score_b)]
        pipeline(frame)
        started_b = started_b or bool((pipeline.last.xyxy[:, 0] > 700).any())
    assert (pipeline.last.xyxy[:, 0] < 300).any()  # A is tracked throughout
    return started_b


@pytest.mark.parametrize("make, track_thresh, score_b, det_thresh", [
    (lambda: ByteTrack(frame_rate=30), 0.2, 0.32, 0.3),  # new tracks need track_thresh + 0.1
    # new_track_thresh unset: track_thresh itself (no score fusion: a 0.2 box confirms on its IoU)
    (lambda: BoTSORT(frame_rate=30, gmc="none", mot20=True), 0.15, 0.2, 0.15),
], ids=["bytetrack", "botsort"])
def test_lowering_track_thresh_lowers_what_a_new_track_needs(test_mp4, make, track_thresh, score_b, det_thresh):
    """A new track needs det_thresh, which the constructor derives from track_thresh: a live change
    must move it too, as a tracker built with the new value would."""
    tracker = make()
    assert _second_track_started(test_mp4, tracker, track_thresh=track_thresh, score_b=score_b)
    assert tracker.det_thresh == pytest.approx(det_thresh)
    assert not _second_track_started(test_mp4, make(), track_thresh=0.25, score_b=score_b)  # the default refuses B


def test_raising_bytetrack_track_thresh_stops_new_tracks(test_mp4):
    tracker = ByteTrack(frame_rate=30)
    assert not _second_track_started(test_mp4, tracker, track_thresh=0.45, score_b=0.5)  # needs 0.55 now
    assert tracker.det_thresh == pytest.approx(0.55)
    assert _second_track_started(test_mp4, ByteTrack(frame_rate=30), track_thresh=0.25, score_b=0.5)


def test_tracker_buffer_and_ocsort_derived_values(test_mp4):
    byte = ByteTrack(frame_rate=15)
    pipeline = vs.Pipeline(FixedBoxes(), byte)
    pipeline.set_tunable("tracker", "track_buffer", 90)
    oc = OCSORT(frame_rate=60)
    oc_pipeline = vs.Pipeline(FixedBoxes(), oc)
    oc_pipeline.set_tunable("tracker", "max_age", 10)
    oc_pipeline.set_tunable("tracker", "iou_thresh", 0.5)
    assert (byte.max_time_lost, oc.max_frames_unseen) == (15, 60)  # queued: nothing applied yet
    frame = next(_frames(test_mp4, 1))
    pipeline(frame)
    oc_pipeline(frame)
    assert byte.track_buffer == 90 and byte.max_time_lost == 45  # 90 frames at 30 fps = 45 at 15 fps
    assert oc.max_age == 10 and oc.max_frames_unseen == 20 and oc.iou_thresh == 0.5


def test_every_n_frames_of_the_pipeline_is_live(test_mp4):
    calls = []

    def detector(image):
        calls.append(len(calls))
        return vs.Detections.empty()

    pipeline = vs.Pipeline(detector)
    ran = []
    for frame in _frames(test_mp4, 16):
        if frame.index == 6:
            pipeline.set_tunable("pipeline", "every_n_frames", 4)
        before = len(calls)
        pipeline(frame)
        if len(calls) > before:
            ran.append(frame.index)
    assert ran == [0, 1, 2, 3, 4, 5, 8, 12]
    assert pipeline.every_n_frames == 4


def test_a_later_change_replaces_a_queued_one(test_mp4):
    detector = MotionDetector()
    pipeline = vs.Pipeline(detector)
    pipeline.set_tunable("detector", "var_threshold", 60)
    pipeline.set_tunable("detector", "var_threshold", 90.0)
    assert detector.var_threshold == 25.0
    pipeline(next(_frames(test_mp4, 1)))
    assert detector.var_threshold == 90.0


def test_errors_are_typed_and_nothing_is_queued():
    detector = MotionDetector()
    pipeline = vs.Pipeline(detector, ByteTrack())
    with pytest.raises(vs.UnknownTunableError, match="no plugin 'classifier'.*pipeline, detector, tracker"):
        pipeline.set_tunable("classifier", "conf", 0.5)
    with pytest.raises(KeyError):  # also a KeyError, and a VistreamError
        pipeline.set_tunable("detector", "conf", 0.5)
    with pytest.raises(vs.VistreamError, match="no tunable 'conf'.*min_area, var_threshold"):
        pipeline.set_tunable("detector", "conf", 0.5)
    with pytest.raises(ValueError, match=r"min_area must be within \[0, 0.05\]"):
        pipeline.set_tunable("detector", "min_area", 0.5)
    with pytest.raises(ValueError):
        pipeline.set_tunable("tracker", "track_thresh", float("nan"))
    with pytest.raises(TypeError):
        pipeline.set_tunable("detector", "min_area", "0.01")
    with pytest.raises(TypeError):
        pipeline.set_tunable("detector", "min_area", True)
    with pytest.raises(TypeError, match="takes an int"):
        pipeline.set_tunable("tracker", "track_buffer", 2.5)
    with pytest.raises(TypeError):
        pipeline.highlight("7")
    pipeline.set_tunable("tracker", "track_buffer", 40.0)  # a JSON number with an integral value is an int
    values = {(t.plugin, t.name): t.value for t in pipeline.tunables()}
    assert values[("detector", "min_area")] == 0.0005 and values[("tracker", "track_buffer")] == 40
    assert isinstance(values[("tracker", "track_buffer")], int)


def test_declared_tunables_of_the_plugins_users_tune():
    from vistream.detect.hog import HOGPeopleDetector
    from vistream.detect.yolox.detector import YOLOX
    from vistream.predict.predictors import ModelDetector
    from vistream.predict.ultralytics import UltralyticsPredictor

    names = {cls.__name__: [t.name for t in cls.tunables] for cls in
             (YOLOX, ModelDetector, UltralyticsPredictor, MotionDetector, HOGPeopleDetector, ByteTrack, BoTSORT, OCSORT)}
    assert names == {"YOLOX": ["conf", "nms"], "ModelDetector": ["conf", "iou"],
                     "UltralyticsPredictor": ["conf", "iou"], "MotionDetector": ["min_area", "var_threshold"],
                     "HOGPeopleDetector": ["min_confidence", "nms_threshold"],
                     "ByteTrack": ["track_thresh", "match_thresh", "track_buffer"],
                     "BoTSORT": ["track_thresh", "match_thresh", "track_buffer"],
                     "OCSORT": ["det_thresh", "iou_thresh", "max_age", "min_hits"]}
    pipeline = vs.Pipeline(MotionDetector(), annotators=[vs.annotate.BoxAnnotator()])
    listed = [t.to_json() for t in pipeline.tunables()]
    assert {"plugin": "detector", "name": "min_area", "value": 0.0005, "minimum": 0.0, "maximum": 0.05,
            "step": 0.0005, "kind": "float", "doc": "smallest blob kept, fraction of the image area"} in listed
    assert [t["plugin"] for t in listed] == ["pipeline", "detector", "detector"]  # BoxAnnotator declares none


def test_schedule_and_annotator_tunables(test_mp4):
    class Counter:
        tunables = (vs.Tunable("minimum_score", 0.0, 1.0, 0.1),)

        def __init__(self) -> None:
            self.minimum_score = 0.0

        def __call__(self, frames, detections):
            return int((detections.confidence >= self.minimum_score).sum())

    class Marker:
        tunables = (vs.Tunable("enabled", 0, 1, 1, "bool"),)
        enabled = True

        def annotate(self, image, detections):
            if self.enabled:
                image[:4, :4] = 255
            return image

    pipeline = vs.Pipeline(FixedBoxes(), plugins=[vs.Schedule(Counter(), name="count")], annotators=[Marker()])
    assert {(t.plugin, t.name, t.value) for t in pipeline.tunables()} >= {
        ("count", "minimum_score", 0.0), ("annotator:0", "enabled", True)}
    with pytest.raises(TypeError):
        pipeline.set_tunable("annotator:0", "enabled", 1)
    frames = list(_frames(test_mp4, 2))
    pipeline(frames[0])
    assert pipeline.results["count"] == 1
    pipeline.set_tunable("count", "minimum_score", 0.6)
    pipeline.set_tunable("annotator:0", "enabled", False)
    frames[1].array[:4, :4] = 0
    pipeline(frames[1])
    assert pipeline.results["count"] == 0
    assert not frames[1].array[:4, :4].any()


def test_highlight_draws_on_exactly_that_tracks_box(test_mp4):
    detector = FixedBoxes()
    detector.rows = [(100, 100, 200, 300, 0.9), (700, 200, 820, 420, 0.9)]
    pipeline = vs.Pipeline(detector, ByteTrack(frame_rate=30))
    changes = {}
    for frame in _frames(test_mp4, 8):
        if frame.index == 3:
            right = int(pipeline.last.tracker_id[pipeline.last.xyxy[:, 0] > 600][0])
            pipeline.highlight(right)  # the right-hand track
            assert pipeline.highlighted == right
        if frame.index == 6:
            pipeline.highlight(None)
        before = frame.array.copy()
        pipeline(frame)
        changes[frame.index] = np.argwhere((frame.array != before).any(axis=2))
    assert all(len(changes[i]) == 0 for i in (0, 1, 2, 6, 7))  # no annotators: only the highlight draws
    for i in (3, 4, 5):
        ys, xs = changes[i][:, 0], changes[i][:, 1]
        assert len(ys) > 500
        # every changed pixel is on the right-hand box's outline or its id tag, none near the other box
        assert xs.min() >= 700 - 12 and xs.max() <= 820 + 60 and ys.max() <= 420 + 12
        assert not ((xs < 300) & (ys < 320)).any()
        # the outline: changes along all four sides
        assert (abs(xs - 700) <= 6).sum() > 100 and (abs(xs - 820) <= 6).sum() > 100
        assert (abs(ys - 420) <= 6).sum() > 50 and (abs(ys - 200) <= 20).sum() > 50


def test_highlight_color_on_the_outline(test_mp4):
    detector = FixedBoxes()
    detector.rows = [(100, 100, 200, 300, 0.9), (700, 200, 820, 420, 0.9)]
    pipeline = vs.Pipeline(detector, ByteTrack(frame_rate=30))
    frames = list(_frames(test_mp4, 3))
    pipeline(frames[0])
    pipeline(frames[1])
    right = int(pipeline.last.tracker_id[pipeline.last.xyxy[:, 0] > 600][0])
    pipeline.highlight(right)
    pipeline(frames[2])
    x1, y1, x2, y2 = (int(round(v)) for v in pipeline.last.xyxy[pipeline.last.tracker_id == right][0])
    image = frames[2].array
    color = np.array(HIGHLIGHT_COLOR, np.uint8)
    for y, x in ((y1 + 40, x1), (y1 + 40, x2), (y2, x1 + 40), (y1, x2 - 10)):  # left, right, bottom, top edges
        assert (image[y, x] == color).all(), (y, x, image[y, x])
    assert pipeline.dashboard().highlighted == right


class ScoredBoxes:
    """Three boxes scoring 0.4, 0.6 and 0.9, kept when at least ``conf``."""

    tunables = (vs.Tunable("conf", 0.0, 1.0, 0.05),)

    def __init__(self) -> None:
        self.conf = 0.1

    def __call__(self, image) -> vs.Detections:
        scores = np.array([0.4, 0.6, 0.9], np.float32)
        keep = scores >= self.conf
        boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]], np.float32)
        return vs.Detections(xyxy=boxes[keep], confidence=scores[keep], class_id=np.zeros(int(keep.sum()), np.int64))


def test_frames_shown_again_after_a_change_are_detected_with_the_new_value(test_mp4):
    """The pipeline replays remembered detections on a seek back; after a live change it must not
    show the old parameters' boxes there (what a user stepping back to compare expects)."""
    pipeline = vs.Pipeline(ScoredBoxes(), ByteTrack(frame_rate=30))
    shown = {}
    with vs.Reader(test_mp4) as reader:
        for frame in reader:
            if frame.index == 20:
                break
            if frame.index == 12:
                pipeline.set_tunable("detector", "conf", 0.7)
            pipeline(frame)
            shown[frame.index] = len(pipeline.last)
        reader.seek(index=5)
        for _ in range(5):
            frame = next(reader)
            pipeline(frame)
            shown[("again", frame.index)] = len(pipeline.last)
    assert [shown[i] for i in range(3, 12)] == [3] * 9 and [shown[i] for i in range(13, 20)] == [1] * 7
    assert [shown[("again", i)] for i in range(6, 10)] == [1] * 4


class LateBoxes:
    """One box on its first 5 calls (its track takes the first id, then is lost), then three
    boxes for good: their tracks' ids are not the first ones a fresh tracker gives."""

    tunables = (vs.Tunable("conf", 0.0, 1.0, 0.05),)

    def __init__(self) -> None:
        self.conf = 0.1
        self.calls = 0

    def __call__(self, image) -> vs.Detections:
        self.calls += 1
        if self.calls <= 5:
            boxes = np.array([[300, 300, 340, 340]], np.float32)
        else:
            boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]], np.float32)
        return vs.Detections(xyxy=boxes, confidence=np.full(len(boxes), 0.9, np.float32),
                             class_id=np.zeros(len(boxes), np.int64))


def test_a_frame_shown_again_soon_after_a_change_keeps_its_track_ids(test_mp4):
    """A live change forgets the replay memory; a frame processed after it and shown again (the
    web view re-shows a paused frame on a highlight) must replay the tracker from where it was
    at the change, not from a fresh tracker: the ids a user just clicked must not change."""
    pipeline = vs.Pipeline(LateBoxes(), ByteTrack(frame_rate=30))
    ids = {}
    with vs.Reader(test_mp4) as reader:
        for frame in reader:
            if frame.index == 20:
                break
            if frame.index == 12:  # between two snapshots (every 30 frames)
                pipeline.set_tunable("detector", "conf", 0.2)
            pipeline(frame)
            ids[frame.index] = sorted(pipeline.last.tracker_id.tolist())
        for again in (19, 15):
            reader.seek(index=again)
            pipeline(next(reader))
            assert sorted(pipeline.last.tracker_id.tolist()) == ids[again], f"frame {again} shown again"
    assert ids[19] == ids[11] and min(ids[19]) > 1, "the three tracks kept ids past the first one"


def test_decoupled_detector_changes_are_applied_by_its_worker_between_runs(test_mp4):
    """decoupled=True runs the detector on a worker thread: a change must reach it between two of
    its runs, never while one runs (the pipeline's thread does not wait for the worker)."""
    runs = []

    class SlowScored(ScoredBoxes):
        def __call__(self, image):
            start = self.conf
            threading.Event().wait(0.02)  # a run long enough for changes to arrive while it runs
            detections = super().__call__(image)
            runs.append((threading.current_thread().name, start, self.conf, len(detections)))
            return detections

    pipeline = vs.Pipeline(SlowScored(), decoupled=True)
    player = vs.Player(test_mp4, display=False, mode="realtime", audio=False, end=1.5, vfilter="scale=320:180")
    player.on_frame(pipeline)
    stop = threading.Event()
    values = [0.5, 0.7, 0.95, 0.3]

    def web_thread():
        i = 0
        while not stop.wait(0.013):  # out of step with the detector's runs on purpose
            pipeline.set_tunable("detector", "conf", values[i % len(values)])
            i += 1

    setter = threading.Thread(target=web_thread)
    setter.start()
    try:
        player.run()
    finally:
        stop.set()
        setter.join(10)
    pipeline.close()
    assert len(runs) > 10
    assert all(name != threading.current_thread().name for name, _, _, _ in runs)  # on the worker
    assert all(start == end for _, start, end, _ in runs)  # never changed during a run
    expected = {0.1: 3, 0.3: 3, 0.5: 2, 0.7: 1, 0.95: 0}
    assert all(boxes == expected[start] for _, start, _, boxes in runs)
    assert len({start for _, start, _, _ in runs}) >= 3  # the changes did arrive
