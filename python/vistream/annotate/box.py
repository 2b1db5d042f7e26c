"""``BoxAnnotator``: rectangle outlines around detections."""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from ..detections import Detections
from ._base import auto_thickness, check_inputs, check_size, cv2_canvas
from .colors import color_for


class BoxAnnotator:
    """Draws each detection's box outline in its track / class colour.

    Args:
        thickness: line width in pixels; ``None`` scales it with the image size (>= 1).

    Example::

        annotator = BoxAnnotator()
        frame = annotator.annotate(frame, detections)   # draws in place, returns frame
    """

    def __init__(self, thickness: Optional[int] = None) -> None:
        self.thickness = check_size("thickness", thickness)

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Draw the boxes on ``image`` (in place) and return ``image``."""
        check_inputs(image, detections)
        if len(detections) == 0:
            return image
        thickness = self.thickness or auto_thickness(image)
        with cv2_canvas(image) as canvas:
            for i, (x1, y1, x2, y2) in enumerate(detections.xyxy):
                if not np.isfinite([x1, y1, x2, y2]).all():
                    continue
                cv2.rectangle(canvas, (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2))),
                              color_for(detections, i), thickness)
        return image
