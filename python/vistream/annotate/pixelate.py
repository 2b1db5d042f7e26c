"""``PixelateAnnotator``: pixelate the inside of each box (privacy)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..detections import Detections
from ._base import check_inputs, check_size, visible_regions


def _pixelate(roi: np.ndarray, block: int) -> None:
    """Replace each block x block tile of ``roi`` (anchored at its top-left) by its mean colour."""
    h, w = roi.shape[:2]
    rows, cols = np.arange(0, h, block), np.arange(0, w, block)
    sums = np.add.reduceat(np.add.reduceat(roi.astype(np.uint64), rows, axis=0), cols, axis=1)
    row_sizes = np.diff(np.append(rows, h))
    col_sizes = np.diff(np.append(cols, w))
    counts = (row_sizes[:, None] * col_sizes[None, :])[:, :, None]
    means = ((sums + counts // 2) // counts).astype(np.uint8)
    roi[...] = np.repeat(np.repeat(means, row_sizes, axis=0), col_sizes, axis=1)


class PixelateAnnotator:
    """Replaces the inside of each box by coarse constant-colour blocks (tile means).

    Blocks are anchored at the top-left of each (image-clipped) box; outside pixels stay untouched.

    Args:
        block: block size in pixels; ``None`` uses an eighth of each box's smaller side
            (at least 4).

    Example::

        PixelateAnnotator(block=12).annotate(frame, plates)
    """

    def __init__(self, block: Optional[int] = None) -> None:
        self.block = check_size("block", block)

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Pixelate inside the boxes of ``image`` (in place) and return ``image``."""
        check_inputs(image, detections)
        height, width = image.shape[:2]
        for x1, y1, x2, y2 in visible_regions(detections.xyxy, width, height):
            block = self.block or max(4, min(x2 - x1, y2 - y1) // 8)
            _pixelate(image[y1:y2, x1:x2], block)
        return image
