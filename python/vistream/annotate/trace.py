"""``TraceAnnotator``: the recent path of each track's box centre."""

from __future__ import annotations

from collections import deque
from typing import Deque, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..detections import Detections
from ._base import auto_thickness, check_inputs, check_size, cv2_canvas
from .colors import color_for


class TraceAnnotator:
    """Draws, for each tracked detection, a polyline through its last ``length`` box centres.

    The annotator remembers centres per ``tracker_id`` between calls (one call per frame);
    detections without a ``tracker_id`` are ignored. Tracks unseen for ``length`` calls are
    forgotten; :meth:`reset` forgets everything (e.g. after a seek).

    Args:
        length: number of centres kept per track (>= 2).
        thickness: line width; ``None`` scales it with the image size.

    Example::

        traces = TraceAnnotator(length=50)
        for frame in reader:
            detections = tracker.update(detector(frame.array))
            traces.annotate(frame.array, detections)
    """

    def __init__(self, length: int = 30, thickness: Optional[int] = None) -> None:
        self.length = check_size("length", length, allow_none=False, minimum=2)
        self.thickness = check_size("thickness", thickness)
        self._history: Dict[int, Deque[Tuple[float, float]]] = {}
        self._last_seen: Dict[int, int] = {}
        self._calls = 0

    def reset(self) -> None:
        """Forget all track histories.

        Example::

            traces.reset()
        """
        self._history.clear()
        self._last_seen.clear()
        self._calls = 0

    def history(self, tracker_id: int) -> list:
        """The remembered centres of one track, oldest first, as (x, y) tuples.

        Example::

            traces.history(7)   # [(12.0, 30.0), (14.5, 31.0), ...]
        """
        return list(self._history.get(int(tracker_id), ()))

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Record this frame's centres and draw each current track's trail on ``image`` (in place)."""
        check_inputs(image, detections)
        trails = self._record(detections)
        if not trails:
            return image
        thickness = self.thickness or auto_thickness(image)
        with cv2_canvas(image) as canvas:
            for tid, trail in trails:
                points = np.round(np.array(trail)).astype(np.int32).reshape(-1, 1, 2)
                cv2.polylines(canvas, [points], False, color_for(tid), thickness, cv2.LINE_AA)
        return image

    def _record(self, detections: Detections) -> List[Tuple[int, Deque[Tuple[float, float]]]]:
        """One call per frame: forgets tracks unseen for ``length`` calls, appends each tracked
        detection's finite centre to its track, and returns the (tracker_id, trail) pairs with at
        least two centres, in detection order (what annotate draws, on whichever device)."""
        self._calls += 1
        stale = [tid for tid, seen in self._last_seen.items() if self._calls - seen > self.length]
        for tid in stale:
            del self._history[tid], self._last_seen[tid]
        if len(detections) == 0 or detections.tracker_id is None:
            return []
        centers = detections.center
        trails = []
        for i, tid in enumerate(detections.tracker_id):
            tid = int(tid)
            if not np.isfinite(centers[i]).all():
                continue
            trail = self._history.setdefault(tid, deque(maxlen=self.length))
            trail.append((float(centers[i, 0]), float(centers[i, 1])))
            self._last_seen[tid] = self._calls
            if len(trail) >= 2:
                trails.append((tid, trail))
        return trails
