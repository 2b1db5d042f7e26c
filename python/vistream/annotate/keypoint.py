"""``KeypointAnnotator``: pose keypoints and optional skeleton lines."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ..detections import Detections
from ._base import auto_thickness, check_inputs, check_size, cv2_canvas, scale_of
from .colors import color_for


class KeypointAnnotator:
    """Draws each detection's keypoints whose score is > 0, and skeleton lines between them.

    Args:
        radius: point radius; ``None`` scales it with the image size.
        skeleton: optional list of (i, j) keypoint index pairs joined by a line when both
            points have score > 0 (pairs beyond the number of keypoints are skipped).
        thickness: skeleton line width; ``None`` scales it with the image size.

    Example::

        KeypointAnnotator(skeleton=[(5, 7), (7, 9), (6, 8), (8, 10)]).annotate(frame, poses)
    """

    def __init__(self, radius: Optional[int] = None, skeleton: Optional[Sequence[Tuple[int, int]]] = None,
                 thickness: Optional[int] = None) -> None:
        self.radius = check_size("radius", radius)
        self.thickness = check_size("thickness", thickness)
        pairs = []
        if skeleton is not None:
            if isinstance(skeleton, (str, bytes)) or not isinstance(skeleton, (Sequence, np.ndarray)):
                raise TypeError("skeleton must be a list of (i, j) index pairs")
            for pair in skeleton:
                if isinstance(pair, (str, bytes)) or not isinstance(pair, (Sequence, np.ndarray)) or len(pair) != 2:
                    raise ValueError(f"skeleton entries must be (i, j) pairs, got {pair!r}")
                i = check_size("skeleton index", pair[0], allow_none=False, minimum=0)
                j = check_size("skeleton index", pair[1], allow_none=False, minimum=0)
                pairs.append((i, j))
        self.skeleton = pairs

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Draw the keypoints on ``image`` (in place) and return ``image``."""
        check_inputs(image, detections)
        if len(detections) == 0 or detections.keypoints is None:
            return image
        radius = self.radius or max(2, int(round(3 * scale_of(image))))
        thickness = self.thickness or auto_thickness(image)
        with cv2_canvas(image) as canvas:
            for n, points in enumerate(detections.keypoints):
                color = color_for(detections, n)
                visible = (points[:, 2] > 0) & np.isfinite(points[:, :2]).all(axis=1)
                xy = np.round(np.nan_to_num(points[:, :2])).astype(np.int64)
                for i, j in self.skeleton:
                    if i < len(points) and j < len(points) and visible[i] and visible[j]:
                        cv2.line(canvas, (int(xy[i, 0]), int(xy[i, 1])), (int(xy[j, 0]), int(xy[j, 1])),
                                 color, thickness, cv2.LINE_AA)
                for k in np.flatnonzero(visible):
                    cv2.circle(canvas, (int(xy[k, 0]), int(xy[k, 1])), radius, color, -1, cv2.LINE_AA)
        return image
