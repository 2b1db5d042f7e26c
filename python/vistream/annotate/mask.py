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
    Each mask is drawn inside its stored crop (``detections.masks``): the full-size (N, H, W)
    stack is never made, so 100 masks on a 4K frame cost what their pixels cost.

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
        masks = detections.masks
        if len(detections) == 0 or masks is None:
            return image
        if masks.image_size != image.shape[:2]:
            raise ValueError(f"mask size {masks.image_size} does not match image size {image.shape[:2]}")
        alpha = self.opacity
        for i in range(len(detections)):
            y0, x0, crop = masks.crop(i)
            if crop.size == 0:
                continue
            region = image[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]]
            color = np.array(color_for(detections, i), np.float64)
            pixels = region[crop].astype(np.float64)
            region[crop] = np.clip(np.rint((1.0 - alpha) * pixels + alpha * color), 0, 255).astype(np.uint8)
        return image
