"""``Pipeline``: detector -> tracker -> analysis plugins -> annotators on every frame of a
Player, with per-step scheduling, results export and deterministic replay when the player
seeks or steps backward."""

from __future__ import annotations

import copy
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

import numpy as np

from .detections import Detections
from .results import ResultsWriter
from .schedule import Cadence, Schedule

Detector = Callable[[np.ndarray], Detections]


class Pipeline:
    """The per-frame plugin chain, usable as a Player callback.

    Args:
        detector: ``detector(image) -> Detections`` (e.g. ``MotionDetector()``), or None.
        tracker: object with ``update(detections, frame=None)``, ``reset()``,
            ``state_dict()``, ``load_state_dict()`` (e.g. ``ByteTrack()``), or None.
        annotators: objects with ``annotate(image, detections)``, applied in order.
        every_n_frames: run the detector only on frames whose index is a multiple of this.
        interval: run the detector only when at least this many seconds of media time
            (``frame.time``) have passed since its last run; the first frame always runs.
            With ``every_n_frames`` as well, both must hold. It is a minimum spacing, not a
            rate: at 25 fps, ``interval=0.1`` runs every 3rd frame (0.12 s apart).
        plugins: ``Schedule`` objects: analysis functions with their own cadence and frame
            history (see ``Schedule``); unique names.
        results: path of a results file (.jsonl, .txt MOTChallenge, .csv), or None.
        snapshot_every: keep a tracker snapshot every this many frames (for replay).
        max_snapshots: memory bound for snapshots (oldest dropped).

    Frames the detector skips: the tracker is *not* updated, and the frame's output
    (``pipeline.last``, what annotators draw and what is exported) is the tracked result of
    the last frame the detector ran on — sample and hold, as stream-infer shows an
    algorithm's latest result until it runs again, and as supervision users call the tracker
    only on the frames they detect on. Feeding the tracker empty detections instead would
    end every track (ByteTrack and IoUTracker only output tracks matched on the current
    frame, and ByteTrack confirms a new track only if it is matched again on the very next
    update, so with ``every_n_frames=3`` no track would ever appear). Consequently the
    tracker counts *detector runs*, not frames: give it the detector's rate, e.g.
    ``ByteTrack(frame_rate=fps / every_n_frames)``.

    Plugins run after tracking and before the annotators draw, on the un-annotated frame.
    Each one's latest return value is in ``pipeline.results[name]``; a ``.jsonl`` results
    file gets ``"plugins": {name: value}`` on each line with the values produced on that
    frame (None values are left out). MOTChallenge ``.txt`` and ``.csv`` have no place for
    them. Past frames for plugins with ``frame_count > 1`` are copies kept in one ring as
    long as the longest history needs; without such a plugin nothing is copied. A seek or
    step empties the ring: frames from elsewhere in the media are not the previous frames.

    Replay: when a frame's index is not the next one (seek or step), the tracker is restored
    from the nearest snapshot at or before it and fed the cached detections of the frames in
    between, so the ids shown match those of an uninterrupted forward run. Whether the
    detector (or a plugin) is due on a frame is decided from frame indices and media times,
    and remembered per frame, so replays make the same decisions as the first pass. For
    trackers that estimate camera motion from the image (BoT-SORT: ``last_warp``), the motion
    of every frame is remembered too and handed back (``update(..., warp=)``) on replay.

    Example::

        player = vistream.Player("street.mp4", output="tracked.mp4")
        fps = player.info.fps
        pipeline = Pipeline(MotionDetector(), ByteTrack(frame_rate=fps / 2),
                            [BoxAnnotator(), LabelAnnotator()], every_n_frames=2,
                            plugins=[vistream.Schedule(lambda frames, d: len(d), name="count",
                                                       interval=1.0)],
                            results="tracks.jsonl")
        player.on_frame(pipeline)
        player.run()
        pipeline.close()
        print(pipeline.results["count"])
    """

    def __init__(self, detector: Optional[Detector] = None, tracker=None, annotators: Sequence = (),
                 *, every_n_frames: int = 1, interval: Optional[float] = None,
                 plugins: Sequence[Schedule] = (), results: Optional[str] = None,
                 snapshot_every: int = 30, max_snapshots: int = 200) -> None:
        if snapshot_every < 1 or max_snapshots < 1:
            raise ValueError("Pipeline: snapshot_every and max_snapshots must be >= 1")
        if detector is not None and not callable(detector):
            raise TypeError("Pipeline: detector must be callable: detector(image) -> Detections")
        for annotator in annotators:
            if not hasattr(annotator, "annotate"):
                raise TypeError(f"Pipeline: {type(annotator).__name__} has no annotate(image, detections)")
        self._detector_cadence = Cadence(every_n_frames, interval, owner="Pipeline")
        self.plugins: List[Schedule] = self._check_plugins(plugins)
        self.detector = detector
        self.tracker = tracker
        self.annotators = list(annotators)
        self.snapshot_every = snapshot_every
        self.max_snapshots = max_snapshots
        self._results = ResultsWriter(results) if results else None
        self._written: set = set()                       # frame indices already exported
        # detector output per frame index; None where the detector did not run
        self._detections: Dict[int, Optional[Detections]] = {}
        # per snapshot frame i: tracker state and held output *before* frame i
        self._snapshots: "OrderedDict[int, dict]" = OrderedDict()
        self._last_index: Optional[int] = None
        self._held: Detections = Detections.empty()      # tracked output of the last detector run
        # camera motion per frame index, for trackers that estimate it (BoT-SORT's last_warp)
        self._tracker_takes_warp = tracker is not None and hasattr(tracker, "last_warp")
        self._warps: Dict[int, np.ndarray] = {}
        self._plugin_cadences = {p.name: Cadence(p.every_n_frames, p.interval, owner=f"Schedule {p.name!r}")
                                 for p in self.plugins}
        depth = max((p.history for p in self.plugins), default=1)
        # Copies only when some plugin looks back: frame views die with the callback.
        self._history: Optional[Deque[np.ndarray]] = deque(maxlen=depth) if depth > 1 else None
        self.results: Dict[str, Any] = {}                # plugin name -> latest value
        self.last: Detections = Detections.empty()

    @staticmethod
    def _check_plugins(plugins: Sequence[Schedule]) -> List[Schedule]:
        if isinstance(plugins, Schedule):
            plugins = [plugins]
        checked, names = [], set()
        for plugin in plugins:
            if not isinstance(plugin, Schedule):
                raise TypeError(f"Pipeline: plugins must be vistream.Schedule objects, got "
                                f"{type(plugin).__name__} (wrap it: Schedule(fn, name=...))")
            if plugin.name in names:
                raise ValueError(f"Pipeline: two plugins are named {plugin.name!r}; names key the "
                                 "results and must be unique")
            names.add(plugin.name)
            checked.append(plugin)
        return checked

    @property
    def every_n_frames(self) -> int:
        """Detector cadence: only frames whose index is a multiple of this."""
        return self._detector_cadence.every_n_frames

    @property
    def interval(self) -> Optional[float]:
        """Detector cadence: minimum media seconds between runs (None: no limit)."""
        return self._detector_cadence.interval

    @property
    def history_length(self) -> int:
        """How many frame copies are kept for plugins (0 when no plugin looks back)."""
        return 0 if self._history is None else len(self._history)

    # -- per frame ----------------------------------------------------------------------
    def __call__(self, frame) -> None:
        """Player callback: detect, track, run plugins, annotate ``frame.array`` in place, export."""
        index, time, image = frame.index, frame.time, frame.array
        if self._last_index is not None and index != self._last_index + 1:
            if self._history is not None:
                self._history.clear()
            self._restore(index)
        if self._history is not None:
            kept = image.copy()
            kept.flags.writeable = False  # shared by all plugins: one must not alter another's past
            self._history.append(kept)
        self._snapshot(index)
        detections = self._detect(index, time, image)
        if detections is not None:
            self._held = self._track(index, detections, image)
        tracked = self._held
        produced = self._run_plugins(index, time, image, tracked)
        for annotator in self.annotators:
            annotator.annotate(image, tracked)
        if self._results is not None and index not in self._written:
            plugins = {k: v for k, v in produced.items() if v is not None} if self.plugins else None
            self._results.write(index, time, tracked, plugins=plugins)
            self._written.add(index)
        self._last_index = index
        self.last = tracked

    def _detect(self, index: int, time: float, image: np.ndarray) -> Optional[Detections]:
        """This frame's detections, or None if the detector is not due on it."""
        if index in self._detections:
            return self._detections[index]  # revisited frame: same input as the first time
        if self.detector is None:
            detections: Optional[Detections] = Detections.empty()  # the tracker still sees every frame
        elif self._detector_cadence.due(index, time):
            detections = self.detector(image)
        else:
            detections = None
        self._detections[index] = detections
        return detections

    def _track(self, index: int, detections: Detections, image: np.ndarray) -> Detections:
        if self.tracker is None:
            return detections
        if not self._tracker_takes_warp:
            return self.tracker.update(detections, frame=image)
        # Camera-motion trackers (BoT-SORT): a revisited frame reuses the motion estimated the
        # first time, so the boxes match the forward run exactly; new frames estimate it.
        tracked = self.tracker.update(detections, frame=image, warp=self._warps.get(index))
        self._warps[index] = np.array(self.tracker.last_warp, np.float64)
        return tracked

    def _run_plugins(self, index: int, time: float, image: np.ndarray, tracked: Detections) -> Dict[str, Any]:
        """Runs the due plugins; returns {name: value} of those that ran."""
        produced: Dict[str, Any] = {}
        for plugin in self.plugins:
            if not self._plugin_cadences[plugin.name].due(index, time):
                continue
            frames = self._frames_for(plugin, image)
            if frames is None:
                continue  # not enough frames since the start or the last seek: skip, don't postpone
            value = plugin.fn(frames, tracked)
            self.results[plugin.name] = value
            produced[plugin.name] = value
        return produced

    def _frames_for(self, plugin: Schedule, image: np.ndarray) -> Optional[List[np.ndarray]]:
        if self._history is None:
            view = image.view()  # no plugin looks back: hand out the frame itself, read-only
            view.flags.writeable = False
            return [view]
        if len(self._history) < plugin.history:
            return None
        last = len(self._history) - 1
        return [self._history[last - k * plugin.frame_step] for k in reversed(range(plugin.frame_count))]

    # -- replay -------------------------------------------------------------------------
    def _snapshot(self, index: int) -> None:
        if self.tracker is None or index % self.snapshot_every or index in self._snapshots:
            return
        self._snapshots[index] = {"tracker": copy.deepcopy(self.tracker.state_dict()),
                                  "held": copy.deepcopy(self._held)}
        while len(self._snapshots) > self.max_snapshots:
            self._snapshots.popitem(last=False)

    def _restore(self, index: int) -> None:
        """Restores the tracker and the held output to their state just before frame ``index``."""
        if self.tracker is None:
            self._held = self._last_detected_before(index)
            return
        starts = [i for i in self._snapshots if i <= index]
        start = max(starts) if starts else None
        if start is None or any(i not in self._detections for i in range(start, index)):
            # No snapshot, or frames in between never seen (a jump forward): start afresh.
            self.tracker.reset()
            self._held = Detections.empty()
            return
        snapshot = copy.deepcopy(self._snapshots[start])
        self.tracker.load_state_dict(snapshot["tracker"])
        self._held = snapshot["held"]
        for i in range(start, index):
            if self._detections[i] is None:
                continue
            if self._tracker_takes_warp:
                self._held = self.tracker.update(self._detections[i], frame=None, warp=self._warps.get(i))
            else:
                self._held = self.tracker.update(self._detections[i], frame=None)

    def _last_detected_before(self, index: int) -> Detections:
        """Without a tracker: the detections of the last detector run before ``index`` on the
        chain of frames seen one after another (empty if that chain breaks first)."""
        i = index - 1
        while i in self._detections:
            if self._detections[i] is not None:
                return self._detections[i]
            i -= 1
        return Detections.empty()

    def close(self, error: Optional[BaseException] = None) -> Optional[Path]:
        """Finishes the results file; pass the exception that ended the run, if any (see
        ``ResultsWriter.close``: a failed run keeps an earlier file, an interrupted one is saved).

        Returns where the results are (None without a results file or when no frame was written).
        """
        if self._results is None:
            return None
        return self._results.close(error)

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.close(exc)
