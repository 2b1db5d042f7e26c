"""``BlurAnnotator``: blur the inside of each box (privacy)."""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from ..detections import Detections
from ._base import check_inputs, check_size, visible_regions


class BlurAnnotator:
    """Box-blurs the pixels inside each detection's box; pixels outside stay untouched.

    Boxes are clipped to the image.

    Args:
        kernel: blur kernel size in pixels; ``None`` uses a fifth of each box's smaller side
            (at least 3).

    Example::

        BlurAnnotator().annotate(frame, faces)
    """

    def __init__(self, kernel: Optional[int] = None) -> None:
        self.kernel = check_size("kernel", kernel)

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Blur inside the boxes of ``image`` (in place) and return ``image``."""
        check_inputs(image, detections)
        height, width = image.shape[:2]
        for x1, y1, x2, y2 in visible_regions(detections.xyxy, width, height):
            roi = image[y1:y2, x1:x2]
            k = self.kernel or max(3, min(x2 - x1, y2 - y1) // 5)
            roi[...] = cv2.blur(np.ascontiguousarray(roi), (k, k))
        return image
