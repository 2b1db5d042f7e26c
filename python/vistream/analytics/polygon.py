"""``PolygonZone``: which detections are inside a polygon, and how many, per class."""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Iterable, Optional, Tuple

import numpy as np

from ..detections import Detections
from .geometry import Position, anchor_points, as_point, points_in_polygon, positions


class PolygonZone:
    """A polygonal zone: ``inside = zone.trigger(detections)`` per frame, and
    ``zone.current_count`` (supervision's call shape).

    A detection is inside when all its ``triggering_anchors`` (default: the bottom centre of the
    box, where a person or a car touches the ground; supervision's default too) lie inside the
    polygon or on its border. The zone itself is stateless: it holds the last frame's counts.
    Entries, exits and dwell times per track come from :class:`ZoneAnalytics`, which adds the
    frame's media time.

    Args:
        polygon: (V, 2) vertices in pixels, V >= 3 (a list of ``(x, y)`` pairs or an array).
        triggering_anchors: the anchors (``Position`` or names) that must all be inside.
        name: the zone's name in events and summaries.

    Example::

        zone = PolygonZone([(100, 100), (400, 100), (400, 300), (100, 300)])
        inside = zone.trigger(detections)
        print(zone.current_count, zone.current_count_per_class)
    """

    def __init__(self, polygon: Any, triggering_anchors: Iterable[Any] = (Position.BOTTOM_CENTER,), *,
                 name: Optional[str] = None) -> None:
        owner = "PolygonZone"
        try:
            vertices = [as_point(p, f"{owner}: each vertex") for p in polygon]
        except TypeError:
            raise ValueError(f"{owner}: polygon must be a list of (x, y) vertices, got {polygon!r}") from None
        if len(vertices) < 3:
            raise ValueError(f"{owner}: polygon needs at least 3 vertices, got {len(vertices)}")
        self.polygon: np.ndarray = np.array(vertices, np.float64)
        area = 0.5 * abs(np.dot(self.polygon[:, 0], np.roll(self.polygon[:, 1], -1))
                         - np.dot(self.polygon[:, 1], np.roll(self.polygon[:, 0], -1)))
        if area == 0:
            raise ValueError(f"{owner}: polygon {vertices} has no area")
        self.triggering_anchors: Tuple[Position, ...] = positions(triggering_anchors, owner)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{owner}: name must be a non-empty string, got {name!r}")
        self.name = name
        #: detections inside on the last ``trigger()`` call
        self.current_count = 0
        #: the same by ``class_id``
        self.current_count_per_class: Dict[int, int] = {}

    def contains(self, points: Any) -> np.ndarray:
        """Whether (..., 2) points lie inside the polygon or on its border."""
        return points_in_polygon(np.asarray(points, np.float64), self.polygon)

    def trigger(self, detections: Detections) -> np.ndarray:
        """(N,) bool: which detections are inside; updates ``current_count`` (and per class)."""
        if not isinstance(detections, Detections):
            raise TypeError(f"PolygonZone: expected vistream.Detections, got {type(detections).__name__}")
        if len(detections) == 0:
            inside = np.zeros(0, bool)
        else:
            inside = np.all(self.contains(anchor_points(detections, self.triggering_anchors)), axis=0)
        self.current_count = int(np.count_nonzero(inside))
        self.current_count_per_class = dict(Counter(detections.class_id[inside].tolist()))
        return inside

    def __repr__(self) -> str:
        return f"PolygonZone({self.polygon.tolist()}, name={self.name!r}, current_count={self.current_count})"
