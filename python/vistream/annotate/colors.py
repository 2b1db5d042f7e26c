"""Colour palette and stable per-detection / per-track colour lookup."""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from ..detections import Detections

Color = Tuple[int, int, int]

#: 24 clearly distinct BGR colours (none is black, so drawings always show on a black frame).
PALETTE: Tuple[Color, ...] = (
    (56, 56, 255),    # red
    (151, 157, 255),  # salmon
    (31, 112, 255),   # orange
    (29, 178, 255),   # amber
    (49, 210, 207),   # olive-yellow
    (10, 249, 72),    # green
    (23, 204, 146),   # jade
    (134, 219, 61),   # teal-green
    (211, 188, 0),    # cyan-blue
    (209, 152, 44),   # steel blue
    (255, 194, 0),    # sky
    (147, 69, 52),    # navy
    (255, 115, 100),  # cornflower
    (236, 24, 0),     # blue
    (255, 56, 132),   # violet
    (133, 0, 82),     # plum
    (255, 56, 203),   # magenta
    (200, 149, 255),  # pink
    (199, 55, 255),   # hot pink
    (0, 128, 128),    # olive
    (128, 128, 0),    # dark teal
    (255, 255, 255),  # white
    (128, 128, 128),  # grey
    (0, 215, 255),    # gold
)


def color_for(key: Union[int, np.integer, Detections], index: Optional[int] = None) -> Color:
    """The palette colour (BGR tuple) for an id, or for detection ``index`` of ``key``.

    With a ``Detections`` the colour follows ``tracker_id`` when the detections are tracked
    (so one track keeps its colour across frames), otherwise ``class_id``.

    Example::

        color_for(7)                      # colour of id 7, same on every call
        color_for(detections, 0)          # colour of the first detection
    """
    if isinstance(key, Detections):
        if index is None:
            raise TypeError("color_for(detections, index): index is required with Detections")
        ids = key.tracker_id if key.tracker_id is not None else key.class_id
        key = ids[int(index)]
    elif index is not None:
        raise TypeError("color_for(id): index is only used with a Detections")
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
        raise TypeError(f"color_for: expected an integer id or Detections, got {type(key).__name__}")
    return PALETTE[int(key) % len(PALETTE)]


def text_color_for(background: Color) -> Color:
    """Black or white, whichever reads better on ``background`` (BGR), by luminance.

    Example::

        text_color_for((255, 255, 255))   # (0, 0, 0)
    """
    b, g, r = background
    luminance = 0.114 * b + 0.587 * g + 0.299 * r
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)
