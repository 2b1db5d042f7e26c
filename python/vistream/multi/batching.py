"""Batched detection: one detector call for the frames of many sources."""

from __future__ import annotations

from typing import Any, Callable, Dict, Hashable, List, Sequence

from ..detections import Detections


def detect_batch(detector: Any, frames: Sequence[Any]) -> List[Detections]:
    """Detections for each frame, in order: ``detector.batch(frames)`` when the detector has one
    (one call for the whole batch), else ``detector(frame.array)`` per frame.

    ``frames`` are ``MultiFrame`` objects (or anything with ``.array``, or plain images): the
    predictors' ``batch`` methods read ``.array`` themselves, so per-source detectors such as
    ``PerSourceDetector`` can look at ``.source`` too.
    """
    batch = getattr(detector, "batch", None)
    if callable(batch):
        results = list(batch(list(frames)))
        if len(results) != len(frames):
            raise ValueError(f"{type(detector).__name__}.batch() returned {len(results)} results "
                             f"for {len(frames)} frames")
        return results
    return [detector(getattr(frame, "array", frame)) for frame in frames]


class PerSourceDetector:
    """A batch detector for detectors that keep per-video state (``MotionDetector``'s background
    model, a temporal model): one detector per source, made by ``factory()`` when the source's
    first frame arrives, called for each frame of a batch in the batch's order.

    Example::

        multi = MultiPlayer(sources, detector=PerSourceDetector(MotionDetector))
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        if not callable(factory):
            raise TypeError("PerSourceDetector needs a factory: a class or a function with no arguments")
        self.factory = factory
        self.detectors: Dict[Hashable, Any] = {}
        #: batches seen (one ``batch`` call each)
        self.calls = 0

    def batch(self, frames: Sequence[Any]) -> List[Detections]:
        """Detections for each frame (each needs ``.source`` and ``.array``)."""
        self.calls += 1
        results = []
        for frame in frames:
            detector = self.detectors.get(frame.source)
            if detector is None:
                detector = self.detectors[frame.source] = self.factory()
            results.append(detector(frame.array))
        return results

    def __repr__(self) -> str:
        return f"PerSourceDetector({self.factory!r}, sources={len(self.detectors)})"
