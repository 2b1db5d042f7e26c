"""OC-SORT: ids kept through occlusions by the observation-centric stages, and its quality on the
MOTChallenge-based data of tests/test_tracker_parity.py (the same generator, occlusion-heavy)."""
from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

from vistream.detections import Detections
from vistream.track import ByteTrack, OCSORT

from test_tracker_parity import _ground_truth, _mota_idf1, _run, _synthesise, _vistream


def box(cx: float, cy: float, w: float = 40.0, h: float = 80.0) -> list:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def dets(boxes, scores=None) -> Detections:
    n = len(boxes)
    return Detections(xyxy=np.array(boxes, np.float32).reshape(-1, 4),
                      confidence=[0.9] * n if scores is None else scores, class_id=[0] * n)


def id_at(out: Detections, cx: float, cy: float) -> int:
    centres = (out.xyxy[:, :2] + out.xyxy[:, 2:]) / 2
    nearest = int(np.argmin(np.linalg.norm(centres - [cx, cy], axis=1)))
    assert np.linalg.norm(centres[nearest] - [cx, cy]) < 20, "no track near the object"
    return int(out.tracker_id[nearest])


def test_id_kept_through_an_occlusion_and_velocity_re_updated():
    """An object walking right is unseen for 12 frames and reappears where its motion takes it."""
    tracker = OCSORT(frame_rate=30)
    for f in range(10):
        assert tracker.update(dets([box(100 + 6 * f, 200)])).tracker_id.tolist() == [1]
    for f in range(10, 22):
        assert len(tracker.update(dets([]))) == 0
    for f in range(22, 30):
        out = tracker.update(dets([box(100 + 6 * f, 200)]))
        assert out.tracker_id.tolist() == [1], f"frame {f}"
    # after the re-update over the gap the filter moves at the object's speed, 6 px per frame
    velocity = tracker.tracks[0].mean[4]
    assert velocity == pytest.approx(6.0, abs=0.5)


def test_crossing_objects_keep_their_ids():
    """Two people cross; the one behind is hidden (no detection) while they overlap."""
    tracker = OCSORT(frame_rate=30)
    ids_a, ids_b = [], []
    for f in range(60):
        a, b = (100 + 5 * f, 200), (400 - 5 * f, 205)
        hidden = abs(a[0] - b[0]) < 45  # b walks behind a
        out = tracker.update(dets([box(*a)] + ([] if hidden else [box(*b)])))
        if abs(a[0] - b[0]) > 60:
            ids_a.append(id_at(out, *a))
            ids_b.append(id_at(out, *b))
    assert set(ids_a) == {1} and set(ids_b) == {2}


def test_low_score_detections_keep_tracks_alive_but_do_not_start_them():
    tracker = OCSORT(frame_rate=30)
    for f in range(5):
        tracker.update(dets([box(100 + 3 * f, 100)]))
    for f in range(5, 30):
        out = tracker.update(dets([box(100 + 3 * f, 100), box(500, 400)], scores=[0.3, 0.3]))
        assert out.tracker_id.tolist() == [1]
    assert len(tracker.tracks) == 1


def test_state_dict_round_trip_reproduces_ids_exactly():
    gt = _ground_truth("TUD-Stadtmitte")
    frames = [np.column_stack([xyxy, s]) for _, xyxy, s in _synthesise(gt, 0)]
    reference = OCSORT(frame_rate=25)
    outputs = [reference.update(d) for d in frames]
    tracker = OCSORT(frame_rate=25)
    for d in frames[:60]:
        tracker.update(d)
    snapshot = pickle.loads(pickle.dumps(copy.deepcopy(tracker.state_dict())))
    json.dumps(snapshot)
    restored = OCSORT(frame_rate=60, det_thresh=0.9)  # configuration comes from the snapshot
    restored.load_state_dict(snapshot)
    for f in range(60, len(frames)):
        out = restored.update(frames[f])
        assert out.tracker_id.tolist() == outputs[f].tracker_id.tolist()
        np.testing.assert_allclose(out.xyxy, outputs[f].xyxy)


@pytest.mark.parametrize("value", [{"det_thresh": 1.5}, {"min_hits": 0}, {"delta_t": 2.5}, {"inertia": -1}])
def test_bad_configuration_is_a_clear_error(value):
    with pytest.raises(ValueError):
        OCSORT(**value)


@pytest.mark.parametrize("fps", [25, 30])
def test_quality_on_occlusion_heavy_mot_data(fps):
    """Real TUD ground truth, people more than half hidden are missed 90% of the time.

    Measured (docs/api.md, "Trackers"): OC-SORT's MOTA is ByteTrack's or better here, its IDF1
    3-4 points lower; asserted: it tracks (MOTA/IDF1 floors) and its MOTA is within a point of
    ByteTrack's or above.
    """
    mine, byte = [], []
    for sequence in ("TUD-Campus", "TUD-Stadtmitte"):
        gt = _ground_truth(sequence, fps)
        for seed in (0, 1, 2):
            frames = _synthesise(gt, seed, "yolox", occluded_miss=0.9)
            mine.append(_mota_idf1(gt, _run(_vistream(OCSORT(frame_rate=fps)), frames)))
            byte.append(_mota_idf1(gt, _run(_vistream(ByteTrack(frame_rate=fps)), frames)))
    mota, idf1 = np.mean(mine, axis=0)
    byte_mota, byte_idf1 = np.mean(byte, axis=0)
    detail = f"OC-SORT {mota:.4f}/{idf1:.4f}, ByteTrack {byte_mota:.4f}/{byte_idf1:.4f}"
    assert mota > 0.6 and idf1 > 0.65, detail
    assert mota >= byte_mota - 0.01, detail
