"""``HOGPeopleDetector``: OpenCV's built-in HOG + linear SVM pedestrian detector (no download)."""

from __future__ import annotations

import numpy as np

from ..detections import Detections


class HOGPeopleDetector:
    """Detects upright people with the Dalal-Triggs HOG detector OpenCV ships.

    Slower and weaker than a CNN, but needs no weights: the offline default for people.

    Args:
        scale: image pyramid step.
        win_stride: sliding window stride in pixels.
        min_confidence: drop detections whose SVM margin is below this.
        max_width: images wider than this are downscaled first (speed), boxes are mapped back.
        nms_threshold: IoU above which overlapping boxes are merged.

    Example::

        detect = HOGPeopleDetector()
        people = detect(cv2.imread("crowd.jpg"))
    """

    def __init__(self, scale: float = 1.05, win_stride: int = 8, min_confidence: float = 0.3,
                 max_width: int = 960, nms_threshold: float = 0.45) -> None:
        import cv2

        if scale <= 1.0:
            raise ValueError("scale must be > 1")
        if win_stride < 1 or max_width < 64:
            raise ValueError("win_stride must be >= 1 and max_width >= 64")
        self._cv2 = cv2
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.scale = scale
        self.win_stride = win_stride
        self.min_confidence = min_confidence
        self.max_width = max_width
        self.nms_threshold = nms_threshold

    def __call__(self, image) -> Detections:
        cv2 = self._cv2
        array = np.ascontiguousarray(np.asarray(image))
        if array.ndim != 3 or array.dtype != np.uint8:
            raise ValueError("HOGPeopleDetector needs a uint8 BGR image")
        factor = min(1.0, self.max_width / array.shape[1])
        small = cv2.resize(array, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA) if factor < 1 else array
        rects, weights = self._hog.detectMultiScale(small, winStride=(self.win_stride, self.win_stride),
                                                    padding=(8, 8), scale=self.scale)
        if len(rects) == 0:
            return Detections.empty()
        rects = np.asarray(rects, np.float32).reshape(-1, 4)
        weights = np.asarray(weights, np.float32).reshape(-1)
        keep = cv2.dnn.NMSBoxes(rects.tolist(), weights.tolist(), self.min_confidence, self.nms_threshold)
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        if keep.size == 0:
            return Detections.empty()
        rects, weights = rects[keep] / factor, weights[keep]
        xyxy = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        # SVM margins are unbounded; map them to (0, 1) so thresholds compare across detectors.
        confidence = 1.0 / (1.0 + np.exp(-weights))
        return Detections(xyxy=xyxy, confidence=confidence.astype(np.float32),
                          class_id=np.zeros(len(xyxy), np.int64), data={"class_name": np.array(["person"] * len(xyxy))})
