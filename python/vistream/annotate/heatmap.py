"""``HeatmapAnnotator``: where tracks have been, as a decaying, colour-mapped overlay."""

from __future__ import annotations

from typing import Any, Optional

import cv2
import numpy as np

from ..analytics.geometry import Position, anchor_points
from ..detections import Detections
from ._base import check_float, check_inputs, check_size


class HeatmapAnnotator:
    """Accumulates the anchor point of every detection, frame after frame, and draws the sum as
    a colour-mapped overlay (supervision's ``HeatMapAnnotator``, with ultralytics' decay).

    Each ``annotate`` call (one per frame) first multiplies the accumulated heat by ``decay``,
    then adds, around each detection's ``position`` anchor, a round spot of ``radius`` pixels
    whose weight falls from 1 at the centre to 0 at the rim. Heat below ``1/100`` (a hundredth
    of one frame's centre weight) is dropped, so a place nobody visited for a while returns to
    the untouched picture. The heat is scaled by its current maximum and colour-mapped
    (``colormap``, OpenCV's JET by default: blue cool, red hot) and blended over the pixels
    that have heat with ``opacity``; pixels without heat are left exactly as they were.

    Args:
        position: the anchor accumulated (``Position`` or a name; default the box's bottom centre,
            where people and vehicles touch the ground).
        opacity: weight of the colour over the frame, in (0, 1].
        radius: spot radius in pixels; None scales it with the image size (about 2% of its
            diagonal).
        decay: factor per frame in (0, 1]: 1 keeps everything (supervision's behaviour), 0.99
            halves a spot's heat in about 69 frames, 0.9 in about 7.
        colormap: an OpenCV colormap id (``cv2.COLORMAP_*``).

    The heat is a float32 image of the frame's size; a frame of another size starts it afresh,
    as does :meth:`reset` (e.g. after a seek).

    Example::

        heat = HeatmapAnnotator(opacity=0.5, decay=0.99)
        pipeline = vistream.Pipeline(detector, ByteTrack(), [heat, BoxAnnotator()])
    """

    #: heat below this is dropped (the picture there is untouched)
    CUTOFF = 0.01

    def __init__(self, position: Any = Position.BOTTOM_CENTER, *, opacity: float = 0.5, radius: Optional[int] = None,
                 decay: float = 0.99, colormap: int = cv2.COLORMAP_JET) -> None:
        try:
            self.position = Position.of(position)
        except ValueError as error:
            raise ValueError(f"HeatmapAnnotator: {error}") from None
        self.opacity = check_float("opacity", opacity, False, 0.0, 1.0, low_inclusive=False)
        self.radius = check_size("radius", radius)
        self.decay = check_float("decay", decay, False, 0.0, 1.0, low_inclusive=False)
        if isinstance(colormap, bool) or not isinstance(colormap, (int, np.integer)):
            raise TypeError(f"colormap must be an OpenCV colormap id (cv2.COLORMAP_*), got {colormap!r}")
        self.colormap = int(colormap)
        self.heat: Optional[np.ndarray] = None
        self._spot: Optional[np.ndarray] = None

    def reset(self) -> None:
        """Forget the accumulated heat."""
        self.heat = None

    def _spot_for(self, radius: int) -> np.ndarray:
        if self._spot is None or self._spot.shape[0] != 2 * radius + 1:
            offsets = np.arange(-radius, radius + 1, dtype=np.float32)
            distance = np.hypot(offsets[None, :], offsets[:, None])
            self._spot = np.clip(1.0 - distance / (radius + 1), 0.0, None).astype(np.float32)
        return self._spot

    def accumulate(self, detections: Detections, size: "tuple[int, int]") -> np.ndarray:
        """Decays the heat and adds ``detections``' anchors for an image of ``size`` (H, W);
        returns the heat (what ``annotate`` draws)."""
        height, width = size
        if self.heat is None or self.heat.shape != (height, width):
            self.heat = np.zeros((height, width), np.float32)
        heat = self.heat
        if self.decay < 1.0:
            heat *= self.decay
            heat[heat < self.CUTOFF] = 0.0
        if len(detections) == 0:
            return heat
        radius = self.radius or max(2, int(round(0.02 * np.hypot(height, width))))
        spot = self._spot_for(radius)
        for x, y in anchor_points(detections, (self.position,))[0]:
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            cx, cy = int(round(x)), int(round(y))
            x1, y1, x2, y2 = cx - radius, cy - radius, cx + radius + 1, cy + radius + 1
            ix1, iy1, ix2, iy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
            if ix1 >= ix2 or iy1 >= iy2:
                continue  # wholly outside the image
            heat[iy1:iy2, ix1:ix2] += spot[iy1 - y1:iy2 - y1, ix1 - x1:ix2 - x1]
        return heat

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Adds this frame's detections to the heat and draws it on ``image`` (in place)."""
        check_inputs(image, detections)
        heat = self.accumulate(detections, image.shape[:2])
        hot = heat >= self.CUTOFF
        if not hot.any():
            return image
        peak = float(heat.max())
        levels = np.zeros(heat.shape, np.uint8)
        levels[hot] = np.clip(heat[hot] / peak * 255.0, 1, 255).astype(np.uint8)
        colors = cv2.applyColorMap(levels, self.colormap)
        blended = image[hot].astype(np.float32) * (1.0 - self.opacity) + colors[hot].astype(np.float32) * self.opacity
        image[hot] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
        return image
