"""vistream ByteTrack against supervision's ByteTrack on MOTChallenge ground truth.

Detections are synthesised (seeded) from the TUD sequences shipped with ``motmetrics``:
10% missed, boxes jittered by 3% of their size, 20% low-score (0.15-0.5), plus random
false positives. Both trackers must produce the same ids on every frame and the same
MOTA / IDF1. Skipped when ``motmetrics`` or ``supervision`` is not installed.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from vistream import Detections
from vistream.track import ByteTrack, iou_matrix

# Test dependencies (scripts/setup.sh --test installs them): a missing one is a failure.
import motmetrics as mm  # noqa: E402
import supervision as sv  # noqa: E402


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


@pytest.mark.parametrize("sequence", ["TUD-Campus", "TUD-Stadtmitte"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_supervision_bytetrack(sequence, seed):
    gt = _ground_truth(sequence)
    ours = ByteTrack(frame_rate=30, track_thresh=0.5, match_thresh=0.8, track_buffer=30)
    theirs = sv.ByteTrack(track_activation_threshold=0.5, lost_track_buffer=30,
                          minimum_matching_threshold=0.8, frame_rate=30)
    our_out, their_out = {}, {}
    for f, xyxy, scores in _synthesise(gt, seed):
        mine = ours.update(Detections(xyxy=xyxy, confidence=scores))
        tracks = theirs.update_with_tensors(np.column_stack([xyxy, scores]))
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
