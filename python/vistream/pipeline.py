"""``Pipeline``: detector -> tracker -> annotators on every frame of a Player, with results
export and deterministic replay when the player seeks or steps backward."""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .detections import Detections
from .results import ResultsWriter

Detector = Callable[[np.ndarray], Detections]


class Pipeline:
    """The per-frame plugin chain, usable as a Player callback.

    Args:
        detector: ``detector(image) -> Detections`` (e.g. ``MotionDetector()``), or None.
        tracker: object with ``update(detections, frame=None)``, ``reset()``,
            ``state_dict()``, ``load_state_dict()`` (e.g. ``ByteTrack()``), or None.
        annotators: objects with ``annotate(image, detections)``, applied in order.
        every_n_frames: run the detector on every n-th frame only (the tracker still runs on
            every frame, with no detections in between: its Kalman filter carries the boxes).
        results: path of a results file (.jsonl, .txt MOTChallenge, .csv), or None.
        snapshot_every: keep a tracker snapshot every this many frames (for replay).
        max_snapshots: memory bound for snapshots (oldest dropped).

    Replay: when a frame's index is not the next one (seek or step), the tracker is restored
    from the nearest snapshot at or before it and fed the cached detections of the frames in
    between, so the ids shown match those of an uninterrupted forward run.

    Example::

        player = vistream.Player("street.mp4", output="tracked.mp4")
        pipeline = Pipeline(MotionDetector(), ByteTrack(frame_rate=player.info.fps),
                            [BoxAnnotator(), LabelAnnotator()], results="tracks.jsonl")
        player.on_frame(pipeline)
        player.run()
        pipeline.close()
    """

    def __init__(self, detector: Optional[Detector] = None, tracker=None, annotators: Sequence = (),
                 *, every_n_frames: int = 1, results: Optional[str] = None, snapshot_every: int = 30,
                 max_snapshots: int = 200) -> None:
        if every_n_frames < 1 or snapshot_every < 1 or max_snapshots < 1:
            raise ValueError("every_n_frames, snapshot_every and max_snapshots must be >= 1")
        if detector is not None and not callable(detector):
            raise TypeError("detector must be callable: detector(image) -> Detections")
        for annotator in annotators:
            if not hasattr(annotator, "annotate"):
                raise TypeError(f"{type(annotator).__name__} has no annotate(image, detections)")
        self.detector = detector
        self.tracker = tracker
        self.annotators = list(annotators)
        self.every_n_frames = every_n_frames
        self.snapshot_every = snapshot_every
        self.max_snapshots = max_snapshots
        self._results = ResultsWriter(results) if results else None
        self._written: set = set()                       # frame indices already exported
        self._detections: Dict[int, Detections] = {}     # detector output per frame index
        self._snapshots: "OrderedDict[int, dict]" = OrderedDict()  # tracker state *before* frame i
        self._last_index: Optional[int] = None
        self.last: Detections = Detections.empty()

    # -- per frame ----------------------------------------------------------------------
    def __call__(self, frame) -> None:
        """Player callback: detect, track, annotate ``frame.array`` in place, export."""
        index, image = frame.index, frame.array
        if self.tracker is not None and self._last_index is not None and index != self._last_index + 1:
            self._replay_to(index, image)
        detections = self._detect(index, image)
        tracked = self._track(index, detections, image)
        for annotator in self.annotators:
            annotator.annotate(image, tracked)
        if self._results is not None and index not in self._written:
            self._results.write(index, frame.time, tracked)
            self._written.add(index)
        self._last_index = index
        self.last = tracked

    def _detect(self, index: int, image: np.ndarray) -> Detections:
        if index in self._detections:
            return self._detections[index]  # revisited frame: same input as the first time
        if self.detector is None or index % self.every_n_frames:
            detections = Detections.empty()
        else:
            detections = self.detector(image)
        self._detections[index] = detections
        return detections

    def _track(self, index: int, detections: Detections, image: np.ndarray) -> Detections:
        if self.tracker is None:
            return detections
        if index % self.snapshot_every == 0 and index not in self._snapshots:
            self._snapshots[index] = copy.deepcopy(self.tracker.state_dict())
            while len(self._snapshots) > self.max_snapshots:
                self._snapshots.popitem(last=False)
        return self.tracker.update(detections, frame=image)

    def _replay_to(self, index: int, image: np.ndarray) -> None:
        """Restores the tracker to its state just before frame ``index``."""
        starts = [i for i in self._snapshots if i <= index]
        start = max(starts) if starts else None
        if start is None or any(i not in self._detections for i in range(start, index)):
            # No snapshot, or frames in between never seen (a jump forward): start afresh.
            self.tracker.reset()
            return
        self.tracker.load_state_dict(copy.deepcopy(self._snapshots[start]))
        for i in range(start, index):
            self.tracker.update(self._detections[i], frame=None)

    def close(self) -> None:
        """Finishes the results file."""
        if self._results is not None:
            self._results.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
