"""``DotAnnotator``: a filled dot at each box centre."""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from ..detections import Detections
from ._base import check_inputs, check_size, cv2_canvas, scale_of
from .colors import color_for


class DotAnnotator:
    """Draws a filled dot at the centre of each detection's box.

    Args:
        radius: dot radius in pixels; ``None`` scales it with the image size.

    Example::

        DotAnnotator(radius=4).annotate(frame, detections)
    """

    def __init__(self, radius: Optional[int] = None) -> None:
        self.radius = check_size("radius", radius)

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Draw the dots on ``image`` (in place) and return ``image``."""
        check_inputs(image, detections)
        if len(detections) == 0:
            return image
        radius = self.radius or max(2, int(round(4 * scale_of(image))))
        with cv2_canvas(image) as canvas:
            for i, (cx, cy) in enumerate(detections.center):
                if not np.isfinite([cx, cy]).all():
                    continue
                cv2.circle(canvas, (int(round(cx)), int(round(cy))), radius, color_for(detections, i),
                           thickness=-1, lineType=cv2.LINE_AA)
        return image
