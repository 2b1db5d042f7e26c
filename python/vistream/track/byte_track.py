"""ByteTrack (Zhang et al., ECCV 2022): associate every detection box, high and low score."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..detections import Detections, as_detections
from .kalman_filter import KalmanFilterXYAH
from .matching import fuse_score, iou_distance, linear_assignment
from ..tunables import Tunable
from .track import Track, TrackState

LOW_SCORE_FLOOR = 0.1        # detections below this are ignored entirely
SECOND_MATCH_THRESH = 0.5    # IoU distance limit for the low-score stage
UNCONFIRMED_MATCH_THRESH = 0.7
# A tracked and a lost track closer than this (IoU distance) are one object twice; the younger goes.
# 0.05 (IoU > 0.95, as supervision) rather than the reference's 0.15: when one person walks behind
# another, the hidden one's lost track overlaps the visible one by more than 85% and, if younger,
# was deleted, so its id was gone when it reappeared. Measured on tests/test_tracker_parity.py's
# data, 0.05 gives +2 IDF1 points (and supervision's ids frame by frame).
DUPLICATE_DIST = 0.05


def check_frames_elapsed(frames_elapsed: Any) -> int:
    """``frames_elapsed`` of a tracker update: an int >= 1."""
    if isinstance(frames_elapsed, bool) or not isinstance(frames_elapsed, (int, np.integer)):
        raise TypeError(f"frames_elapsed must be an int >= 1, got {frames_elapsed!r}")
    if frames_elapsed < 1:
        raise ValueError(f"frames_elapsed must be >= 1, got {frames_elapsed}")
    return int(frames_elapsed)


def _det_boxes(dets: Sequence[Track]) -> np.ndarray:
    """(N, 4) xyxy of detections wrapped as tracks."""
    return np.array([d.det_xyxy for d in dets], np.float64).reshape(-1, 4)


def _merge(a: List[Track], b: List[Track]) -> List[Track]:
    """a + b without repeating a track (by internal key), order kept."""
    seen = {t.key for t in a}
    return a + [t for t in b if t.key not in seen]


def _without(a: List[Track], b: List[Track]) -> List[Track]:
    """a minus the tracks of b."""
    drop = {t.key for t in b}
    return [t for t in a if t.key not in drop]


def tracked_detections(tracks: Sequence[Any], boxes: Optional[np.ndarray], detections: Detections) -> Detections:
    """A tracker's output: for each track (``det_index``, ``track_id``) the detection it matched
    this frame, with the track's ``boxes`` (its filtered box, one row per track) and its id.
    Shared by ByteTrack/BoT-SORT and OC-SORT so their outputs keep one shape."""
    if not tracks:
        out = detections[np.zeros(len(detections), bool)]
        out.tracker_id = np.zeros(0, np.int64)
        return out
    out = detections[np.array([t.det_index for t in tracks], np.int64)]
    out.xyxy = boxes.astype(np.float32)
    out.tracker_id = np.array([t.track_id for t in tracks], np.int64)
    return out


class ByteTrack:
    """Multi-object tracker: Kalman-predicted boxes matched to detections in two stages.

    Args:
        frame_rate: frames per second of the stream (scales ``track_buffer``).
        track_thresh: score splitting high from low detections; new tracks need
            ``track_thresh + 0.1``.
        match_thresh: cost limit of the first (high-score) association.
        track_buffer: frames (at 30 fps) a lost track is kept for re-identification.
        mot20: if True, do not fuse detection scores into the first-stage cost.

    Same algorithm, thresholds and tie rules as supervision's ``sv.ByteTrack`` (ids and boxes
    identical frame by frame for the same ``track_thresh``), except two boundaries where
    supervision has a defect: a detection scoring exactly ``track_thresh`` is a high one here
    (supervision drops it from both stages), and a lost track is kept ``track_buffer`` frames
    (supervision keeps it one frame longer). ``track_thresh`` defaults to 0.25 (supervision's
    and ultralytics' default; the paper's 0.5 was tuned for YOLOX on MOT17): measured on
    tests/test_tracker_parity.py's data, where a quarter of the true objects score 0.15-0.5,
    0.25 gives MOTA/IDF1 77.0/84.8 (YOLOX-like scores) and 75.9/83.7 (YOLOv8-like) against
    74.3/82.2 and 73.1/81.3 at 0.5.

    Example::

        tracker = ByteTrack(frame_rate=30)
        for dets in detections_per_frame:
            tracked = tracker.update(dets)
            print(tracked.tracker_id, tracked.xyxy)
    """

    kalman_class = KalmanFilterXYAH
    frozen_when_lost = [7]  # state velocities zeroed while a track is not matched (height)
    # Pipeline may pass frame= as a torch tensor: ByteTrack never looks at it (no host copy for it)
    accepts = frozenset({"numpy", "torch"})
    #: live parameters (``Pipeline.set_tunable("tracker", ...)``)
    tunables = (
        Tunable("track_thresh", 0.05, 0.95, 0.01, doc="score splitting high from low detections"),
        Tunable("match_thresh", 0.05, 1.0, 0.01, doc="cost limit of the first association"),
        Tunable("track_buffer", 1, 300, 1, "int", doc="frames (at 30 fps) a lost track is kept"),
    )

    def __init__(self, frame_rate: float = 30, track_thresh: float = 0.25, match_thresh: float = 0.8,
                 track_buffer: int = 30, mot20: bool = False) -> None:
        self.frame_rate = frame_rate
        self.track_thresh = float(track_thresh)
        self.match_thresh = float(match_thresh)
        self.track_buffer = int(track_buffer)
        self.mot20 = bool(mot20)
        self.det_thresh = self.track_thresh + 0.1
        self.low_thresh = LOW_SCORE_FLOOR
        self.max_time_lost = int(frame_rate / 30.0 * track_buffer)
        self.kalman = self.kalman_class()
        self.reset()

    def set_tunable(self, name: str, value: float) -> None:
        """Changes a live parameter (one of ``tunables``) and what the constructor derives from it
        (``det_thresh`` from ``track_thresh``, ``max_time_lost`` from ``track_buffer``); the tracks
        are kept."""
        if name not in {t.name for t in self.tunables}:
            raise AttributeError(f"{type(self).__name__} has no tunable {name!r}")
        setattr(self, name, int(value) if name == "track_buffer" else float(value))
        self._derive_thresholds()

    def _derive_thresholds(self) -> None:
        self.det_thresh = self.track_thresh + 0.1
        self.max_time_lost = int(self.frame_rate / 30.0 * self.track_buffer)

    def reset(self) -> None:
        """Forget all tracks; ids start again at 1."""
        self.frame_id = 0
        self._next_id = 1
        self._next_key = 1
        self.tracked: List[Track] = []
        self.lost: List[Track] = []

    # -- helpers ------------------------------------------------------------------------
    def _boxes(self, tracks: Sequence[Track]) -> np.ndarray:
        """(N, 4) xyxy of Kalman-initialised tracks, converted in one go."""
        if not tracks:
            return np.zeros((0, 4))
        return self.kalman.decode(np.array([t.mean[:4] for t in tracks]))

    def _wrap(self, detections: Detections, indices: np.ndarray,
              features: Optional[np.ndarray] = None) -> List[Track]:
        """Detections (a subset of the frame's input) as candidate tracks."""
        wrapped = []
        for i in indices:
            track = Track(self._next_key, detections.xyxy[i].astype(np.float64),
                          float(detections.confidence[i]), int(detections.class_id[i]))
            track.det_index = int(i)
            if features is not None:
                track.det_feature = features[i]
            self._next_key += 1
            wrapped.append(track)
        return wrapped

    def _predict(self, tracks: List[Track], frames: int = 1) -> None:
        """Advance all given tracks ``frames`` frames, one vectorised Kalman step per frame."""
        if not tracks:
            return
        means = np.array([t.mean for t in tracks])
        covs = np.array([t.covariance for t in tracks])
        not_tracked = np.array([t.state != TrackState.TRACKED for t in tracks])
        # Past max_time_lost frames every unmatched track is dropped anyway: no need to go on.
        for _ in range(min(frames, self.max_time_lost + 1)):
            means[np.ix_(not_tracked, self.frozen_when_lost)] = 0.0  # a lost track stops growing/shrinking
            means, covs = self.kalman.multi_predict(means, covs)
        for track, mean, cov in zip(tracks, means, covs):
            track.mean, track.covariance = mean, cov

    def _apply(self, pairs: np.ndarray, tracks: List[Track], dets: List[Track], matched: List[Tuple[Track, Track]],
               activated: List[Track], refound: List[Track]) -> None:
        """Take the matches (Kalman correction deferred to one batch per frame), sort by outcome."""
        for row, col in pairs:
            matched.append((tracks[row], dets[col]))
            track, det = tracks[row], dets[col]
            if track.state == TrackState.TRACKED:
                track.update(None, det, self.frame_id)
                activated.append(track)
            else:
                track.re_activate(None, det, self.frame_id)
                refound.append(track)

    def _correct(self, matched: List[Tuple[Track, Track]]) -> None:
        """Kalman-correct every matched (track, detection) pair of the frame in one batch.

        Each track is matched at most once per frame and no association stage looks at a
        track matched by an earlier one, so correcting all at the end gives the same states
        as correcting after each stage, with one filter call instead of three.
        """
        if not matched:
            return
        tracks = [t for t, _ in matched]
        dets = [d for _, d in matched]
        means, covs = self.kalman.multi_update(np.array([t.mean for t in tracks]),
                                               np.array([t.covariance for t in tracks]),
                                               self.kalman.encode(_det_boxes(dets)))
        for track, mean, cov in zip(tracks, means, covs):
            track.mean, track.covariance = mean, cov

    # -- main step ----------------------------------------------------------------------
    def _association_cost(self, tracks: List[Track], dets: List[Track]) -> np.ndarray:
        """Cost of the high-score and unconfirmed stages: IoU distance, score-fused unless MOT20."""
        cost = iou_distance(self._boxes(tracks), _det_boxes(dets))
        if not self.mot20:
            cost = fuse_score(cost, np.array([d.score for d in dets]))
        return cost

    def _detection_features(self, detections: Detections, frame: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """Appearance features of the detections (none for ByteTrack: motion and IoU only)."""
        return None

    def _compensate_motion(self, tracks: List[Track], frame: Optional[np.ndarray]) -> None:
        """Move predicted tracks by the camera's motion (none for ByteTrack)."""

    def update(self, detections: Optional[Detections], frame: Optional[np.ndarray] = None,
               frames_elapsed: int = 1) -> Detections:
        """Track one frame.

        Args:
            detections: this frame's detections (None or empty is allowed), or an (N, 5)
                [x1, y1, x2, y2, score] / (N, 6) [..., class_id] array.
            frame: the image (BGR); ByteTrack does not look at it, BoT-SORT estimates the
                camera's motion from it.
            frames_elapsed: frames (tracker steps) since the previous update: 1 for the next
                frame; more when frames in between were not seen (dropped in real time). The
                Kalman filter predicts across the gap and lost tracks age by that many
                frames, so tracks keep their ids over a drop instead of being re-created.

        Returns:
            The detections of the confirmed tracks on this frame: Kalman-corrected boxes,
            ``tracker_id`` set, confidence/class_id (and masks/data) of the matched detection.
        """
        detections = as_detections(detections, f"{type(self).__name__}.update")
        frames_elapsed = check_frames_elapsed(frames_elapsed)
        self.frame_id += frames_elapsed
        activated: List[Track] = []
        refound: List[Track] = []
        newly_lost: List[Track] = []
        matched: List[Tuple[Track, Track]] = []  # (track, detection), Kalman-corrected together at the end

        scores = detections.confidence
        features = self._detection_features(detections, frame)
        high = self._wrap(detections, np.flatnonzero(scores >= self.track_thresh), features)
        # every peer (ByteTrack's reference, supervision, ultralytics) keeps low boxes strictly above the floor
        low = self._wrap(detections, np.flatnonzero((scores > self.low_thresh) & (scores < self.track_thresh)),
                         features)

        unconfirmed = [t for t in self.tracked if not t.is_activated]
        confirmed = [t for t in self.tracked if t.is_activated]

        # stage 1: high-score detections against confirmed + lost tracks
        pool = _merge(confirmed, self.lost)
        self._predict(pool, frames_elapsed)
        self._compensate_motion(pool + unconfirmed, frame)
        cost = self._association_cost(pool, high)
        pairs, rest_tracks, rest_high = linear_assignment(cost, self.match_thresh)
        self._apply(pairs, pool, high, matched, activated, refound)

        # stage 2: low-score detections against the still unmatched *tracked* tracks
        remaining = [pool[i] for i in rest_tracks if pool[i].state == TrackState.TRACKED]
        cost = iou_distance(self._boxes(remaining), _det_boxes(low))
        pairs, rest_remaining, _ = linear_assignment(cost, SECOND_MATCH_THRESH)
        self._apply(pairs, remaining, low, matched, activated, refound)
        for i in rest_remaining:
            track = remaining[i]
            if track.state != TrackState.LOST:
                track.mark_lost()
                newly_lost.append(track)

        # unconfirmed (one-frame-old) tracks against the left-over high detections
        high = [high[i] for i in rest_high]
        cost = self._association_cost(unconfirmed, high)
        pairs, rest_unconfirmed, rest_high = linear_assignment(cost, UNCONFIRMED_MATCH_THRESH)
        for row, col in pairs:
            matched.append((unconfirmed[row], high[col]))
            unconfirmed[row].update(None, high[col], self.frame_id)
            activated.append(unconfirmed[row])
        for i in rest_unconfirmed:
            unconfirmed[i].mark_removed()

        # new tracks from confident unmatched detections
        for i in rest_high:
            det = high[i]
            if det.score < self.det_thresh:
                continue
            det.activate(self.kalman, self.frame_id)
            activated.append(det)

        self._correct(matched)

        # drop tracks lost for too long
        kept_lost = [t for t in self.lost if self.frame_id - t.frame_id <= self.max_time_lost]

        tracked = [t for t in self.tracked if t.state == TrackState.TRACKED]
        tracked = _merge(_merge(tracked, activated), refound)
        lost = _without(kept_lost, tracked) + newly_lost
        self.tracked, self.lost = self._remove_duplicates(tracked, lost)

        output = [t for t in self.tracked if t.is_activated]
        for track in output:  # ids are handed out when a track is first confirmed
            if track.track_id == 0:
                track.track_id = self._next_id
                self._next_id += 1
        return self._to_detections(output, detections)

    def _remove_duplicates(self, tracked: List[Track], lost: List[Track]) -> Tuple[List[Track], List[Track]]:
        """Of a tracked/lost pair that overlap almost fully, keep the longer-lived one."""
        dist = iou_distance(self._boxes(tracked), self._boxes(lost))
        drop_tracked, drop_lost = set(), set()
        for p, q in zip(*np.nonzero(dist < DUPLICATE_DIST)):
            age_p = tracked[p].frame_id - tracked[p].start_frame
            age_q = lost[q].frame_id - lost[q].start_frame
            if age_p > age_q:
                drop_lost.add(int(q))
            else:
                drop_tracked.add(int(p))
        return ([t for i, t in enumerate(tracked) if i not in drop_tracked],
                [t for i, t in enumerate(lost) if i not in drop_lost])

    def _to_detections(self, tracks: List[Track], detections: Detections) -> Detections:
        return tracked_detections(tracks, self._boxes(tracks) if tracks else None, detections)

    # -- snapshots ----------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to resume tracking, as a plain (picklable, JSON-able) dict.

        Example::

            snapshot = tracker.state_dict()      # e.g. at a seek point
            ...
            tracker.load_state_dict(snapshot)    # same ids as an uninterrupted run
        """
        return {
            "config": self._config(),
            "frame_id": self.frame_id,
            "next_id": self._next_id,
            "next_key": self._next_key,
            "tracked": [t.to_dict() for t in self.tracked],
            "lost": [t.to_dict() for t in self.lost],
        }

    def _config(self) -> Dict[str, Any]:
        """The constructor arguments, as restored by :meth:`load_state_dict`."""
        return {"frame_rate": self.frame_rate, "track_thresh": self.track_thresh,
                "match_thresh": self.match_thresh, "track_buffer": self.track_buffer, "mot20": self.mot20}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`state_dict` (configuration included)."""
        state = copy.deepcopy(state)
        config = state["config"]
        self.__init__(**config)
        self.frame_id = int(state["frame_id"])
        self._next_id = int(state["next_id"])
        self._next_key = int(state["next_key"])
        self.tracked = [Track.from_dict(t) for t in state["tracked"]]
        self.lost = [Track.from_dict(t) for t in state["lost"]]

    # -- prediction between updates (Pipeline(decoupled=True)) ----------------------------
    def predicted_at(self, frames_ahead: int, tracked: Detections) -> Detections:
        """``tracked`` (the output of the last ``update``) with each box moved ``frames_ahead``
        frames forward by its track's Kalman motion model. Side-effect free: the tracker's state
        is not changed (camera motion, unknown ahead of time, is not applied).

        Example::

            tracked = tracker.update(detections)        # on frame k
            shown = tracker.predicted_at(3, tracked)    # where those tracks are on frame k + 3
        """
        if isinstance(frames_ahead, bool) or not isinstance(frames_ahead, (int, np.integer)) or frames_ahead < 0:
            raise ValueError(f"frames_ahead must be an int >= 0, got {frames_ahead!r}")
        frames_ahead = int(frames_ahead)
        out = tracked[np.arange(len(tracked))]
        if frames_ahead == 0 or not len(out) or out.tracker_id is None:
            return out
        by_id = {t.track_id: t for t in self.tracked if t.is_activated and t.mean is not None}
        rows = [i for i, track_id in enumerate(out.tracker_id) if int(track_id) in by_id]
        if not rows:
            return out
        tracks = [by_id[int(out.tracker_id[i])] for i in rows]
        means = np.array([t.mean for t in tracks])
        covs = np.array([t.covariance for t in tracks])
        for _ in range(min(frames_ahead, self.max_time_lost + 1)):  # as far as a lost track lives
            means, covs = self.kalman.multi_predict(means, covs)
        xyxy = out.xyxy.copy()
        xyxy[rows] = self.kalman.decode(means[:, :4]).astype(xyxy.dtype)
        out.xyxy = xyxy
        return out
