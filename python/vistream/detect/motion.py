"""``MotionDetector``: moving objects by background subtraction (OpenCV MOG2), no weights."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..detections import Detections
from ..tunables import Tunable


class MotionDetector:
    """Boxes around regions that move against a learned background.

    Works offline with no model download; a good default for fixed cameras. Each call updates
    the background model, so feed consecutive frames of one video.

    Args:
        min_area: smallest blob kept, as a fraction of the image area.
        history: frames the background model remembers.
        var_threshold: MOG2 sensitivity (lower = more sensitive).
        detect_shadows: mark shadows separately (they are not reported as motion).

    Example::

        detect = MotionDetector()
        for frame in vistream.Reader("street.mp4"):
            detections = detect(frame.array)
    """

    #: live parameters (``Pipeline.set_tunable("detector", ...)``)
    tunables = (
        Tunable("min_area", 0.0, 0.05, 0.0005, doc="smallest blob kept, fraction of the image area"),
        Tunable("var_threshold", 1.0, 400.0, 1.0, doc="background model sensitivity (higher: less motion)"),
    )

    def __init__(self, min_area: float = 0.0005, history: int = 200, var_threshold: float = 25.0,
                 detect_shadows: bool = True) -> None:
        import cv2

        if not 0 <= min_area < 1:
            raise ValueError("min_area is a fraction of the image area, in [0, 1)")
        if history < 1:
            raise ValueError("history must be >= 1")
        self._cv2 = cv2
        self.min_area = min_area
        self._subtractor = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=var_threshold,
                                                              detectShadows=detect_shadows)
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def __call__(self, image, *, frame_index: Optional[int] = None) -> Detections:
        cv2 = self._cv2
        array = np.asarray(image)
        if array.ndim not in (2, 3) or array.dtype != np.uint8:
            raise ValueError("MotionDetector needs a uint8 gray or BGR image")
        foreground = self._subtractor.apply(np.ascontiguousarray(array))
        # 255 = moving, 127 = shadow (dropped), 0 = background
        _, moving = cv2.threshold(foreground, 200, 255, cv2.THRESH_BINARY)
        moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, self._kernel)
        moving = cv2.dilate(moving, self._kernel, iterations=2)
        count, _, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
        min_pixels = self.min_area * moving.shape[0] * moving.shape[1]
        boxes, scores = [], []
        for label in range(1, count):
            x, y, w, h, area = stats[label]
            if area < min_pixels:
                continue
            boxes.append((x, y, x + w, y + h))
            scores.append(area / float(w * h))  # how filled the box is
        if not boxes:
            return Detections.empty()
        return Detections(xyxy=np.array(boxes, np.float32), confidence=np.array(scores, np.float32),
                          class_id=np.zeros(len(boxes), np.int64),
                          data={"class_name": np.array(["motion"] * len(boxes))})

    @property
    def var_threshold(self) -> float:
        """MOG2 sensitivity (lower = more sensitive); settable, it applies from the next frame."""
        return float(self._subtractor.getVarThreshold())

    @var_threshold.setter
    def var_threshold(self, value: float) -> None:
        self._subtractor.setVarThreshold(float(value))

    def reset(self) -> None:
        """Forgets the learned background (e.g. after a seek)."""
        self._subtractor.clear()
