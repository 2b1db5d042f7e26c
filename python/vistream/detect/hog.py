"""``HOGPeopleDetector``: OpenCV's built-in HOG + linear SVM pedestrian detector (no download)."""

from __future__ import annotations

import numpy as np

from ..detections import Detections
from ..tunables import Tunable

#: Height of HOG's detection window (64x128 px); a person fills about 3/4 of it, the rest is margin.
WINDOW_HEIGHT = 128
PERSON_IN_WINDOW = 0.75


class HOGPeopleDetector:
    """Detects upright people with the Dalal-Triggs HOG detector OpenCV ships.

    Slower and weaker than a CNN, but needs no weights: the offline default for people.

    What sizes it finds: HOG's window is 64x128 pixels with the person about 96 px tall inside it,
    and the image pyramid only shrinks, so the smallest person found is about ``96 / factor`` px
    tall, where ``factor`` is the working scale: ``upscale``, capped so the working image is at
    most ``max_width`` wide. With the defaults (``upscale=2``, ``max_width=2560``) a 1280x720
    frame is worked on at 2560x1440: people from about **48 px** tall up to the frame's height
    are found (boxes include HOG's margin, so they are ~1.3x the person's height). A 1920 px
    frame is worked on at 1.33x (people from ~72 px), a 3840 px one at 2/3 (from ~144 px).
    ``upscale=1, max_width=960`` is the old behaviour: people under ~130 px tall in a 1280 px
    frame are missed (on the street-crowd test clip, where people are 40-100 px tall, it finds
    none; the defaults find 30-40 per frame).

    Cost (measured on a shared, loaded 2-core machine, 1280x720 frames, OpenCV 4.x): ~0.5 s per
    frame with the defaults, ~1.1 s with ``scale=1.05`` (finds ~40% more people), ~0.3 s with
    ``upscale=1, max_width=960``. For live use, run it with ``Pipeline(decoupled=True)`` or a
    cadence (``every_n_frames``).

    Args:
        scale: image pyramid step (smaller finds more sizes, slower).
        win_stride: sliding window stride in pixels of the working image.
        min_confidence: drop detections whose SVM margin is below this.
        max_width: the working image (after ``upscale``) is at most this wide; larger images are
            shrunk to it (speed). Boxes are mapped back to the input's pixels.
        nms_threshold: IoU above which overlapping boxes are merged.
        upscale: enlarge the image by this factor before detection so people smaller than HOG's
            window are found (see above); 1 disables it.

    Example::

        detect = HOGPeopleDetector()                 # people from ~48 px tall in a 1280 px frame
        people = detect(cv2.imread("crowd.jpg"))
    """

    #: live parameters (``Pipeline.set_tunable("detector", ...)``)
    tunables = (
        Tunable("min_confidence", 0.0, 3.0, 0.05, doc="smallest SVM margin kept"),
        Tunable("nms_threshold", 0.05, 1.0, 0.01, doc="IoU above which overlapping boxes are merged"),
    )

    def __init__(self, scale: float = 1.1, win_stride: int = 8, min_confidence: float = 0.3,
                 max_width: int = 2560, nms_threshold: float = 0.45, upscale: float = 2.0) -> None:
        import cv2

        if scale <= 1.0:
            raise ValueError("scale must be > 1")
        if win_stride < 1 or max_width < 64:
            raise ValueError("win_stride must be >= 1 and max_width >= 64")
        if not upscale >= 1.0:
            raise ValueError(f"upscale must be >= 1, got {upscale}")
        self._cv2 = cv2
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.scale = scale
        self.win_stride = win_stride
        self.min_confidence = min_confidence
        self.max_width = max_width
        self.nms_threshold = nms_threshold
        self.upscale = float(upscale)

    def working_scale(self, width: int) -> float:
        """The factor an image ``width`` px wide is resized by before detection."""
        return min(self.upscale, self.max_width / width)

    def smallest_person(self, width: int) -> float:
        """About the height in input pixels of the smallest person found in an image this wide."""
        return WINDOW_HEIGHT * PERSON_IN_WINDOW / self.working_scale(width)

    def __call__(self, image) -> Detections:
        cv2 = self._cv2
        array = np.ascontiguousarray(np.asarray(image))
        if array.ndim != 3 or array.dtype != np.uint8:
            raise ValueError("HOGPeopleDetector needs a uint8 BGR image")
        factor = self.working_scale(array.shape[1])
        if factor == 1.0:
            work = array
        else:
            # shrinking averages (no aliasing); enlarging interpolates smoothly (HOG needs gradients)
            interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
            work = cv2.resize(array, None, fx=factor, fy=factor, interpolation=interpolation)
        rects, weights = self._hog.detectMultiScale(work, winStride=(self.win_stride, self.win_stride),
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
