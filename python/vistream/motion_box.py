"""A tiny frame-differencing motion detector used by the demo (numpy only).

It marks where the picture changed since the previous frame: the box that encloses every
block whose mean absolute difference exceeds a threshold.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

Box = Tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels


class MotionBox:
    """Finds the bounding box of motion between consecutive frames.

    Example::

        detect = MotionBox(block=16, threshold=12.0)
        for frame in vistream.Reader("clip.mp4", format="gray"):
            box = detect(frame.array)
    """

    def __init__(self, block: int = 16, threshold: float = 12.0) -> None:
        if block < 1:
            raise ValueError("block must be >= 1")
        self.block = block
        self.threshold = threshold
        self._previous: Optional[np.ndarray] = None

    def _block_means(self, image: np.ndarray) -> np.ndarray:
        gray = image.mean(axis=2, dtype=np.float32) if image.ndim == 3 else image.astype(np.float32)
        b = self.block
        h, w = (gray.shape[0] // b) * b, (gray.shape[1] // b) * b
        return gray[:h, :w].reshape(h // b, b, w // b, b).mean(axis=(1, 3))

    def __call__(self, image: np.ndarray) -> Optional[Box]:
        means = self._block_means(image)
        previous, self._previous = self._previous, means
        if previous is None:
            return None
        rows, cols = np.nonzero(np.abs(means - previous) > self.threshold)
        if rows.size == 0:
            return None
        b = self.block
        return int(cols.min() * b), int(rows.min() * b), int((cols.max() + 1) * b), int((rows.max() + 1) * b)


def draw_box(image: np.ndarray, box: Box, color=(0, 0, 255), thickness: int = 4) -> None:
    """Draws a rectangle outline in place (BGR image)."""
    x1, y1, x2, y2 = box
    h, w = image.shape[:2]
    x1, x2 = max(0, x1), min(w, x2)
    y1, y2 = max(0, y1), min(h, y2)
    t = thickness
    image[y1:y1 + t, x1:x2] = color
    image[max(y1, y2 - t):y2, x1:x2] = color
    image[y1:y2, x1:x1 + t] = color
    image[y1:y2, max(x1, x2 - t):x2] = color
