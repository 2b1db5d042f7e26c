"""The Pipeline's classifier slot: a ``vistream.Classifier`` run per frame or per detected box.

``Pipeline(classifier=OnnxClassifier("resnet18.onnx"), classify="box")`` crops each tracked
detection out of the frame, classifies the crop and attaches the rows to the frame's detections
(``detections.classifications``: what ``LabelAnnotator`` draws as the top-1 name and the results
file writes per detection). ``classify="frame"`` classifies the whole frame instead: the result is
``pipeline.classifications`` and the ``"classifications"`` key of the frame's JSONL record.

Cadence (``classifier_every_n_frames``, ``classifier_interval``) works like the detector's: on frames
the classifier skips, its last result is held. Per box, a box keeps its track's last classification
(by ``tracker_id``); boxes without a tracker keep the rows only while the detections are the ones
that were classified (the detector's own sample and hold), else they carry none until the next run.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .classifications import Classifications
from .detections import Detections
from .protocols import Classifier, check_protocol
from .schedule import Cadence

__all__ = ["ClassifierSlot", "CLASSIFY_MODES"]

CLASSIFY_MODES = ("box", "frame")


class ClassifierSlot:
    """Runs a classifier on a pipeline's frames (see the module doc).

    Args:
        classifier: a ``vistream.Classifier`` (``classifier(image) -> Classifications``).
        per: "box" (each detection's crop) or "frame" (the whole frame).
        every_n_frames / interval: its cadence, as the Pipeline's detector cadence.
        window: how many frames the cadence remembers for replay.
    """

    def __init__(self, classifier: Any, per: str = "box", every_n_frames: int = 1,
                 interval: Optional[float] = None, window: int = 3000) -> None:
        check_protocol(classifier, Classifier, "classifier")
        if per not in CLASSIFY_MODES:
            raise ValueError(f"Pipeline: classify must be 'box' or 'frame', got {per!r}")
        self.classifier = classifier
        self.per = per
        self.cadence = Cadence(every_n_frames, interval, owner="Pipeline classifier", window=window)
        #: the last whole-frame result (per="frame")
        self.last: Optional[Classifications] = None
        self._by_track: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
        self._names: Optional[Dict[int, str]] = None
        self._classified: Optional[Tuple[Detections, Classifications]] = None  # per box, no tracker

    def _classify(self, image: np.ndarray) -> Classifications:
        result = self.classifier(image)
        if not isinstance(result, Classifications):
            raise TypeError(f"Pipeline: classifier {type(self.classifier).__name__!r} returned "
                            f"{type(result).__name__!r}; a vistream.Classifier returns vistream.Classifications")
        return result

    def __call__(self, index: int, time: float, image: np.ndarray, detections: Detections,
                 previous: Optional[int]) -> Tuple[Detections, Optional[Classifications]]:
        """The frame's detections (with per-box classifications attached, on a copy) and the frame's
        classification (per="frame"; None otherwise)."""
        due = self.cadence.due(index, time, previous)
        if self.per == "frame":
            if due:
                self.last = self._classify(image)
            return detections, self.last
        rows = self._classify_boxes(image, detections) if due else self._held_rows(detections)
        if rows is None:
            return detections, None
        attached = copy.copy(detections)  # the pipeline's held/tracked detections stay as they were
        attached.classifications = rows
        return attached, None

    def _classify_boxes(self, image: Any, detections: Detections) -> Classifications:
        height, width = image.shape[:2]
        results = []
        for x1, y1, x2, y2 in np.asarray(detections.xyxy, np.float64):
            left, top = int(np.clip(np.floor(x1), 0, width - 1)), int(np.clip(np.floor(y1), 0, height - 1))
            right = int(np.clip(np.ceil(x2), left + 1, width))
            bottom = int(np.clip(np.ceil(y2), top + 1, height))
            crop = image[top:bottom, left:right]
            # numpy crops are made contiguous for the preprocessing; a torch frame's stay on its device
            results.append(self._classify(np.ascontiguousarray(crop) if isinstance(crop, np.ndarray)
                                          else crop.contiguous()))
        if not results:
            return Classifications.empty(int(getattr(self.classifier, "top_k", 1) or 1))
        self._names = results[0].class_names
        rows = Classifications(np.concatenate([r.class_id for r in results]),
                               np.concatenate([r.confidence for r in results]), self._names)
        if detections.tracker_id is not None:
            for track, ids, scores in zip(detections.tracker_id.tolist(), rows.class_id, rows.confidence):
                self._by_track[int(track)] = (ids, scores)
        self._classified = (detections, rows)
        return rows

    def _held_rows(self, detections: Detections) -> Optional[Classifications]:
        if self._classified is not None and self._classified[0] is detections:
            return self._classified[1]
        if detections.tracker_id is None or not self._by_track:
            return None
        held = [self._by_track.get(int(track)) for track in detections.tracker_id.tolist()]
        if any(row is None for row in held):
            return None  # a new track: it gets its rows when the classifier runs next
        if not held:
            return Classifications.empty(next(iter(self._by_track.values()))[0].shape[0])
        return Classifications(np.stack([ids for ids, _ in held]), np.stack([s for _, s in held]), self._names)

    def reset(self) -> None:
        """Forgets held results (a new timeline)."""
        self.last = None
        self._by_track.clear()
        self._classified = None
