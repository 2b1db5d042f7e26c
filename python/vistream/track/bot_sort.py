"""BoT-SORT (Aharon et al., 2022): ByteTrack + camera-motion compensation + XYWH Kalman filter,
with optional appearance (ReID) fusion."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..detections import Detections
from .byte_track import ByteTrack, _det_boxes
from .camera_motion import CameraMotion
from .kalman_filter import KalmanFilterXYWH
from .matching import fuse_score, iou_distance
from .track import Track

ReIDEncoder = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (image, xyxy (N,4)) -> (N, D)
EMBEDDING_KEY = "embedding"  # Detections.data key of per-detection appearance features


class BoTSORT(ByteTrack):
    """ByteTrack's two-stage association, plus what BoT-SORT adds for moving cameras.

    - Camera-motion compensation: each frame's global motion (``gmc``, estimated from the
      ``frame`` passed to :meth:`update`) moves every predicted track before association,
      so a pan does not break IoU matching.
    - Kalman filter over (cx, cy, w, h), which follows width changes directly.
    - Appearance (ReID), off by default: with per-detection features — from
      ``detections.data["embedding"]`` (N, D), or computed by ``reid(image, xyxy)`` — the
      first-stage cost becomes min(IoU cost, appearance cost), where the appearance cost
      counts only for pairs that overlap (IoU ≥ 1 - ``proximity_thresh``) and look alike
      (half cosine distance ≤ ``appearance_thresh``). Tracks keep an exponential moving
      average of their features.

    Args:
        frame_rate: frames per second of the stream (scales ``track_buffer``).
        track_thresh: score splitting high from low detections (BoT-SORT's track_high_thresh).
        match_thresh: cost limit of the first association.
        track_buffer: frames (at 30 fps) a lost track is kept.
        new_track_thresh: score a detection needs to start a track (default: ``track_thresh``).
        low_thresh: detections at or below this score are ignored (track_low_thresh).
        gmc: camera-motion method: ``"sparse_flow"`` (default), ``"ecc"`` or ``"none"``.
        gmc_downscale: frames are shrunk by this factor for the motion estimate.
        reid: optional appearance encoder ``reid(image, xyxy) -> (N, D)`` features.
        proximity_thresh: IoU-distance gate for appearance matches.
        appearance_thresh: half-cosine-distance gate for appearance matches.
        mot20: if True, do not fuse detection scores into the IoU cost (default: fused).

    Defaults, chosen by measurement (tests/test_tracker_parity.py's MOTChallenge data: real TUD
    ground truth, a quarter of the true objects scored 0.15-0.5, false positives at low and mid
    scores, 25 and 30 fps, YOLOX-like and YOLOv8-like score distributions, 3 seeds each):
    ``track_thresh=0.25``, ``new_track_thresh=0.25`` and score fusion on — ultralytics'
    BOTSORT defaults. Mean MOTA / IDF1 over the YOLOX-like / YOLOv8-like sets: 0.25/0.25
    77.7/82.8 and 77.0/83.5; the previous 0.6/0.7: 74.7/82.5 and 68.2/77.8 (the low-scored
    true objects never started a track, and a YOLOv8's people often score under 0.6); 0.3/0.3
    is as good (77.4/83.2, 77.1/83.6); 0.2 lets clutter start tracks (-1.5 MOTA); without score
    fusion -0.7 and -1.3 MOTA. Raise ``track_thresh`` for a detector whose false positives
    score above 0.25.

    The estimated motion of the last update is ``tracker.last_warp``; pass it back as
    ``update(..., warp=...)`` to replay a frame exactly without the image (``Pipeline`` does
    this after a seek).

    Example::

        tracker = BoTSORT(frame_rate=30)            # gmc="sparse_flow"
        for image, dets in zip(frames, detections):
            tracked = tracker.update(dets, frame=image)
    """

    kalman_class = KalmanFilterXYWH
    frozen_when_lost = [6, 7]  # width and height velocities
    accepts = frozenset({"numpy"})  # camera motion is estimated with OpenCV on the host image

    def __init__(self, frame_rate: float = 30, track_thresh: float = 0.25, match_thresh: float = 0.8,
                 track_buffer: int = 30, new_track_thresh: Optional[float] = None, low_thresh: float = 0.1,
                 gmc: str = "sparse_flow", gmc_downscale: int = 2, reid: Optional[ReIDEncoder] = None,
                 proximity_thresh: float = 0.5, appearance_thresh: float = 0.25, mot20: bool = False) -> None:
        if reid is not None and not callable(reid):
            raise TypeError("reid must be callable: reid(image, xyxy) -> (N, D) features")
        for name, value in (("proximity_thresh", proximity_thresh), ("appearance_thresh", appearance_thresh)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.camera_motion = CameraMotion(gmc, gmc_downscale)  # validates the method name
        self.gmc, self.gmc_downscale = self.camera_motion.method, int(gmc_downscale)
        self.reid = reid
        self.proximity_thresh = float(proximity_thresh)
        self.appearance_thresh = float(appearance_thresh)
        self.new_track_thresh = new_track_thresh
        super().__init__(frame_rate=frame_rate, track_thresh=track_thresh, match_thresh=match_thresh,
                         track_buffer=track_buffer, mot20=mot20)
        self.low_thresh = float(low_thresh)
        self.det_thresh = float(new_track_thresh) if new_track_thresh is not None else self.track_thresh

    def _derive_thresholds(self) -> None:
        super()._derive_thresholds()
        # a new track needs new_track_thresh, or track_thresh itself (not ByteTrack's + 0.1)
        self.det_thresh = float(self.new_track_thresh) if self.new_track_thresh is not None else self.track_thresh

    def reset(self) -> None:
        """Forget all tracks and the previous frame; ids start again at 1."""
        super().reset()
        self.camera_motion.reset()
        self.last_warp = np.eye(2, 3)
        self._given_warp: Optional[np.ndarray] = None

    def update(self, detections: Optional[Detections], frame: Optional[np.ndarray] = None,
               warp: Optional[np.ndarray] = None, frames_elapsed: int = 1) -> Detections:
        """Track one frame.

        Args:
            detections: this frame's detections (None or empty is allowed).
            frame: the BGR (or grey) image, for the camera-motion estimate and ReID. Without
                it (and without ``warp``) the camera is assumed still on this frame.
            warp: a known 2x3 camera motion to use instead of estimating it (e.g. a cached
                ``last_warp`` when replaying); ``frame`` is then only remembered.
            frames_elapsed: frames since the previous update (> 1 across frames dropped in
                real time; see ``ByteTrack.update``).

        Returns:
            The detections of the confirmed tracks, ``tracker_id`` set (as ByteTrack).
        """
        if warp is not None:
            warp = np.asarray(warp, np.float64)
            if warp.shape != (2, 3) or not np.isfinite(warp).all():
                raise ValueError(f"warp must be a finite 2x3 matrix, got shape {warp.shape}")
        self._given_warp = warp
        try:
            return super().update(detections, frame, frames_elapsed=frames_elapsed)
        finally:
            self._given_warp = None

    # -- hooks of ByteTrack.update --------------------------------------------------------
    def _compensate_motion(self, tracks: List[Track], frame: Optional[np.ndarray]) -> None:
        if self._given_warp is not None:
            warp = self._given_warp
            if frame is not None and self.gmc != "none":
                self.camera_motion.observe(frame)
        elif frame is not None:
            warp = self.camera_motion.estimate(frame)
        else:
            warp = np.eye(2, 3)
        self.last_warp = warp
        if not tracks or np.array_equal(warp, np.eye(2, 3)):
            return
        means, covs = self.kalman.multi_warp(np.array([t.mean for t in tracks]),
                                             np.array([t.covariance for t in tracks]), warp)
        for track, mean, cov in zip(tracks, means, covs):
            track.mean, track.covariance = mean, cov

    def _detection_features(self, detections: Detections, frame: Optional[np.ndarray]) -> Optional[np.ndarray]:
        features = detections.data.get(EMBEDDING_KEY) if detections.data else None
        if features is None and self.reid is not None and frame is not None and len(detections):
            features = self.reid(frame, detections.xyxy)
        if features is None:
            return None
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or len(features) != len(detections):
            raise ValueError(f"appearance features must be (N, D) with N={len(detections)}, got {features.shape}")
        return features

    def _association_cost(self, tracks: List[Track], dets: List[Track]) -> np.ndarray:
        iou_cost = iou_distance(self._boxes(tracks), _det_boxes(dets))
        cost = iou_cost if self.mot20 else fuse_score(iou_cost, np.array([d.score for d in dets]))
        if cost.size == 0 or not any(d.det_feature is not None for d in dets):
            return cost
        appearance = self._appearance_cost(tracks, dets)
        appearance[appearance > self.appearance_thresh] = 1.0
        appearance[iou_cost > self.proximity_thresh] = 1.0  # only near boxes may match by looks
        return np.minimum(cost, appearance)

    @staticmethod
    def _appearance_cost(tracks: List[Track], dets: List[Track]) -> np.ndarray:
        """Half cosine distance in [0, 1]; 1 where either side has no feature."""
        cost = np.ones((len(tracks), len(dets)))
        rows = [i for i, t in enumerate(tracks) if t.feature is not None]
        cols = [j for j, d in enumerate(dets) if d.det_feature is not None]
        if not rows or not cols:
            return cost
        track_features = np.stack([tracks[i].feature for i in rows])
        det_features = np.stack([dets[j].det_feature for j in cols])
        det_features = det_features / np.maximum(np.linalg.norm(det_features, axis=1, keepdims=True), 1e-12)
        cost[np.ix_(rows, cols)] = np.clip((1.0 - track_features @ det_features.T) / 2.0, 0.0, 1.0)
        return cost

    # -- snapshots ----------------------------------------------------------------------
    def _config(self) -> Dict[str, Any]:
        config = super()._config()
        config.update(new_track_thresh=self.new_track_thresh, low_thresh=self.low_thresh, gmc=self.gmc,
                      gmc_downscale=self.gmc_downscale, proximity_thresh=self.proximity_thresh,
                      appearance_thresh=self.appearance_thresh)
        return config

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore a snapshot (tracks and configuration; the ReID encoder stays as it is).

        The previous frame of the motion estimate is not part of a snapshot: the first
        ``update`` after a restore needs ``warp=`` (or accepts the identity).
        """
        reid = self.reid
        super().load_state_dict(state)
        self.reid = reid
