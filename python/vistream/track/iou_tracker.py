"""IoU tracker: a SORT-style baseline that matches boxes frame to frame without motion model."""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional

import numpy as np

from ..detections import Detections, as_detections
from .byte_track import check_frames_elapsed
from .matching import iou_matrix, linear_assignment


class IoUTracker:
    """Match each frame's detections to the tracks' last boxes by IoU (Hungarian).

    Args:
        iou_threshold: minimum IoU for a detection to continue a track.
        max_age: frames a track may go unmatched before it is dropped.
        min_hits: matches a track needs before it is output (and gets its id).

    Example::

        tracker = IoUTracker(iou_threshold=0.3)
        tracked = tracker.update(detections)   # tracked.tracker_id is filled
    """

    def __init__(self, iou_threshold: float = 0.3, max_age: int = 30, min_hits: int = 1) -> None:
        self.iou_threshold = float(iou_threshold)
        self.max_age = int(max_age)
        self.min_hits = int(min_hits)
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; ids start again at 1."""
        self.frame_id = 0
        self._next_id = 1
        # one row per live track
        self._boxes = np.zeros((0, 4), np.float64)
        self._ids = np.zeros(0, np.int64)        # 0 until confirmed
        self._hits = np.zeros(0, np.int64)
        self._misses = np.zeros(0, np.int64)     # frames since the last match

    def update(self, detections: Optional[Detections], frame: Optional[np.ndarray] = None,
               frames_elapsed: int = 1) -> Detections:
        """Track one frame; returns the confirmed tracks matched on it, ``tracker_id`` set.

        ``frames_elapsed``: frames since the previous update (> 1 across frames dropped in real
        time); an unmatched track misses that many frames.
        """
        detections = as_detections(detections, "IoUTracker.update")
        frames_elapsed = check_frames_elapsed(frames_elapsed)
        self.frame_id += frames_elapsed
        boxes = detections.xyxy.astype(np.float64)
        cost = 1.0 - iou_matrix(self._boxes, boxes)
        matches, unmatched_tracks, unmatched_dets = linear_assignment(cost, 1.0 - self.iou_threshold)

        rows, cols = matches[:, 0], matches[:, 1]
        self._boxes[rows] = boxes[cols]
        self._hits[rows] += 1
        self._misses[rows] = 0
        self._misses[unmatched_tracks] += frames_elapsed
        det_of_track = np.full(len(self._ids), -1, np.int64)
        det_of_track[rows] = cols

        n_new = len(unmatched_dets)
        self._boxes = np.concatenate([self._boxes, boxes[unmatched_dets]])
        self._ids = np.concatenate([self._ids, np.zeros(n_new, np.int64)])
        self._hits = np.concatenate([self._hits, np.ones(n_new, np.int64)])
        self._misses = np.concatenate([self._misses, np.zeros(n_new, np.int64)])
        det_of_track = np.concatenate([det_of_track, unmatched_dets.astype(np.int64)])

        alive = self._misses <= self.max_age
        self._boxes, self._ids, self._hits, self._misses, det_of_track = (
            a[alive] for a in (self._boxes, self._ids, self._hits, self._misses, det_of_track))

        output = np.flatnonzero((det_of_track >= 0) & (self._hits >= self.min_hits))
        for i in output:
            if self._ids[i] == 0:
                self._ids[i] = self._next_id
                self._next_id += 1
        out = detections[det_of_track[output]]
        out.tracker_id = self._ids[output].copy()
        return out

    def state_dict(self) -> Dict[str, Any]:
        """Plain-dict snapshot of the tracker (configuration included)."""
        return {
            "config": {"iou_threshold": self.iou_threshold, "max_age": self.max_age, "min_hits": self.min_hits},
            "frame_id": self.frame_id, "next_id": self._next_id,
            "boxes": self._boxes.tolist(), "ids": self._ids.tolist(),
            "hits": self._hits.tolist(), "misses": self._misses.tolist(),
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`state_dict`."""
        state = copy.deepcopy(state)
        self.__init__(**state["config"])
        self.frame_id = int(state["frame_id"])
        self._next_id = int(state["next_id"])
        self._boxes = np.asarray(state["boxes"], np.float64).reshape(-1, 4)
        self._ids = np.asarray(state["ids"], np.int64)
        self._hits = np.asarray(state["hits"], np.int64)
        self._misses = np.asarray(state["misses"], np.int64)
