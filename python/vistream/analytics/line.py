"""``LineZone``: counts tracks crossing a line segment, in each direction, per class, with
hysteresis so a track jittering on the line counts nothing."""

from __future__ import annotations

import math
import numbers
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Optional, Tuple

import numpy as np

from ..detections import Detections
from ..errors import VistreamError
from .geometry import Point, Position, anchor_points, as_point, positions

#: supervision's default: the four corners, so a box counts once it is wholly across
CORNERS = (Position.TOP_LEFT, Position.TOP_RIGHT, Position.BOTTOM_LEFT, Position.BOTTOM_RIGHT)


class TrackIdsRequiredError(VistreamError, ValueError):
    """Zone counting was given detections without ``tracker_id``: crossings, entries and dwell
    times belong to tracks, so run a tracker (``vistream.track.ByteTrack``) first."""


def require_track_ids(detections: Detections, owner: str) -> None:
    if not isinstance(detections, Detections):
        raise TypeError(f"{owner}: expected vistream.Detections, got {type(detections).__name__}")
    if detections.tracker_id is None and len(detections):
        raise TrackIdsRequiredError(
            f"{owner} counts tracks, but these {len(detections)} detections have no tracker_id: "
            "update a tracker with them first (e.g. vistream.track.ByteTrack().update(detections))")


def check_number(value: Any, name: str, owner: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{owner}: {name} must be a finite number >= {minimum:g}, got {value!r}")
    return float(value)


@dataclass
class _LineTrack:
    side: int = 0                   # confirmed side: +1 the "in" side, -1 the "out" side, 0 not yet known
    candidate: int = 0              # the other side while it is being confirmed
    streak: int = 0                 # consecutive observations on `candidate`
    last_seen: int = 0              # trigger() call that last saw the track
    crossed: Counter = field(default_factory=Counter)  # "in"/"out" -> crossings of this track


class LineZone:
    """Counts tracked objects crossing the segment ``start``-``end``, in each direction.

    The call shape is supervision's: ``crossed_in, crossed_out = zone.trigger(detections)``
    once per frame with tracked detections, then ``zone.in_count`` / ``zone.out_count``.

    Directions (the same as ``sv.LineZone``): walking from ``start`` to ``end`` on the image,
    "in" is a crossing from the right-hand side to the left-hand side, "out" the other way.
    For a horizontal line drawn left to right, moving up is "in"; for a vertical line drawn top
    to bottom, moving right is "in". Swap ``start`` and ``end`` to swap them.

    When a track has crossed: every anchor in ``triggering_anchors`` (default: the box's four
    corners, as supervision) must lie at least ``min_distance`` pixels beyond the line, on the
    other side from where the track was last confirmed, for ``minimum_crossing_threshold``
    consecutive ``trigger()`` calls; anchors nearer the line than ``min_distance``, or
    straddling it, change nothing (hysteresis). So a track that wobbles a few pixels across the
    line and ends where it started counts nothing, however often it wobbles. Only positions
    whose anchors all project onto the segment (between the perpendiculars through ``start``
    and ``end``) are considered, so objects passing beside the segment's ends are not counted.
    A track's first confirmed side is where it starts: a track first seen beyond the line
    counts nothing until it crosses.

    Re-crossing: every confirmed crossing counts. A track that goes in and comes back out adds
    1 to ``in_count`` and 1 to ``out_count`` (the net flow, ``in_count - out_count``, stays
    right); ``crossings_by_track`` says how often each track crossed each way.

    Detections with a negative ``tracker_id`` (tracks a tracker has not confirmed) are ignored;
    detections without ``tracker_id`` raise ``TrackIdsRequiredError``.

    Args:
        start / end: the segment's end points in pixels, ``(x, y)`` (or ``sv.Point``).
        triggering_anchors: the anchors (``Position`` or names such as ``"bottom_center"``)
            that must all be across; ``(Position.CENTER,)`` counts when the centre crosses.
        minimum_crossing_threshold: calls in a row a track must be seen on the new side
            (supervision's parameter; 1 counts on the first).
        min_distance: pixels beyond the line an anchor must be to count as on a side
            (the hysteresis band is twice this wide). 0 is supervision's behaviour.
        name: the zone's name in events and summaries.

    Example::

        line = LineZone(start=(0, 360), end=(1280, 360))
        for frame in reader:
            detections = tracker.update(detector(frame.array))
            crossed_in, crossed_out = line.trigger(detections)
        print(line.in_count, line.out_count, line.in_count_per_class)
    """

    def __init__(self, start: Any, end: Any, triggering_anchors: Iterable[Any] = CORNERS, *,
                 minimum_crossing_threshold: int = 1, min_distance: float = 4.0,
                 name: Optional[str] = None) -> None:
        owner = "LineZone"
        self.start: Point = as_point(start, f"{owner}: start")
        self.end: Point = as_point(end, f"{owner}: end")
        dx, dy = self.end[0] - self.start[0], self.end[1] - self.start[1]
        self.length = math.hypot(dx, dy)
        if self.length == 0:
            raise ValueError(f"{owner}: start and end are the same point {self.start}; a line needs two")
        self.triggering_anchors: Tuple[Position, ...] = positions(triggering_anchors, owner)
        if (isinstance(minimum_crossing_threshold, bool) or not isinstance(minimum_crossing_threshold, numbers.Integral)
                or minimum_crossing_threshold < 1):
            raise ValueError(f"{owner}: minimum_crossing_threshold must be an int >= 1, "
                             f"got {minimum_crossing_threshold!r}")
        self.minimum_crossing_threshold = int(minimum_crossing_threshold)
        self.min_distance = check_number(min_distance, "min_distance", owner)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{owner}: name must be a non-empty string, got {name!r}")
        self.name = name
        self._direction = np.array([dx, dy], np.float64) / self.length
        self._in_per_class: Counter = Counter()
        self._out_per_class: Counter = Counter()
        self._tracks: Dict[int, _LineTrack] = {}
        self._calls = 0
        #: class id -> class name, from the detections seen
        self.class_id_to_name: Dict[int, str] = {}

    # -- counts ---------------------------------------------------------------------------
    @property
    def in_count(self) -> int:
        """Crossings in (right-hand to left-hand side of start -> end)."""
        return sum(self._in_per_class.values())

    @property
    def out_count(self) -> int:
        """Crossings out."""
        return sum(self._out_per_class.values())

    @property
    def in_count_per_class(self) -> Dict[int, int]:
        """Crossings in by ``class_id`` (the class of the detection on the crossing frame)."""
        return dict(self._in_per_class)

    @property
    def out_count_per_class(self) -> Dict[int, int]:
        """Crossings out by ``class_id``."""
        return dict(self._out_per_class)

    @property
    def crossings_by_track(self) -> Dict[int, Dict[str, int]]:
        """``{tracker_id: {"in": n, "out": m}}`` for every track that crossed (kept while the
        zone remembers the track: tracks unseen for 10000 calls are forgotten)."""
        return {tid: {"in": t.crossed["in"], "out": t.crossed["out"]}
                for tid, t in self._tracks.items() if t.crossed}

    def reset(self) -> None:
        """Zero the counts and forget every track."""
        self._in_per_class.clear()
        self._out_per_class.clear()
        self._tracks.clear()
        self._calls = 0

    def forget_tracks(self) -> None:
        """Forget which side each track was on (the counts stay): for a jump to another part of
        the video, where the tracks' last sides say nothing."""
        self._tracks.clear()

    # -- geometry -------------------------------------------------------------------------
    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance in pixels of (..., 2) points from the line, positive on the "in" side."""
        relative = np.asarray(points, np.float64) - np.array(self.start)
        dx, dy = self._direction
        # supervision's rule: the cross product direction x (p - start) < 0 is the "in" side
        return -(dx * relative[..., 1] - dy * relative[..., 0])

    def within_segment(self, points: np.ndarray) -> np.ndarray:
        """Whether (..., 2) points project onto the segment (not beside its ends)."""
        relative = np.asarray(points, np.float64) - np.array(self.start)
        along = relative[..., 0] * self._direction[0] + relative[..., 1] * self._direction[1]
        return (along >= 0) & (along <= self.length)

    def sides(self, detections: Detections) -> np.ndarray:
        """(N,) int: +1 every anchor at least ``min_distance`` on the "in" side, -1 on the "out"
        side, 0 on or near the line, straddling it, or beside the segment."""
        if len(detections) == 0:
            return np.zeros(0, np.int64)
        anchors = anchor_points(detections, self.triggering_anchors)
        distance = self.signed_distance(anchors)
        beside = ~np.all(self.within_segment(anchors), axis=0)
        result = np.where(np.all(distance >= max(self.min_distance, 1e-9), axis=0), 1,
                          np.where(np.all(distance <= -max(self.min_distance, 1e-9), axis=0), -1, 0))
        result[beside] = 0
        return result.astype(np.int64)

    # -- per frame ------------------------------------------------------------------------
    def trigger(self, detections: Detections) -> Tuple[np.ndarray, np.ndarray]:
        """Updates the counts with one frame's tracked detections.

        Returns ``(crossed_in, crossed_out)``: (N,) bool arrays, True for the detections whose
        track crossed in / out on this call.
        """
        require_track_ids(detections, "LineZone")
        self._calls += 1
        n = len(detections)
        crossed_in, crossed_out = np.zeros(n, bool), np.zeros(n, bool)
        if n == 0:
            self._forget_stale()
            return crossed_in, crossed_out
        self._learn_names(detections)
        sides = self.sides(detections)
        for i, (tid, class_id) in enumerate(zip(detections.tracker_id.tolist(), detections.class_id.tolist())):
            if tid < 0:
                continue
            track = self._tracks.get(tid)
            if track is None:
                track = self._tracks[tid] = _LineTrack()
            track.last_seen = self._calls
            side = int(sides[i])
            if side == 0:
                continue  # in the band, or beside the segment: no evidence either way
            if track.side == 0:
                track.side = side  # where the track starts
                continue
            if side == track.side:
                track.candidate, track.streak = 0, 0
                continue
            if side != track.candidate:
                track.candidate, track.streak = side, 0
            track.streak += 1
            if track.streak < self.minimum_crossing_threshold:
                continue
            track.side, track.candidate, track.streak = side, 0, 0
            if side > 0:
                self._in_per_class[class_id] += 1
                track.crossed["in"] += 1
                crossed_in[i] = True
            else:
                self._out_per_class[class_id] += 1
                track.crossed["out"] += 1
                crossed_out[i] = True
        self._forget_stale()
        return crossed_in, crossed_out

    def _learn_names(self, detections: Detections) -> None:
        if detections.class_names or "class_name" in detections.data:
            for class_id, name in zip(detections.class_id.tolist(), detections.class_name.tolist()):
                self.class_id_to_name[class_id] = str(name)

    # Tracks unseen this many calls are forgotten: memory stays bounded on endless streams, and
    # no tracker keeps a lost id that long (ByteTrack: 30 frames).
    _FORGET_AFTER = 10000

    def _forget_stale(self) -> None:
        if self._calls % 1000 == 0:
            stale = [tid for tid, t in self._tracks.items() if self._calls - t.last_seen > self._FORGET_AFTER]
            for tid in stale:
                del self._tracks[tid]

    def __repr__(self) -> str:
        return (f"LineZone(start={self.start}, end={self.end}, name={self.name!r}, in_count={self.in_count}, "
                f"out_count={self.out_count})")
