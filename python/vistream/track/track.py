"""State of one ByteTrack track: Kalman mean/covariance plus bookkeeping."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Dict, Optional

import numpy as np

from .kalman_filter import KalmanFilterXYAH


class TrackState(IntEnum):
    """Life cycle of a track."""

    NEW = 0
    TRACKED = 1
    LOST = 2
    REMOVED = 3


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(…, 4) x1 y1 x2 y2 → centre x, centre y, aspect (w/h), height."""
    xyxy = np.asarray(xyxy, np.float64)
    w = xyxy[..., 2] - xyxy[..., 0]
    h = xyxy[..., 3] - xyxy[..., 1]
    aspect = np.divide(w, h, out=np.zeros_like(w), where=h != 0)
    return np.stack([(xyxy[..., 0] + xyxy[..., 2]) / 2, (xyxy[..., 1] + xyxy[..., 3]) / 2, aspect, h], axis=-1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(…, 4) centre x, centre y, aspect, height → x1 y1 x2 y2."""
    xyah = np.asarray(xyah, np.float64)
    h = xyah[..., 3]
    w = xyah[..., 2] * h
    return np.stack([xyah[..., 0] - w / 2, xyah[..., 1] - h / 2, xyah[..., 0] + w / 2, xyah[..., 1] + h / 2], axis=-1)


class Track:
    """One tracked object.

    ``key`` is a unique internal number; ``track_id`` is the public id, given (from the
    tracker's counter) when the track is first confirmed, 0 until then.

    Example::

        kf = KalmanFilterXYAH()
        t = Track(key=1, xyxy=np.array([0, 0, 10, 20.0]), score=0.9, class_id=0)
        t.activate(kf, frame_id=1, track_id=1)
        t.xyxy  # array([ 0.,  0., 10., 20.])
    """

    def __init__(self, key: int, xyxy: np.ndarray, score: float, class_id: int) -> None:
        self.key = key
        self.track_id = 0
        self.det_xyxy = np.asarray(xyxy, np.float64)  # box of the last matched detection
        self.score = float(score)
        self.class_id = int(class_id)
        self.mean: Optional[np.ndarray] = None
        self.covariance: Optional[np.ndarray] = None
        self.state = TrackState.NEW
        self.is_activated = False
        self.frame_id = 0  # last frame this track was matched on
        self.start_frame = 0
        self.tracklet_len = 0
        self.det_index = -1  # index of the matched detection in the current frame's input

    # -- views --------------------------------------------------------------------------
    @property
    def xyxy(self) -> np.ndarray:
        """Current box (Kalman mean if initialised, else the detection box)."""
        if self.mean is None:
            return self.det_xyxy.copy()
        return xyah_to_xyxy(self.mean[:4])

    # -- transitions --------------------------------------------------------------------
    def activate(self, kf: KalmanFilterXYAH, frame_id: int, track_id: int = 0) -> None:
        """Start a new track from its detection; confirmed right away only on frame 1."""
        self.mean, self.covariance = kf.initiate(xyxy_to_xyah(self.det_xyxy))
        self.tracklet_len = 0
        self.state = TrackState.TRACKED
        self.is_activated = frame_id == 1
        if self.is_activated:
            self.track_id = track_id
        self.frame_id = frame_id
        self.start_frame = frame_id

    def update(self, kf: Optional[KalmanFilterXYAH], det: "Track", frame_id: int) -> None:
        """Take a matched detection (``det`` is a detection wrapped as a Track).

        With ``kf`` the Kalman state is corrected here; pass None when the caller has
        already corrected ``mean``/``covariance`` (batched update).
        """
        if kf is not None:
            self.mean, self.covariance = kf.update(self.mean, self.covariance, xyxy_to_xyah(det.det_xyxy))
        self.det_xyxy = det.det_xyxy
        self.score, self.class_id, self.det_index = det.score, det.class_id, det.det_index
        self.tracklet_len += 1
        self.state = TrackState.TRACKED
        self.is_activated = True
        self.frame_id = frame_id

    def re_activate(self, kf: Optional[KalmanFilterXYAH], det: "Track", frame_id: int) -> None:
        """Bring a lost track back with a matched detection, keeping its id."""
        self.update(kf, det, frame_id)
        self.tracklet_len = 0

    def mark_lost(self) -> None:
        self.state = TrackState.LOST

    def mark_removed(self) -> None:
        self.state = TrackState.REMOVED

    # -- (de)serialisation --------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Plain-Python snapshot (lists, ints, floats) of this track."""
        return {
            "key": self.key, "track_id": self.track_id, "det_xyxy": self.det_xyxy.tolist(),
            "score": self.score, "class_id": self.class_id,
            "mean": None if self.mean is None else self.mean.tolist(),
            "covariance": None if self.covariance is None else self.covariance.tolist(),
            "state": int(self.state), "is_activated": self.is_activated, "frame_id": self.frame_id,
            "start_frame": self.start_frame, "tracklet_len": self.tracklet_len,
        }

    @classmethod
    def from_dict(cls, state: Dict[str, Any]) -> "Track":
        """Inverse of :meth:`to_dict`."""
        track = cls(state["key"], np.asarray(state["det_xyxy"], np.float64), state["score"], state["class_id"])
        track.track_id = int(state["track_id"])
        track.mean = None if state["mean"] is None else np.asarray(state["mean"], np.float64)
        track.covariance = None if state["covariance"] is None else np.asarray(state["covariance"], np.float64)
        track.state = TrackState(state["state"])
        track.is_activated = bool(state["is_activated"])
        track.frame_id = int(state["frame_id"])
        track.start_frame = int(state["start_frame"])
        track.tracklet_len = int(state["tracklet_len"])
        return track
