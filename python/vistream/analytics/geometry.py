"""Anchor points of boxes and the point/segment/polygon tests the zones share (not public,
except ``Position``)."""

from __future__ import annotations

import enum
import math
import numbers
from typing import Any, Iterable, Sequence, Tuple, Union

import numpy as np

from ..detections import Detections

Point = Tuple[float, float]


class Position(str, enum.Enum):
    """Where on a box a zone looks: supervision's ``sv.Position`` names (also accepted as
    strings, any case, or as ``sv.Position`` members themselves)."""

    CENTER = "CENTER"
    CENTER_LEFT = "CENTER_LEFT"
    CENTER_RIGHT = "CENTER_RIGHT"
    TOP_CENTER = "TOP_CENTER"
    TOP_LEFT = "TOP_LEFT"
    TOP_RIGHT = "TOP_RIGHT"
    BOTTOM_LEFT = "BOTTOM_LEFT"
    BOTTOM_CENTER = "BOTTOM_CENTER"
    BOTTOM_RIGHT = "BOTTOM_RIGHT"

    @classmethod
    def of(cls, value: Any) -> "Position":
        """``value`` as a Position: a Position, its name in any case, or an ``sv.Position``."""
        if isinstance(value, cls):
            return value
        name = getattr(value, "value", value)  # sv.Position is an Enum whose values are these names
        if isinstance(name, str):
            try:
                return cls(name.strip().upper())
            except ValueError:
                pass
        raise ValueError(f"unknown anchor {value!r}; use one of {', '.join(p.value for p in cls)}")


# (fraction along x, fraction along y) of each anchor inside its box
_FRACTIONS = {
    Position.CENTER: (0.5, 0.5), Position.CENTER_LEFT: (0.0, 0.5), Position.CENTER_RIGHT: (1.0, 0.5),
    Position.TOP_CENTER: (0.5, 0.0), Position.TOP_LEFT: (0.0, 0.0), Position.TOP_RIGHT: (1.0, 0.0),
    Position.BOTTOM_LEFT: (0.0, 1.0), Position.BOTTOM_CENTER: (0.5, 1.0), Position.BOTTOM_RIGHT: (1.0, 1.0),
}


def positions(anchors: Union[Any, Iterable[Any]], owner: str) -> Tuple[Position, ...]:
    """A non-empty tuple of Positions from one anchor or an iterable of them."""
    if isinstance(anchors, (str, Position)) or hasattr(anchors, "value"):
        anchors = [anchors]
    try:
        result = tuple(Position.of(a) for a in anchors)
    except TypeError:
        raise TypeError(f"{owner}: triggering_anchors must be Positions, got {anchors!r}") from None
    except ValueError as error:
        raise ValueError(f"{owner}: {error}") from None
    if not result:
        raise ValueError(f"{owner}: triggering_anchors must name at least one anchor")
    return result


def anchor_points(detections: Detections, anchors: Sequence[Position]) -> np.ndarray:
    """(K, N, 2) float64 coordinates of each of the K anchors of the N boxes."""
    boxes = np.asarray(detections.xyxy, np.float64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    out = np.empty((len(anchors), len(boxes), 2), np.float64)
    for k, anchor in enumerate(anchors):
        fx, fy = _FRACTIONS[anchor]
        out[k, :, 0] = x1 + fx * (x2 - x1)
        out[k, :, 1] = y1 + fy * (y2 - y1)
    return out


def as_point(value: Any, what: str) -> Point:
    """(x, y) from a pair or from an object with ``.x``/``.y`` (``sv.Point``), finite numbers."""
    if hasattr(value, "x") and hasattr(value, "y"):
        value = (value.x, value.y)
    try:
        x, y = value
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an (x, y) pair, got {value!r}") from None
    for v in (x, y):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{what} must be an (x, y) pair of finite numbers, got {value!r}")
    return float(x), float(y)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which of the (..., 2) ``points`` lie inside ``polygon`` ((V, 2) vertices) or on its edges.

    Even-odd rule (a ray to +x), vectorised over points and edges; a point on an edge is
    inside, so a box resting on a zone's border counts as in the zone."""
    shape = points.shape[:-1]
    px = points.reshape(-1, 2)[:, 0:1]
    py = points.reshape(-1, 2)[:, 1:2]
    ax, ay = polygon[:, 0][None, :], polygon[:, 1][None, :]
    bx, by = np.roll(polygon[:, 0], -1)[None, :], np.roll(polygon[:, 1], -1)[None, :]
    straddles = (ay > py) != (by > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = ax + (py - ay) * (bx - ax) / (by - ay)
    crossings = np.count_nonzero(straddles & (px < x_at), axis=1)
    inside = (crossings % 2) == 1
    # on an edge: collinear with it and within its extent
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    within = ((np.minimum(ax, bx) <= px) & (px <= np.maximum(ax, bx))
              & (np.minimum(ay, by) <= py) & (py <= np.maximum(ay, by)))
    on_edge = np.any((np.abs(cross) <= 1e-9 * (1 + np.abs(bx - ax) + np.abs(by - ay))) & within, axis=1)
    return (inside | on_edge).reshape(shape)
