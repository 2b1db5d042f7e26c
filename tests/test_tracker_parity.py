"""vistream's trackers against the PyPI peers on MOTChallenge ground truth, synthetic detections.

How the data is made (``_synthesise``, seeded): the real ground truth of TUD-Campus and
TUD-Stadtmitte that ``motmetrics`` ships, at its native 25 fps and resampled to 30 fps (each
identity interpolated linearly between annotated frames). Per frame, each true box is missed
with probability 0.08, or 0.6 when more than half of it is hidden behind a nearer person;
the rest are jittered by 3% of their size. A quarter of the true boxes score 0.15-0.5, the
others draw from a detector family's distribution: YOLOX-like (0.55-0.98, skewed high) or
YOLOv8-like (0.5-0.92, flat). False positives: person-shaped clutter at low scores (0.1-0.3,
Poisson 1.0 / 1.5 per frame) and mid-score ones (0.3-0.65, Poisson 0.3 / 0.5), half of them
shifted, shrunk copies of a true box. Output order is shuffled.

What is asserted (2 sequences x 25/30 fps x 2 score families x 3 seeds):
- each tracker at its defaults (what a user gets) is within 0.5 MOTA and IDF1 points of the
  best peer of its kind over the whole set, and within 2 points on every (sequence, frame rate,
  family): ByteTrack vs supervision ByteTrack and ultralytics BYTETracker, BoT-SORT vs
  ultralytics BOTSORT (no images: both without camera-motion compensation);
- with the same thresholds, vistream's ByteTrack gives supervision's ids and boxes frame by frame.
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


NATIVE_FPS = 25  # the TUD sequences were filmed at 25 fps


def _ground_truth(sequence: str, fps: int = NATIVE_FPS) -> np.ndarray:
    """MOTChallenge ground truth rows (frame, id, x, y, w, h), resampled to ``fps`` if asked.

    Resampling interpolates each identity linearly between consecutive annotated frames
    (never across a gap in its annotation), so 30 fps data moves 5/6 as far per frame.
    """
    path = os.path.join(os.path.dirname(mm.__file__), "data", sequence, "gt.txt")
    assert os.path.exists(path), f"motmetrics {mm.__version__} no longer ships {sequence}"
    gt = np.loadtxt(path, delimiter=",")[:, :6]
    if fps == NATIVE_FPS:
        return gt
    last = gt[:, 0].max()
    times = 1 + np.arange(int((last - 1) * fps / NATIVE_FPS) + 1) * NATIVE_FPS / fps  # in native frames
    rows = []
    for identity in np.unique(gt[:, 1]):
        track = gt[gt[:, 1] == identity]
        track = track[np.argsort(track[:, 0])]
        present = set(track[:, 0].astype(int))
        for out_frame, t in enumerate(times, start=1):
            before, after = int(np.floor(t)), int(np.ceil(t))
            if before not in present or after not in present:
                continue
            box = [np.interp(t, track[:, 0], track[:, c]) for c in range(2, 6)]
            rows.append([out_frame, identity, *box])
    return np.array(rows)


# Score models of two detector families. A quarter of the true objects always get a low score
# (0.15-0.5, the partly hidden people ByteTrack's second stage exists for); the others draw from
# the family's distribution. False positives come at low scores (clutter) and at mid scores
# (shifted or partial copies of a person and random boxes) around the trackers' thresholds.
SCORE_PROFILES = {
    # YOLOX (objectness x class): confident on clear people, 0.55-0.98 skewed high
    "yolox": dict(true_range=(0.55, 0.98), true_beta=(4.0, 1.5), fp_low_rate=1.0, fp_low=(0.1, 0.3),
                  fp_mid_rate=0.3, fp_mid=(0.3, 0.65)),
    # YOLOv8 (class score, no objectness): lower and flatter, more clutter under 0.5
    "yolov8": dict(true_range=(0.5, 0.92), true_beta=(2.0, 2.0), fp_low_rate=1.5, fp_low=(0.1, 0.3),
                   fp_mid_rate=0.5, fp_mid=(0.3, 0.6)),
}
LOW_SCORE_SHARE = 0.25
RANDOM_MISS = 0.08
OCCLUDED_MISS = 0.6  # chance that a person more than half hidden behind a nearer one is missed


def _hidden_fraction(xywh: np.ndarray) -> np.ndarray:
    """Fraction of each box covered by a box whose bottom edge is lower (nearer the camera)."""
    xyxy = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
    width = np.minimum(xyxy[:, None, 2], xyxy[None, :, 2]) - np.maximum(xyxy[:, None, 0], xyxy[None, :, 0])
    height = np.minimum(xyxy[:, None, 3], xyxy[None, :, 3]) - np.maximum(xyxy[:, None, 1], xyxy[None, :, 1])
    cover = np.maximum(width, 0) * np.maximum(height, 0) / (xywh[:, 2] * xywh[:, 3])[:, None]
    in_front = xyxy[None, :, 3] > xyxy[:, None, 3]
    return np.where(in_front, cover, 0.0).max(axis=1, initial=0.0)


def _synthesise(gt: np.ndarray, seed: int, profile: str = "yolox", occluded_miss: float = OCCLUDED_MISS) -> list:
    """Seeded detections [(frame, xyxy float32 (N, 4), score float32 (N,))] from ground truth."""
    p = SCORE_PROFILES[profile]
    rng = np.random.default_rng(seed)
    frame_w, frame_h = (gt[:, 2] + gt[:, 4]).max(), (gt[:, 3] + gt[:, 5]).max()
    frames = []
    for f in range(1, int(gt[:, 0].max()) + 1):
        xywh = gt[gt[:, 0] == f, 2:6].copy()
        hidden = _hidden_fraction(xywh) > 0.5
        miss = rng.random(len(xywh)) < np.where(hidden, occluded_miss, RANDOM_MISS)
        xywh = xywh[~miss]
        xywh[:, :2] += rng.normal(0, 0.03, (len(xywh), 2)) * xywh[:, 2:]
        xywh[:, 2:] *= 1 + rng.normal(0, 0.03, (len(xywh), 2))
        low, high = p["true_range"]
        scores = np.where(rng.random(len(xywh)) < LOW_SCORE_SHARE, rng.uniform(0.15, 0.5, len(xywh)),
                          low + (high - low) * rng.beta(*p["true_beta"], len(xywh)))
        boxes, box_scores = [xywh], [scores]
        n_low = rng.poisson(p["fp_low_rate"])  # clutter anywhere, person-shaped
        w = rng.uniform(25, 90, n_low)
        boxes.append(np.column_stack([rng.uniform(0, frame_w - w), rng.uniform(0, frame_h * 0.6, n_low),
                                      w, w * rng.uniform(1.8, 2.8, n_low)]))
        box_scores.append(rng.uniform(*p["fp_low"], n_low))
        n_mid = rng.poisson(p["fp_mid_rate"])
        if n_mid and len(xywh):  # half: a shifted, shrunk copy of a true box; half: random
            source = xywh[rng.integers(0, len(xywh), n_mid)]
            shift = rng.choice([-1, 1], (n_mid, 1)) * rng.uniform(0.3, 0.6, (n_mid, 1)) * source[:, 2:3]
            part = np.column_stack([source[:, 0:1] + shift, source[:, 1:2], source[:, 2:] * rng.uniform(0.6, 0.9, (n_mid, 1))])
            w = rng.uniform(25, 90, n_mid)
            random = np.column_stack([rng.uniform(0, frame_w - w), rng.uniform(0, frame_h * 0.6, n_mid),
                                      w, w * rng.uniform(1.8, 2.8, n_mid)])
            boxes.append(np.where(rng.random((n_mid, 1)) < 0.5, part, random))
            box_scores.append(rng.uniform(*p["fp_mid"], n_mid))
        xywh, scores = np.vstack(boxes), np.concatenate(box_scores)
        order = rng.permutation(len(xywh))  # a detector's output order says nothing about identity
        xywh, scores = xywh[order], scores[order]
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


CASES = [(sequence, fps, profile) for sequence in SEQUENCES for fps in (25, 30) for profile in SCORE_PROFILES]


@pytest.mark.parametrize("sequence, fps, profile", CASES)
def test_bytetrack_gives_supervisions_ids_and_boxes(sequence, fps, profile):
    gt = _ground_truth(sequence, fps)
    # supervision keeps a lost track one frame longer than its buffer says (it subtracts the
    # previous frame's removed tracks): the same retention here is one more frame of buffer
    sv_frames_lost = int(fps / 30.0 * 30)
    buffer = int(np.ceil((sv_frames_lost + 1) * 30.0 / fps))
    for track_thresh, seed in [(0.25, 0), (0.25, 1), (0.5, 2), (0.5, 0)]:
        ours = ByteTrack(frame_rate=fps, track_thresh=track_thresh, track_buffer=buffer)
        theirs = sv.ByteTrack(track_activation_threshold=track_thresh, lost_track_buffer=30, frame_rate=fps)
        for f, xyxy, scores in _synthesise(gt, seed, profile):
            rows = np.column_stack([xyxy, scores])  # the same (N, 5) array to both trackers
            mine = ours.update(rows)
            tracks = theirs.update_with_tensors(rows)
            their_boxes = np.array([t.tlbr for t in tracks], np.float64).reshape(-1, 4)
            where = f"threshold {track_thresh} seed {seed} frame {f}"
            assert mine.tracker_id.tolist() == [int(t.external_track_id) for t in tracks], where
            np.testing.assert_allclose(mine.xyxy, their_boxes, atol=1e-2, err_msg=where)


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


def test_within_half_a_point_of_best_peer_at_defaults():
    # every tracker at its own defaults; ultralytics' are its yaml's (0.25 high and new-track
    # thresholds, score fusion); its trackers count track_buffer in frames at any frame rate
    ul_defaults = dict(track_high_thresh=0.25, new_track_thresh=0.25)
    families = {
        "vistream ByteTrack": (lambda fps: _vistream(ByteTrack(frame_rate=fps)), {
            "supervision ByteTrack": lambda fps: _supervision(sv.ByteTrack(frame_rate=fps)),
            "ultralytics BYTETracker": lambda fps: _ultralytics(UltralyticsByteTrack(_ultralytics_args(**ul_defaults))),
        }),
        "vistream BoTSORT": (lambda fps: _vistream(BoTSORT(frame_rate=fps, gmc="none")), {
            "ultralytics BOTSORT": lambda fps: _ultralytics(UltralyticsBoTSORT(_ultralytics_args(**ul_defaults))),
        }),
    }
    # (case, tracker) -> [MOTA, IDF1] averaged over the seeds
    scores = {}
    for sequence, fps, profile in CASES:
        gt = _ground_truth(sequence, fps)
        runs = [_synthesise(gt, seed, profile) for seed in SEEDS]
        for name, (ours, peers) in families.items():
            for tracker, make in [(name, ours), *peers.items()]:
                scores[(sequence, fps, profile), tracker] = np.mean(
                    [_mota_idf1(gt, _run(make(fps), frames)) for frames in runs], axis=0)

    def best_peer(peers, cases) -> np.ndarray:
        return np.max([np.mean([scores[c, p] for c in cases], axis=0) for p in peers], axis=0)

    for name, (_, peers) in families.items():
        ours = np.mean([scores[c, name] for c in CASES], axis=0)
        best = best_peer(peers, CASES)
        detail = f"{name}: MOTA/IDF1 {ours.round(4)} vs best peer {best.round(4)}"
        # over the whole set (the reviewer's measure): within half a point of the best peer
        assert (ours >= best - 0.005).all(), detail
        assert ours[0] > 0.7 and ours[1] > 0.75, detail
        # and no sequence/frame rate/score family more than 2 points below. Not 0.5: at 25 fps
        # ultralytics keeps a lost track 30 frames (its track_buffer ignores the frame rate),
        # vistream 1 s = 25 frames, worth 1.5 IDF1 points on TUD-Campus's 71 frames and yolox.
        for case in CASES:
            mine, best = scores[case, name], best_peer(peers, [case])
            assert (mine >= best - 0.02).all(), f"{name} on {case}: {mine.round(4)} vs {best.round(4)}"
