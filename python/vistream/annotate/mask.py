"""``MaskAnnotator``: tint instance-mask pixels with the detection colour."""

from __future__ import annotations

import numpy as np

from ..detections import Detections
from ._base import check_float, check_inputs
from .colors import color_for


class MaskAnnotator:
    """Blends every mask pixel with the detection's colour:
    ``out = round((1 - opacity) * pixel + opacity * colour)``.

    Detections without masks leave the image unchanged; masks must have the image's H x W.

    Args:
        opacity: weight of the colour, in [0, 1].

    Example::

        MaskAnnotator(opacity=0.4).annotate(frame, segmentations)
    """

    def __init__(self, opacity: float = 0.5) -> None:
        self.opacity = check_float("opacity", opacity, False, 0.0, 1.0)

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Tint the masked pixels of ``image`` (in place) and return ``image``."""
        check_inputs(image, detections)
        if len(detections) == 0 or detections.mask is None:
            return image
        if detections.mask.shape[1:] != image.shape[:2]:
            raise ValueError(f"mask size {detections.mask.shape[1:]} does not match image size {image.shape[:2]}")
        alpha = self.opacity
        for i in range(len(detections)):
            mask = detections.mask[i]
            if not mask.any():
                continue
            color = np.array(color_for(detections, i), np.float64)
            pixels = image[mask].astype(np.float64)
            image[mask] = np.clip(np.rint((1.0 - alpha) * pixels + alpha * color), 0, 255).astype(np.uint8)
        return image
