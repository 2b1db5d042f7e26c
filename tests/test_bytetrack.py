"""ByteTrack / IoUTracker behaviour on synthetic scenes (no media, pure numpy)."""
from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

from vistream import Detections
from vistream.track import ByteTrack, IoUTracker, KalmanFilterXYAH, iou_matrix, linear_assignment


def box(cx: float, cy: float, w: float = 40.0, h: float = 80.0) -> list:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def dets(boxes, scores=None, classes=None) -> Detections:
    if not boxes:
        return Detections.empty()
    n = len(boxes)
    return Detections(xyxy=boxes, confidence=[0.9] * n if scores is None else scores,
                      class_id=[0] * n if classes is None else classes)


def id_at(out: Detections, cx: float, cy: float) -> int:
    """Tracker id of the output box whose centre is nearest (cx, cy)."""
    assert len(out) > 0, "no tracks output"
    d = np.hypot(*(out.center - np.array([cx, cy])).T)
    assert d.min() < 15, f"no output box near ({cx}, {cy}): {out.xyxy}"
    return int(out.tracker_id[np.argmin(d)])


# -- building blocks ------------------------------------------------------------------------
def test_iou_matrix_and_assignment():
    iou = iou_matrix(np.array([[0, 0, 10, 10], [100, 100, 110, 110]]), np.array([[5, 0, 15, 10]]))
    assert iou.shape == (2, 1)
    assert iou[0, 0] == pytest.approx(1 / 3) and iou[1, 0] == 0
    assert iou_matrix(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)
    matches, rows, cols = linear_assignment(np.array([[0.1, 0.9], [0.8, 0.95]]), 0.8)
    assert matches.tolist() == [[0, 0]] and rows.tolist() == [1] and cols.tolist() == [1]
    matches, rows, cols = linear_assignment(np.zeros((0, 2)), 0.5)
    assert matches.shape == (0, 2) and cols.tolist() == [0, 1]


def test_kalman_learns_constant_velocity():
    kf = KalmanFilterXYAH()
    mean, cov = kf.initiate(np.array([0.0, 0.0, 0.5, 80.0]))
    for t in range(1, 40):
        means, covs = kf.multi_predict(mean[None], cov[None])
        mean, cov = kf.update(means[0], covs[0], np.array([3.0 * t, -1.0 * t, 0.5, 80.0]))
    assert mean[4] == pytest.approx(3.0, abs=0.05) and mean[5] == pytest.approx(-1.0, abs=0.05)
    assert np.allclose(cov, cov.T) and np.all(np.linalg.eigvalsh(cov) > 0)


# -- ByteTrack behaviour --------------------------------------------------------------------
def test_two_linear_objects_keep_ids_for_50_frames():
    tracker = ByteTrack()
    seen = {"a": set(), "b": set()}
    for f in range(50):
        a, b = (100 + 3 * f, 200), (600 - 2 * f, 300 + 1.5 * f)
        out = tracker.update(dets([box(*a), box(*b)], scores=[0.9, 0.85]))
        assert len(out) == 2
        seen["a"].add(id_at(out, *a))
        seen["b"].add(id_at(out, *b))
    assert seen == {"a": {1}, "b": {2}}


def test_crossing_paths_keep_ids():
    tracker = ByteTrack()
    ids_a, ids_b = [], []
    for f in range(60):
        a, b = (100 + 5 * f, 200), (400 - 5 * f, 210)  # meet head-on around frame 30
        out = tracker.update(dets([box(*a), box(*b)]))
        if abs(a[0] - b[0]) > 30:  # away from the moment the boxes coincide
            ids_a.append(id_at(out, *a))
            ids_b.append(id_at(out, *b))
    assert set(ids_a) == {1} and set(ids_b) == {2}


@pytest.mark.parametrize("gap, same_id", [(5, True), (20, True), (30, True), (31, False), (45, False)])
def test_reacquire_within_buffer_only(gap, same_id):
    tracker = ByteTrack(track_buffer=30)
    for _ in range(10):
        assert tracker.update(dets([box(300, 300)])).tracker_id.tolist() == [1]
    for _ in range(gap):
        assert len(tracker.update(dets([]))) == 0
    # the first returning frame: a matched lost track is output at once; a new track
    # is only confirmed on its second frame (ByteTrack's unconfirmed stage)
    first = tracker.update(dets([box(300, 300)]))
    second = tracker.update(dets([box(300, 300)]))
    if same_id:
        assert first.tracker_id.tolist() == [1] and second.tracker_id.tolist() == [1]
    else:
        assert len(first) == 0 and second.tracker_id.tolist() == [2]


def test_buffer_scales_with_frame_rate():
    tracker = ByteTrack(frame_rate=15, track_buffer=30)  # keeps lost tracks 15 frames
    assert tracker.max_time_lost == 15
    for gap, expected in ((14, 1), (20, 2)):
        for _ in range(3):
            tracker.update(dets([box(300, 300)]))
        for _ in range(gap):
            tracker.update(dets([]))
        tracker.update(dets([box(300, 300)]))
        assert tracker.update(dets([box(300, 300)])).tracker_id.tolist() == [expected]


def test_low_score_detections_keep_track_alive_but_do_not_start_tracks():
    tracker = ByteTrack(track_thresh=0.5)
    for f in range(5):
        tracker.update(dets([box(100 + 2 * f, 100)], scores=[0.9]))
    for f in range(5, 50):
        # existing track seen only with score 0.2; a lone 0.2 box and a 0.55 box (high,
        # but below det_thresh 0.6) elsewhere must never become tracks
        out = tracker.update(dets([box(100 + 2 * f, 100), box(500, 500), box(800, 300)],
                                  scores=[0.2, 0.2, 0.55]))
        assert out.tracker_id.tolist() == [1]
        assert out.confidence[0] == pytest.approx(0.2)
        assert id_at(out, 100 + 2 * f, 100) == 1
    assert len(tracker.tracked) == 1 and not tracker.lost


def test_detections_below_floor_are_ignored():
    tracker = ByteTrack()
    for _ in range(10):
        assert len(tracker.update(dets([box(100, 100)], scores=[0.05]))) == 0
    assert not tracker.tracked and not tracker.lost
    tracker.update(dets([box(300, 300)]))
    assert tracker.update(dets([box(300, 300)])).tracker_id.tolist() == [1]  # confirmed
    out = tracker.update(dets([box(300, 300)], scores=[0.09]))  # too weak even for stage 2
    assert len(out) == 0 and len(tracker.lost) == 1


def test_empty_input_ages_tracks():
    tracker = ByteTrack(track_buffer=30)
    tracker.update(dets([box(100, 100), box(400, 100)]))
    out = tracker.update(Detections.empty())
    assert len(out) == 0 and out.tracker_id.dtype == np.int64
    assert len(tracker.lost) == 2 and not tracker.tracked
    assert len(tracker.update(None)) == 0
    for _ in range(30):
        tracker.update(Detections.empty())
    assert not tracker.lost and not tracker.tracked
    assert tracker.frame_id == 33


def _scene(n_frames: int = 40, seed: int = 0) -> list:
    """Several noisy movers with drop-outs, low scores and a crossing."""
    rng = np.random.default_rng(seed)
    starts = rng.uniform(50, 900, size=(6, 2))
    velocities = rng.uniform(-6, 6, size=(6, 2))
    frames = []
    for f in range(n_frames):
        centres = starts + f * velocities + rng.normal(0, 1.0, size=(6, 2))
        scores = rng.uniform(0.05, 1.0, size=6)
        keep = rng.random(6) > 0.15
        frames.append(Detections(xyxy=[box(*c) for c in centres[keep]], confidence=scores[keep],
                                 class_id=np.arange(6)[keep]))
    return frames


def test_state_dict_round_trip_reproduces_ids_exactly():
    frames = _scene(40)
    reference = ByteTrack()
    outputs = [reference.update(d) for d in frames]
    assert max(int(o.tracker_id.max(initial=0)) for o in outputs) >= 3  # the scene does track things

    tracker = ByteTrack()
    for d in frames[:20]:
        tracker.update(d)
    snapshot = tracker.state_dict()
    json.dumps(snapshot)  # plain data
    snapshot = pickle.loads(pickle.dumps(copy.deepcopy(snapshot)))
    for d in frames[20:]:  # the original tracker continues and must not disturb the snapshot
        tracker.update(d)

    restored = ByteTrack(frame_rate=60, track_thresh=0.3)  # configuration comes from the snapshot
    restored.load_state_dict(snapshot)
    assert restored.frame_id == 20 and restored.track_thresh == 0.25
    for f in range(20, 40):
        out = restored.update(frames[f])
        assert out.tracker_id.tolist() == outputs[f].tracker_id.tolist()
        np.testing.assert_array_equal(out.xyxy, outputs[f].xyxy)
        np.testing.assert_array_equal(out.class_id, outputs[f].class_id)


def test_reset_restarts_ids_at_one():
    tracker = ByteTrack()
    for f in range(3):
        out = tracker.update(dets([box(100, 100), box(400, 400), box(700, 100)]))
    assert out.tracker_id.tolist() == [1, 2, 3]
    tracker.reset()
    assert tracker.frame_id == 0 and not tracker.tracked and not tracker.lost
    assert tracker.update(dets([box(50, 500)])).tracker_id.tolist() == [1]


def test_new_track_after_first_frame_needs_confirmation():
    tracker = ByteTrack()
    tracker.update(dets([box(100, 100)]))
    out = tracker.update(dets([box(100, 100), box(500, 500)]))
    assert out.tracker_id.tolist() == [1]          # the newcomer is unconfirmed
    out = tracker.update(dets([box(100, 100), box(500, 500)]))
    assert sorted(out.tracker_id.tolist()) == [1, 2]
    tracker.update(dets([box(100, 100), box(800, 800)]))  # a one-frame blip ...
    out = tracker.update(dets([box(100, 100)]))
    assert sorted(out.tracker_id.tolist()) == [1]
    out = tracker.update(dets([box(100, 100), box(300, 800)]))
    out = tracker.update(dets([box(100, 100), box(300, 800)]))
    assert sorted(out.tracker_id.tolist()) == [1, 3]  # ... never consumed an id


def test_output_fields():
    tracker = ByteTrack()
    d = Detections(xyxy=[box(100, 100), box(400, 400)], confidence=[0.9, 0.7], class_id=[3, 7],
                   data={"class_name": np.array(["cat", "dog"])})
    for _ in range(3):
        out = tracker.update(d)
    assert out.tracker_id.dtype == np.int64 and out.xyxy.dtype == np.float32
    order = np.argsort(out.tracker_id)
    assert out.class_id[order].tolist() == [3, 7]
    assert out.data["class_name"][order].tolist() == ["cat", "dog"]
    np.testing.assert_allclose(out.confidence[order], [0.9, 0.7], rtol=1e-6)
    np.testing.assert_allclose(out.xyxy[order], d.xyxy, atol=1e-3)  # static boxes stay put


def test_boxes_are_kalman_updated_not_raw():
    tracker = ByteTrack()
    for f in range(10):
        out = tracker.update(dets([box(100 + 5 * f, 100)]))
    jump = tracker.update(dets([box(150 + 12, 100)]))  # a noisy measurement
    assert 150 < jump.center[0, 0] < 162  # pulled towards the prediction (~150)


# -- IoU baseline ---------------------------------------------------------------------------
def test_iou_tracker_baseline():
    tracker = IoUTracker(iou_threshold=0.3, max_age=2, min_hits=2)
    assert len(tracker.update(dets([box(100, 100), box(400, 100)]))) == 0  # min_hits
    out = tracker.update(dets([box(103, 100), box(403, 100)], classes=[1, 2]))
    assert out.tracker_id.tolist() == [1, 2] and out.class_id.tolist() == [1, 2]
    snapshot = pickle.loads(pickle.dumps(tracker.state_dict()))
    for _ in range(3):  # track 2 unmatched 3 > max_age frames
        tracker.update(dets([box(106, 100)]))
    assert tracker.update(dets([box(109, 100), box(403, 100)])).tracker_id.tolist() == [1]  # 2 too old
    restored = IoUTracker()
    restored.load_state_dict(snapshot)
    assert restored.update(dets([box(106, 100), box(403, 100)])).tracker_id.tolist() == [1, 2]
    restored.reset()
    restored.update(dets([box(0, 100)]))
    assert restored.update(dets([box(0, 100)])).tracker_id.tolist() == [1]
