"""vistream's trackers against the PyPI peers on MOTChallenge ground truth.

Detections are synthesised (seeded) from the TUD sequences shipped with ``motmetrics``:
10% missed, boxes jittered by 3% of their size, 20% low-score (0.15-0.5), plus random
false positives. The same detections go to vistream's ByteTrack / BoT-SORT, supervision's
ByteTrack and ultralytics' BYTETracker / BOTSORT (all configured with the same thresholds);
vistream must be within 1.0 point of the best peer's MOTA and IDF1 on every sequence.
Against supervision's ByteTrack the ids and boxes must be identical frame by frame.
The peers are test dependencies (scripts/setup.sh --test): a missing one is a failure.
Speed is compared in bench/track.py, not here.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from vistream.track import ByteTrack, iou_matrix

# Test dependencies (scripts/setup.sh --test installs them): a missing one is a failure.
import motmetrics as mm  # noqa: E402
import supervision as sv  # noqa: E402

os.environ.setdefault("YOLO_OFFLINE", "1")  # ultralytics must not try to reach its hub
from types import SimpleNamespace  # noqa: E402

from ultralytics.engine.results import Boxes  # noqa: E402
from ultralytics.trackers.bot_sort import BOTSORT as UltralyticsBoTSORT  # noqa: E402
from ultralytics.trackers.byte_tracker import BYTETracker as UltralyticsByteTrack  # noqa: E402

from vistream.track import BoTSORT  # noqa: E402

SEQUENCES = ["TUD-Campus", "TUD-Stadtmitte"]
SEEDS = [0, 1, 2]


def _ground_truth(sequence: str) -> np.ndarray:
    path = os.path.join(os.path.dirname(mm.__file__), "data", sequence, "gt.txt")
    assert os.path.exists(path), f"motmetrics {mm.__version__} no longer ships {sequence}"
    return np.loadtxt(path, delimiter=",")  # frame, id, x, y, w, h, ...


def _synthesise(gt: np.ndarray, seed: int) -> list:
    rng = np.random.default_rng(seed)
    frames = []
    for f in range(1, int(gt[:, 0].max()) + 1):
        xywh = gt[gt[:, 0] == f, 2:6].copy()
        xywh = xywh[rng.random(len(xywh)) > 0.1]
        xywh[:, :2] += rng.normal(0, 0.03, (len(xywh), 2)) * xywh[:, 2:]
        xywh[:, 2:] *= 1 + rng.normal(0, 0.03, (len(xywh), 2))
        scores = np.where(rng.random(len(xywh)) < 0.2, rng.uniform(0.15, 0.5, len(xywh)),
                          rng.uniform(0.55, 0.98, len(xywh)))
        n_fp = rng.poisson(0.5)
        fp = np.column_stack([rng.uniform(0, 600, n_fp), rng.uniform(0, 400, n_fp),
                              rng.uniform(30, 90, n_fp), rng.uniform(80, 200, n_fp)])
        xywh = np.vstack([xywh, fp])
        scores = np.concatenate([scores, rng.uniform(0.1, 0.7, n_fp)])
        xyxy = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
        frames.append((f, xyxy.astype(np.float32), scores.astype(np.float32)))
    return frames


def _mota_idf1(gt: np.ndarray, outputs: dict) -> tuple:
    # motmetrics 1.4's distance helpers use np.asfarray (gone in numpy 2): distances are ours
    acc = mm.MOTAccumulator(auto_id=True)
    for f, (boxes, ids) in outputs.items():
        g = gt[gt[:, 0] == f]
        dist = 1 - iou_matrix(np.column_stack([g[:, 2:4], g[:, 2:4] + g[:, 4:6]]), boxes)
        dist[dist > 0.5] = np.nan
        acc.update(g[:, 1].astype(int).tolist(), [int(i) for i in ids], dist)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1"], name="seq")
    return float(summary["mota"].iloc[0]), float(summary["idf1"].iloc[0])


@pytest.mark.parametrize("sequence", SEQUENCES)
@pytest.mark.parametrize("seed", SEEDS[:2])
def test_matches_supervision_bytetrack(sequence, seed):
    gt = _ground_truth(sequence)
    ours = ByteTrack(frame_rate=30, track_thresh=0.5, match_thresh=0.8, track_buffer=30)
    theirs = sv.ByteTrack(track_activation_threshold=0.5, lost_track_buffer=30,
                          minimum_matching_threshold=0.8, frame_rate=30)
    our_out, their_out = {}, {}
    for f, xyxy, scores in _synthesise(gt, seed):
        rows = np.column_stack([xyxy, scores])  # the same (N, 5) array to both trackers
        mine = ours.update(rows)
        tracks = theirs.update_with_tensors(rows)
        their_boxes = np.array([t.tlbr for t in tracks], np.float64).reshape(-1, 4)
        their_ids = [int(t.external_track_id) for t in tracks]
        assert mine.tracker_id.tolist() == their_ids, f"frame {f}"
        np.testing.assert_allclose(mine.xyxy, their_boxes, atol=1e-2)
        our_out[f] = (mine.xyxy, mine.tracker_id)
        their_out[f] = (their_boxes, their_ids)
    mota, idf1 = _mota_idf1(gt, our_out)
    ref_mota, ref_idf1 = _mota_idf1(gt, their_out)
    assert mota == pytest.approx(ref_mota, abs=1e-9) and idf1 == pytest.approx(ref_idf1, abs=1e-9)
    assert mota > 0.7 and idf1 > 0.75


def _ultralytics_args(**overrides) -> SimpleNamespace:
    # thresholds of the ByteTrack reference (ultralytics' yaml defaults are lower)
    args = dict(track_high_thresh=0.5, track_low_thresh=0.1, new_track_thresh=0.6, track_buffer=30,
                match_thresh=0.8, fuse_score=True, gmc_method=None, proximity_thresh=0.5,
                appearance_thresh=0.8, with_reid=False, model="auto")
    args.update(overrides)
    return SimpleNamespace(**args)


def _run(step, frames) -> dict:
    return {f: step(xyxy, scores) for f, xyxy, scores in frames}


def _vistream(tracker):
    def step(xyxy, scores):
        out = tracker.update(np.column_stack([xyxy, scores]))  # (N, 5) x1 y1 x2 y2 score
        return out.xyxy, out.tracker_id
    return step


def _supervision(tracker):
    def step(xyxy, scores):
        tracks = tracker.update_with_tensors(np.column_stack([xyxy, scores]))
        return np.array([t.tlbr for t in tracks], np.float64).reshape(-1, 4), [int(t.external_track_id) for t in tracks]
    return step


def _ultralytics(tracker):
    def step(xyxy, scores):
        # ultralytics' own Boxes (N, 6: x1 y1 x2 y2 conf cls), what its trackers get from a predictor
        boxes = Boxes(np.column_stack([xyxy, scores, np.zeros(len(scores))]).astype(np.float32), (1080, 1920))
        rows = tracker.update(boxes)
        rows = np.asarray(rows, np.float64).reshape(-1, 8)  # x1 y1 x2 y2 id score cls idx
        return rows[:, :4], rows[:, 4].astype(int)
    return step


@pytest.mark.parametrize("sequence", SEQUENCES)
@pytest.mark.parametrize("seed", SEEDS)
def test_within_one_point_of_best_peer(sequence, seed):
    gt = _ground_truth(sequence)
    frames = _synthesise(gt, seed)
    byte_peers = {
        "supervision ByteTrack": _supervision(sv.ByteTrack(track_activation_threshold=0.5, lost_track_buffer=30,
                                                           minimum_matching_threshold=0.8, frame_rate=30)),
        "ultralytics BYTETracker": _ultralytics(UltralyticsByteTrack(_ultralytics_args())),
    }
    bot_peers = {"ultralytics BOTSORT": _ultralytics(UltralyticsBoTSORT(_ultralytics_args()))}
    cases = [
        ("vistream ByteTrack", _vistream(ByteTrack(frame_rate=30)), byte_peers),
        # no images here, so no camera motion to compensate: both sides run without GMC
        ("vistream BoTSORT", _vistream(BoTSORT(frame_rate=30, track_thresh=0.5, gmc="none")), bot_peers),
    ]
    for name, ours, peers in cases:
        mota, idf1 = _mota_idf1(gt, _run(ours, frames))
        scores = {peer: _mota_idf1(gt, _run(step, frames)) for peer, step in peers.items()}
        best_mota = max(m for m, _ in scores.values())
        best_idf1 = max(i for _, i in scores.values())
        detail = f"{name}: MOTA {mota:.4f} IDF1 {idf1:.4f}; peers {scores}"
        assert mota >= best_mota - 0.01, detail
        assert idf1 >= best_idf1 - 0.01, detail
        assert mota > 0.7 and idf1 > 0.75, detail
