"""State of one ByteTrack / BoT-SORT track: Kalman mean/covariance, appearance, bookkeeping."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Dict, Optional

import numpy as np

from .box_format import xyah_to_xyxy, xywh_to_xyxy
from .kalman_filter import KalmanFilterXYAH

FEATURE_MOMENTUM = 0.9  # weight of the past in a track's smoothed appearance feature (BoT-SORT)


# Kalman measurement space (the filter's ``name``) -> decoder back to corners
_DECODE = {"xyah": xyah_to_xyxy, "xywh": xywh_to_xyxy}


class TrackState(IntEnum):
    """Life cycle of a track."""

    NEW = 0
    TRACKED = 1
    LOST = 2
    REMOVED = 3


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
        self.space = "xyah"  # measurement space of ``mean`` (the filter that made it)
        self.feature: Optional[np.ndarray] = None  # smoothed, unit-norm appearance (ReID)
        self.det_feature: Optional[np.ndarray] = None  # appearance of this detection (input)

    # -- views --------------------------------------------------------------------------
    @property
    def xyxy(self) -> np.ndarray:
        """Current box (Kalman mean if initialised, else the detection box)."""
        if self.mean is None:
            return self.det_xyxy.copy()
        return _DECODE[self.space](self.mean[:4])

    # -- transitions --------------------------------------------------------------------
    def activate(self, kf: KalmanFilterXYAH, frame_id: int, track_id: int = 0) -> None:
        """Start a new track from its detection; confirmed right away only on frame 1."""
        self.space = kf.name
        self.mean, self.covariance = kf.initiate(kf.encode(self.det_xyxy))
        if self.det_feature is not None:
            self._take_feature(self.det_feature)
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
            self.mean, self.covariance = kf.update(self.mean, self.covariance, kf.encode(det.det_xyxy))
        if det.det_feature is not None:
            self._take_feature(det.det_feature)
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

    def _take_feature(self, feature: np.ndarray) -> None:
        """Blend a detection's appearance into the track's (exponential moving average)."""
        feature = np.asarray(feature, np.float64)
        feature = feature / max(np.linalg.norm(feature), 1e-12)
        if self.feature is None:
            self.feature = feature
        else:
            blended = FEATURE_MOMENTUM * self.feature + (1 - FEATURE_MOMENTUM) * feature
            self.feature = blended / max(np.linalg.norm(blended), 1e-12)

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
            "start_frame": self.start_frame, "tracklet_len": self.tracklet_len, "space": self.space,
            "feature": None if self.feature is None else self.feature.tolist(),
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
        track.space = state.get("space", "xyah")
        track.feature = None if state.get("feature") is None else np.asarray(state["feature"], np.float64)
        return track
