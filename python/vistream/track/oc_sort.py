"""OC-SORT (Cao et al., CVPR 2023): SORT made observation-centric, for occlusions and non-linear motion.

A Kalman filter alone drifts while an object is hidden: with no measurements its velocity is
never corrected, so when the object reappears the prediction is far off and the identity is
lost. OC-SORT trusts the detections (observations) more than the filter:

- Observation-centric momentum (OCM): the association cost adds, to IoU, how well the
  direction from a track's recent observations to a detection agrees with the direction the
  track was moving in (observations ``delta_t`` frames apart), weighted by ``inertia`` and
  the detection's score. Two people crossing keep their ids because their directions differ.
- Observation-centric recovery (OCR): detections left over are matched again against the
  *last observed* box of the unmatched tracks (not the drifted prediction), which recovers
  objects that stopped or were hidden for a few frames.
- Observation-centric re-update (ORU): when a track is matched again after a gap, its filter
  is rolled back to the last observation and re-run over a virtual trajectory interpolated
  between that observation and the new one, so the velocity it carries on is the one it
  actually had, not the error accumulated while it was unseen.
- Optionally (``use_byte=True``) ByteTrack's second stage: unmatched tracks are matched to
  low-score detections by IoU before OCR.

Written from the paper's method; it shares the Kalman filter (XYWH, batched) and the
thresholded assignment of the other trackers here.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..detections import Detections, as_detections
from .byte_track import check_frames_elapsed, tracked_detections
from .kalman_filter import KalmanFilterXYWH
from ..tunables import Tunable
from .matching import iou_matrix, linear_assignment

ORU_MAX_GAP = 1000  # frames; a longer gap re-updates only the last ``ORU_MAX_GAP`` virtual steps


class _OCTrack:
    """One OC-SORT track: Kalman state plus its recent observations (frame -> xyxy)."""

    __slots__ = ("key", "track_id", "mean", "covariance", "observations", "last_box", "velocity",
                 "frozen", "frames_unseen", "hit_streak", "score", "class_id", "det_index")

    def __init__(self, key: int, mean: np.ndarray, covariance: np.ndarray, box: np.ndarray, frame_id: int,
                 score: float, class_id: int, det_index: int) -> None:
        self.key = key
        self.track_id = 0  # public id, given when the track is first output
        self.mean, self.covariance = mean, covariance
        self.observations: Dict[int, np.ndarray] = {frame_id: box}
        self.last_box = box  # last observed xyxy
        self.velocity: Optional[np.ndarray] = None  # unit direction of motion between observations
        self.frozen = (mean.copy(), covariance.copy())  # filter state right after the last observation
        self.frames_unseen = 0
        self.hit_streak = 1
        self.score, self.class_id, self.det_index = score, class_id, det_index

    def to_dict(self) -> Dict[str, Any]:
        return {"key": self.key, "track_id": self.track_id, "mean": self.mean.tolist(),
                "covariance": self.covariance.tolist(),
                "observations": [[f, b.tolist()] for f, b in self.observations.items()],
                "last_box": self.last_box.tolist(),
                "velocity": None if self.velocity is None else self.velocity.tolist(),
                "frozen": [self.frozen[0].tolist(), self.frozen[1].tolist()],
                "frames_unseen": self.frames_unseen, "hit_streak": self.hit_streak, "score": self.score,
                "class_id": self.class_id}

    @classmethod
    def from_dict(cls, state: Dict[str, Any]) -> "_OCTrack":
        observations = {int(f): np.asarray(b, np.float64) for f, b in state["observations"]}
        first = min(observations)
        track = cls(int(state["key"]), np.asarray(state["mean"], np.float64),
                    np.asarray(state["covariance"], np.float64), observations[first], first,
                    float(state["score"]), int(state["class_id"]), -1)
        track.track_id = int(state["track_id"])
        track.observations = observations
        track.last_box = np.asarray(state["last_box"], np.float64)
        track.velocity = None if state["velocity"] is None else np.asarray(state["velocity"], np.float64)
        track.frozen = (np.asarray(state["frozen"][0], np.float64), np.asarray(state["frozen"][1], np.float64))
        track.frames_unseen = int(state["frames_unseen"])
        track.hit_streak = int(state["hit_streak"])
        return track


def _centers(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2.0


class OCSORT:
    """Observation-centric SORT: IoU + direction-consistency association, recovery from the
    last observation, and re-update of the Kalman filter over occlusion gaps.

    Args:
        frame_rate: frames per second of the stream (scales ``max_age``, given at 30 fps).
        det_thresh: detections at or above this score are associated first and may start tracks.
        iou_thresh: minimum IoU of an accepted match (every stage).
        max_age: frames (at 30 fps) a track is kept without a detection.
        min_hits: consecutive matched frames before a track is output (all tracks are output
            during the first ``min_hits`` frames of the stream).
        delta_t: frames between the two observations that give a track's direction.
        inertia: weight of the direction-consistency term in the first association.
        use_byte: also match unmatched tracks to low-score detections (ByteTrack's second stage).
        low_thresh: detections at or below this score are ignored (with ``use_byte``).

    The defaults are the paper's (``det_thresh`` 0.6, ``iou_thresh`` 0.3, ``delta_t`` 3,
    ``inertia`` 0.2), with ``min_hits`` 1 and the BYTE stage on, measured on the MOTChallenge-based
    parity data (tests/test_tracker_parity.py, a quarter of the true objects scored 0.15-0.5):
    without the BYTE stage those objects are lost (-17 MOTA points), with ``min_hits`` 3 every
    track starts 2 frames late; ``det_thresh`` 0.5 lets mid-score false positives start tracks
    (-2 to -4 MOTA points; OC-SORT has no unconfirmed stage to filter them, unlike ByteTrack).

    Example::

        tracker = OCSORT(frame_rate=30)
        for dets in detections_per_frame:
            tracked = tracker.update(dets)
            print(tracked.tracker_id, tracked.xyxy)
    """

    accepts = frozenset({"numpy", "torch"})  # the image is never looked at
    #: live parameters (``Pipeline.set_tunable("tracker", ...)``)
    tunables = (
        Tunable("det_thresh", 0.05, 0.95, 0.01, doc="score a detection needs for the first association"),
        Tunable("iou_thresh", 0.05, 0.95, 0.01, doc="minimum IoU of a match"),
        Tunable("max_age", 1, 300, 1, "int", doc="frames (at 30 fps) a track lives unseen"),
        Tunable("min_hits", 1, 10, 1, "int", doc="matches before a track is reported"),
    )

    def __init__(self, frame_rate: float = 30, det_thresh: float = 0.6, iou_thresh: float = 0.3,
                 max_age: int = 30, min_hits: int = 1, delta_t: int = 3, inertia: float = 0.2,
                 use_byte: bool = True, low_thresh: float = 0.1) -> None:
        for name, value in (("det_thresh", det_thresh), ("iou_thresh", iou_thresh), ("low_thresh", low_thresh)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        for name, value in (("max_age", max_age), ("min_hits", min_hits), ("delta_t", delta_t)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if float(inertia) < 0:
            raise ValueError(f"inertia must be >= 0, got {inertia}")
        self.frame_rate = frame_rate
        self.det_thresh = float(det_thresh)
        self.iou_thresh = float(iou_thresh)
        self.max_age = int(max_age)
        self.min_hits = int(min_hits)
        self.delta_t = int(delta_t)
        self.inertia = float(inertia)
        self.use_byte = bool(use_byte)
        self.low_thresh = float(low_thresh)
        self.max_frames_unseen = max(1, int(frame_rate / 30.0 * max_age))
        self.kalman = KalmanFilterXYWH()
        self.reset()

    def set_tunable(self, name: str, value: float) -> None:
        """Changes a live parameter (one of ``tunables``) and what the constructor derives from
        it (``max_frames_unseen`` from ``max_age``); the tracks are kept."""
        if name not in {t.name for t in self.tunables}:
            raise AttributeError(f"OCSORT has no tunable {name!r}")
        setattr(self, name, int(value) if name in ("max_age", "min_hits") else float(value))
        self.max_frames_unseen = max(1, int(self.frame_rate / 30.0 * self.max_age))

    def reset(self) -> None:
        """Forget all tracks; ids start again at 1."""
        self.frame_id = 0
        self._next_id = 1
        self._next_key = 1
        self.tracks: List[_OCTrack] = []

    # -- association costs ------------------------------------------------------------------
    def _direction_cost(self, tracks: List[_OCTrack], boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """(T, D) OCM term: -(pi/2 - angle between track direction and track->detection) / pi,
        weighted by the detection score; 0 for tracks without a direction yet."""
        cost = np.zeros((len(tracks), len(boxes)))
        rows = [i for i, t in enumerate(tracks) if t.velocity is not None]
        if not rows or not len(boxes):
            return cost
        origin = _centers(np.stack([self._previous_observation(tracks[i]) for i in rows]))
        step = _centers(boxes)[None, :, :] - origin[:, None, :]
        step /= np.maximum(np.linalg.norm(step, axis=2, keepdims=True), 1e-6)
        velocity = np.stack([tracks[i].velocity for i in rows])
        cosine = np.clip(np.einsum("tdk,tk->td", step, velocity), -1.0, 1.0)
        consistency = (np.pi / 2 - np.arccos(cosine)) / np.pi  # in [-0.5, 0.5]
        cost[rows] = -self.inertia * consistency * scores[None, :]
        return cost

    def _previous_observation(self, track: _OCTrack) -> np.ndarray:
        """The observation ``delta_t`` frames before this one (or the nearest later one, else the last)."""
        for back in range(self.delta_t, 0, -1):
            box = track.observations.get(self.frame_id - back)
            if box is not None:
                return box
        return track.last_box

    def _match(self, iou: np.ndarray, extra: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Assignment minimising -(IoU + extra); pairs below ``iou_thresh`` IoU are not matched."""
        cost = -iou if extra is None else extra - iou
        # an IoU below the threshold is never a match: price it out of the assignment
        cost = np.where(iou < self.iou_thresh, 1e3, cost)
        return linear_assignment(cost, 1e2)

    # -- update -----------------------------------------------------------------------------
    def update(self, detections: Optional[Detections], frame: Optional[np.ndarray] = None,
               frames_elapsed: int = 1) -> Detections:
        """Track one frame.

        Args:
            detections: this frame's detections (None or empty is allowed), or an (N, 5)
                [x1, y1, x2, y2, score] / (N, 6) [..., class_id] array.
            frame: the image; OC-SORT does not look at it (accepted for a common call shape).
            frames_elapsed: frames since the previous update (> 1 across dropped frames).

        Returns:
            The detections of the output tracks on this frame: Kalman-corrected boxes,
            ``tracker_id`` set, confidence/class_id (and masks/data) of the matched detection.
        """
        detections = as_detections(detections, "OCSORT.update")
        frames_elapsed = check_frames_elapsed(frames_elapsed)
        self.frame_id += frames_elapsed
        self._predict(frames_elapsed)

        scores = detections.confidence.astype(np.float64)
        boxes = detections.xyxy.astype(np.float64).reshape(-1, 4)
        high = np.flatnonzero(scores >= self.det_thresh)
        low = np.flatnonzero((scores > self.low_thresh) & (scores < self.det_thresh))
        tracks = self.tracks
        predicted = self._boxes(tracks)
        matched: List[Tuple[_OCTrack, int]] = []

        # 1. high-score detections: IoU with the prediction + direction consistency (OCM)
        iou = iou_matrix(predicted, boxes[high])
        pairs, free_tracks, free_high = self._match(iou, self._direction_cost(tracks, boxes[high], scores[high]))
        matched += [(tracks[r], int(high[c])) for r, c in pairs]

        # 2. (use_byte) low-score detections against the still unmatched tracks, IoU only
        if self.use_byte and len(low) and len(free_tracks):
            iou = iou_matrix(predicted[free_tracks], boxes[low])
            pairs, rest, _ = self._match(iou)
            matched += [(tracks[free_tracks[r]], int(low[c])) for r, c in pairs]
            free_tracks = free_tracks[rest]

        # 3. recovery (OCR): left-over high detections against the tracks' last observed boxes
        if len(free_high) and len(free_tracks):
            last_seen = np.stack([tracks[i].last_box for i in free_tracks])
            iou = iou_matrix(last_seen, boxes[high[free_high]])
            pairs, rest_tracks, rest_high = self._match(iou)
            matched += [(tracks[free_tracks[r]], int(high[free_high[c]])) for r, c in pairs]
            free_high = free_high[rest_high]

        self._observe(matched, boxes, scores, detections.class_id)

        for index in high[free_high]:
            mean, cov = self.kalman.initiate(self.kalman.encode(boxes[index]))
            self.tracks.append(_OCTrack(self._next_key, mean, cov, boxes[index].copy(), self.frame_id,
                                        float(scores[index]), int(detections.class_id[index]), int(index)))
            self._next_key += 1

        self.tracks = [t for t in self.tracks if t.frames_unseen <= self.max_frames_unseen]
        output = [t for t in self.tracks if t.frames_unseen == 0
                  and (t.hit_streak >= self.min_hits or self.frame_id <= self.min_hits)]
        for track in output:  # ids are handed out when a track is first output: no gaps
            if track.track_id == 0:
                track.track_id = self._next_id
                self._next_id += 1
        return self._to_detections(output, detections)

    def _boxes(self, tracks: List[_OCTrack]) -> np.ndarray:
        if not tracks:
            return np.zeros((0, 4))
        return self.kalman.decode(np.array([t.mean[:4] for t in tracks]))

    def _predict(self, frames: int) -> None:
        """Advance every track ``frames`` steps (batched); unseen tracks stop changing size."""
        if not self.tracks:
            return
        means = np.array([t.mean for t in self.tracks])
        covs = np.array([t.covariance for t in self.tracks])
        for _ in range(min(frames, self.max_frames_unseen + 1)):
            unseen = np.array([t.frames_unseen > 0 for t in self.tracks])
            means[np.ix_(unseen, [6, 7])] = 0.0
            means, covs = self.kalman.multi_predict(means, covs)
            for track in self.tracks:
                track.frames_unseen += 1
        for track, mean, cov in zip(self.tracks, means, covs):
            track.mean, track.covariance = mean, cov
            track.hit_streak = 0 if track.frames_unseen > 1 else track.hit_streak

    def _observe(self, matched: List[Tuple[_OCTrack, int]], boxes: np.ndarray, scores: np.ndarray,
                 class_ids: np.ndarray) -> None:
        """Correct the matched tracks (one batched Kalman update); a track seen again after a gap
        is first re-updated over the virtual trajectory from its last observation (ORU)."""
        if not matched:
            return
        tracks = [t for t, _ in matched]
        observed = boxes[[i for _, i in matched]]
        measurements = self.kalman.encode(observed)
        for track, measurement in zip(tracks, measurements):
            gap = track.frames_unseen  # frames since the last observation (1 = the previous frame)
            if gap > 1:
                mean, cov = track.frozen
                start = self.kalman.encode(track.last_box)
                for step in range(max(1, gap - ORU_MAX_GAP), gap):
                    mean, cov = self.kalman.predict(mean, cov)
                    mean, cov = self.kalman.update(mean, cov, start + (measurement - start) * step / gap)
                track.mean, track.covariance = self.kalman.predict(mean, cov)
        means, covs = self.kalman.multi_update(np.array([t.mean for t in tracks]),
                                               np.array([t.covariance for t in tracks]), measurements)
        for track, (_, index), box, mean, cov in zip(tracks, matched, observed, means, covs):
            track.mean, track.covariance = mean, cov
            direction = _centers(box[None])[0] - _centers(self._previous_observation(track)[None])[0]
            norm = np.linalg.norm(direction)
            if norm > 1e-6:
                track.velocity = direction / norm
            track.observations[self.frame_id] = box.copy()
            for old in [f for f in track.observations if f < self.frame_id - self.delta_t]:
                del track.observations[old]
            track.last_box = box.copy()
            track.frozen = (mean.copy(), cov.copy())
            track.frames_unseen = 0
            track.hit_streak += 1
            track.score, track.class_id, track.det_index = float(scores[index]), int(class_ids[index]), int(index)

    def _to_detections(self, tracks: List[_OCTrack], detections: Detections) -> Detections:
        return tracked_detections(tracks, self._boxes(tracks) if tracks else None, detections)

    # -- snapshots --------------------------------------------------------------------------
    def _config(self) -> Dict[str, Any]:
        return {"frame_rate": self.frame_rate, "det_thresh": self.det_thresh, "iou_thresh": self.iou_thresh,
                "max_age": self.max_age, "min_hits": self.min_hits, "delta_t": self.delta_t,
                "inertia": self.inertia, "use_byte": self.use_byte, "low_thresh": self.low_thresh}

    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to resume tracking, as a plain (picklable, JSON-able) dict."""
        return {"config": self._config(), "frame_id": self.frame_id, "next_id": self._next_id,
                "next_key": self._next_key, "tracks": [t.to_dict() for t in self.tracks]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`state_dict` (configuration included)."""
        state = copy.deepcopy(state)
        self.__init__(**state["config"])
        self.frame_id = int(state["frame_id"])
        self._next_id = int(state["next_id"])
        self._next_key = int(state["next_key"])
        self.tracks = [_OCTrack.from_dict(t) for t in state["tracks"]]
