"""``Pipeline``: detector -> tracker -> analysis plugins -> annotators on every frame of a
Player, with per-step scheduling, results export and deterministic replay when the player
seeks or steps backward."""

from __future__ import annotations

import bisect
import copy
import inspect
import threading
import warnings
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, Callable, Deque, Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from . import tunables as _tunables
from .classifications import Classifications
from .dashboard import DashboardBuilder, DashboardSnapshot, StageClock
from .classifier_slot import ClassifierSlot
from .decoupled import DecoupledTracking
from .detections import Detections
from .protocols import Annotator, Classifier, Detector, Tracker, check_protocol
from .embedded_results import ResultsRecorder
from .results import ResultsWriter
from .schedule import DEFAULT_REPLAY_WINDOW, Cadence, Schedule, _check_positive_int
from .errors import UnknownTunableError
from .stats import DecoupledStats, StageTimings
from .sinks.base import Sink
from .sinks.dispatch import ResultDispatcher
from .sinks.history import ResultHistory
from .tunables import Tunable, TunableValue


class _FrameRecord:
    """What the pipeline did on a frame the first time it saw it (replayed on revisits)."""

    __slots__ = ("time", "previous", "detections", "warp", "steps")

    def __init__(self, time: float, previous: Optional[int]) -> None:
        self.time = time
        # the frame played just before it on its timeline (None: a timeline started here);
        # frames dropped in real time lie between the two
        self.previous = previous
        self.detections: Optional[Detections] = None  # None: the detector did not run
        self.warp: Optional[np.ndarray] = None         # camera motion (BoT-SORT's last_warp)
        self.steps = 1                                 # frames_elapsed given to the tracker


class _IndexRanges:
    """A set of frame indices stored as sorted, disjoint [start, end] ranges: a forward run is
    one range whatever its length, so the memory grows with the number of seeks, not frames."""

    def __init__(self) -> None:
        self._starts: List[int] = []
        self._ends: List[int] = []

    def __contains__(self, index: int) -> bool:
        i = bisect.bisect_right(self._starts, index) - 1
        return i >= 0 and index <= self._ends[i]

    def __len__(self) -> int:
        return len(self._starts)

    def add(self, index: int, previous: Optional[int] = None) -> None:
        """Adds ``index``; with ``previous`` (the frame played before it, on the same timeline),
        the frames between the two (dropped in real time) are covered too."""
        start = previous + 1 if previous is not None and previous in self and previous < index else index
        i = bisect.bisect_left(self._ends, start - 1)  # first range that can touch [start, index]
        j = i
        while j < len(self._starts) and self._starts[j] <= index + 1:
            start, index = min(start, self._starts[j]), max(index, self._ends[j])
            j += 1
        self._starts[i:j] = [start]
        self._ends[i:j] = [index]


#: What a plugin that does not say (no ``accepts`` attribute) takes: numpy images.
NUMPY_ONLY: FrozenSet[str] = frozenset({"numpy"})


def image_kinds(plugin: Any) -> FrozenSet[str]:
    """The image types a plugin takes: its ``accepts`` attribute (a set of "numpy" and/or
    "torch"), else numpy only. A ``Schedule`` may say it itself or through its function."""
    kinds = getattr(plugin, "accepts", None)
    if kinds is None and isinstance(plugin, Schedule):
        kinds = getattr(plugin.fn, "accepts", None)
    if kinds is None:
        return NUMPY_ONLY
    kinds = frozenset(kinds)
    if not kinds or not kinds <= {"numpy", "torch"}:
        raise ValueError(f"Pipeline: {type(plugin).__name__}.accepts must hold 'numpy' and/or 'torch', "
                         f"got {sorted(kinds)}")
    return kinds


@dataclass(frozen=True)
class PipelineTransfers:
    """How the Pipeline handed frames to its plugins (``pipeline.transfers``): "zero copy" measured.

    A device frame (or any frame with ``tensors=True``) is handed to torch-capable plugins as the
    frame's own tensor; a plugin that takes numpy only gets a host copy, made at most once per frame
    and shared by every such plugin (``host_copies``). When a numpy annotator drew on that copy, it
    is copied back to the device before a torch plugin or the encoder sees the frame
    (``host_uploads``). CPU tensors and numpy arrays share memory: no copies, ever.
    """

    #: frames the pipeline processed
    frames: int = 0
    #: of those, frames handed to the plugins as torch tensors
    tensor_frames: int = 0
    #: full-frame device-to-host copies for numpy-only plugins, and their bytes
    host_copies: int = 0
    host_copy_bytes: int = 0
    #: full-frame host-to-device copies of what numpy annotators drew, and their bytes
    host_uploads: int = 0
    host_upload_bytes: int = 0


class _FrameImage:
    """One frame's pixels in the forms its plugins take, made once per frame.

    The frame's own memory is either a numpy view (host frames) or a torch tensor (device frames,
    or ``tensors=True``). The other form is derived on demand: on the CPU it shares the memory; for a
    device tensor it is one host copy, kept coherent with the tensor (``read``/``write`` say what a
    plugin does with it; ``finish`` returns numpy edits to the device).
    """

    __slots__ = ("_array", "_tensor", "_host_valid", "_host_edited", "_counts")

    def __init__(self, counts: Dict[str, int], array: Optional[np.ndarray] = None, tensor: Any = None) -> None:
        self._array = array
        self._tensor = tensor
        self._counts = counts
        # a device tensor's host copy: present and up to date / edited since the download
        self._host_valid = tensor is None or tensor.device.type == "cpu"
        self._host_edited = False

    @classmethod
    def of(cls, frame, tensors: Optional[bool], counts: Dict[str, int]) -> "_FrameImage":
        device = getattr(frame, "device", "cpu")
        on_device = isinstance(device, str) and device != "cpu"
        counts["frames"] += 1
        if not (on_device or tensors):
            return cls(counts, array=frame.array)
        import torch

        # the frame's own memory: a device frame's BGR view on its GPU, a host frame's pixels
        tensor = torch.from_dlpack(frame) if hasattr(frame, "__dlpack__") else torch.from_numpy(frame.array)
        counts["tensor_frames"] += 1
        return cls(counts, array=tensor.numpy() if tensor.device.type == "cpu" else None, tensor=tensor)

    @property
    def is_tensor(self) -> bool:
        return self._tensor is not None

    def read(self, kinds: FrozenSet[str]) -> Any:
        """The image for a plugin that only looks at it."""
        return self._numpy() if self._wants_numpy(kinds) else self._torch()

    def write(self, kinds: FrozenSet[str]) -> Any:
        """The image for a plugin that draws on it in place (an annotator)."""
        if self._wants_numpy(kinds):
            image = self._numpy()
            self._host_edited = self._tensor is not None and self._tensor.device.type != "cpu"
            return image
        image = self._torch()
        if self._tensor is not None and self._tensor.device.type != "cpu":
            self._host_valid = False  # drawn on the device: the host copy is out of date
        return image

    def finish(self) -> None:
        """Returns what numpy annotators drew on the host copy to the device frame."""
        if self._host_edited:
            self._upload()

    def _wants_numpy(self, kinds: FrozenSet[str]) -> bool:
        # the frame's own form when the plugin takes it; otherwise the one it takes
        if self._tensor is not None:
            return "torch" not in kinds
        return "numpy" in kinds

    def _numpy(self) -> np.ndarray:
        if not self._host_valid:
            host = self._tensor.cpu().numpy()  # the one download, shared by the numpy plugins after it
            self._counts["host_copies"] += 1
            self._counts["host_copy_bytes"] += host.nbytes
            self._array, self._host_valid = host, True
        return self._array

    def _torch(self) -> Any:
        if self._tensor is None:
            import torch

            self._tensor = torch.from_numpy(self._array)  # shares the frame's memory
        elif self._host_edited:
            self._upload()
        return self._tensor

    def _upload(self) -> None:
        import torch

        self._tensor.copy_(torch.from_numpy(self._array))
        self._counts["host_uploads"] += 1
        self._counts["host_upload_bytes"] += self._array.nbytes
        self._host_edited = False


class Pipeline:
    """The per-frame plugin chain, usable as a Player callback.

    Args:
        detector: a ``vistream.Detector`` (or ``Segmenter``/``PoseEstimator``):
            ``detector(image) -> Detections`` (e.g. ``MotionDetector()``), or None. A detector
            returning an (N, 5) ``[x1, y1, x2, y2, score]`` / (N, 6) ``[..., class_id]`` array
            is accepted too (converted with ``Detections.from_array``).
        tracker: a ``vistream.Tracker``: ``update(detections, frame=None)``, ``reset()``,
            ``state_dict()``, ``load_state_dict()`` (e.g. ``ByteTrack()``), or None.
        annotators: ``vistream.Annotator`` objects (``annotate(image, detections)``), applied in
            order. A plugin that does not satisfy its protocol raises a TypeError naming it.
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
        replay_window: how many frames the pipeline remembers for replay (detections,
            camera motion, cadence decisions, snapshots): the most recently first-seen ones.
            Memory is bounded by it whatever the length of the stream (default 3000 frames,
            100 s at 30 fps).
        tensors: None (default): frames in GPU memory (``frame.device`` "cuda:N") go to the
            plugins as torch tensors, host frames as numpy arrays; True: every frame as a
            tensor (``torch.from_dlpack(frame)``, sharing the frame's memory: on the CPU this
            is the device path without a device); False: numpy for every plugin that takes it.
        embed_results: keep the results records (exactly the ``.jsonl`` lines, in a temporary
            file) and embed them into the finished video given to ``close(video=...)``: a
            subtitle track of labels and ids and the full records (see
            ``vistream.embedded_results``; read them back with ``vistream.read_results``).
        classifier: a ``vistream.Classifier`` run after tracking, ``classify="box"`` on each
            detection's crop (``detections.classifications``, drawn by ``LabelAnnotator`` as the
            top-1 name) or ``"frame"`` on the whole frame (``pipeline.classifications`` and the
            JSONL record's ``"classifications"``), with its own cadence
            (``classifier_every_n_frames``, ``classifier_interval``; held in between). See
            ``vistream.classifier_slot``.
        decoupled: a realtime Player's callback never waits for the detector: it runs on a worker
            thread (True or ``"thread"``) or, for a GIL-bound detector, in a spawned worker
            process (``"process"``: the detector must pickle; frames go through shared memory),
            on the newest frame (frames arriving while it is busy are not queued), its
            results are tracked as they come, and every frame shows the latest tracks moved
            forward to it by the tracker's motion model (``predicted_at``). The tracker counts
            frames (give it the stream's frame rate). ``decoupled_stats`` and the ``.jsonl``
            records (``"inference"``) say how far behind the results were. A seek, step or loop
            drops results computed before it and restarts the tracks (no replay). Realtime only:
            frames of a Reader (no ``serial``) or of a Player in offline mode are processed
            synchronously, exactly as without it (one warning says so). See docs/api.md.
        sinks: ``vistream.sinks.Sink`` objects (or plain callables, wrapped in ``CallableSink``)
            that get every frame's results record, the line the ``.jsonl`` file has for it:
            ``JsonlSink``, ``CsvSink``, ``CallableSink``, ``WebhookSink``, ``MqttSink``, your
            own. A failing sink is logged and counted (``sink.stats``), never raised; ``close()``
            flushes them (each within its ``close_timeout``). See docs/sinks.md.
        history: the window of ``pipeline.history`` (a ``ResultHistory``: ``history[name]`` is
            ``{media time: value}`` for ``"detections"`` and each plugin); default
            ``ResultHistory()``: 300 entries per name (10 s at 30 fps) within 60 s of the current frame.

    Tensors or numpy: each plugin says what it takes in an ``accepts`` attribute, a set of
    "numpy" and/or "torch" (``YOLOX``: both; ``TorchBoxAnnotator``: "torch"); without one it
    takes numpy. A tensor frame goes as is to every plugin that takes torch (a CUDA frame stays
    on the GPU); plugins that take only numpy share one host copy per frame, and what numpy
    annotators draw on it is copied back. ``pipeline.transfers`` counts those copies.

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

    Discontinuities and gaps: a Player's frames carry their timeline generation
    (``frame.serial``) and ``frame.discontinuity`` (True on the first frame after a seek, a
    backward step or a loop restart). Only a discontinuity replays the tracker (below), except
    the one a live source's reconnect starts (``frame.reconnected``): that is a gap. A gap
    in indices without one is frames the player dropped in real time (the callback was slower
    than the stream): the tracker is told how many frames passed (``frames_elapsed``, so
    ByteTrack/BoT-SORT predict across the gap and keep their ids) and ``interval`` counts
    media time across it. Frames without a serial (Reader frames, your own objects with
    ``index``/``time``/``array``) fall back to index continuity: any frame that is not the
    next index is a discontinuity.

    Replay: on a discontinuity, the tracker is restored from the nearest snapshot on the chain
    of frames that led to this frame on the first pass and fed the cached detections of the
    frames in between, so the ids shown match those of an uninterrupted forward run. Whether
    the detector (or a plugin) is due on a frame is decided from frame indices and media
    times, and remembered per frame, so replays make the same decisions as the first pass. For
    trackers that estimate camera motion from the image (BoT-SORT: ``last_warp``), the motion
    of every frame is remembered too and handed back (``update(..., warp=)``) on replay.

    Memory: what replay needs is kept for the last ``replay_window`` frames first seen (and
    at most ``max_snapshots`` snapshots), so a live stream runs for hours in constant memory.
    A replay that reaches further back than the window cannot be reproduced: the tracker
    starts afresh at the frame sought to and the detector runs again on revisited frames it
    no longer remembers. Exported frames are remembered as index ranges (one per seek), so a
    frame is written to the results file once; frames dropped in real time count as exported.

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

    def __init__(self, detector: Optional[Detector] = None, tracker: Optional[Tracker] = None,
                 annotators: Sequence[Annotator] = (),
                 *, every_n_frames: int = 1, interval: Optional[float] = None,
                 plugins: Sequence[Schedule] = (), results: Optional[str] = None,
                 snapshot_every: int = 30, max_snapshots: int = 200,
                 replay_window: int = DEFAULT_REPLAY_WINDOW, tensors: Optional[bool] = None,
                 embed_results: bool = False, classifier: Optional[Classifier] = None, classify: str = "box",
                 classifier_every_n_frames: int = 1, classifier_interval: Optional[float] = None,
                 decoupled: "bool | str" = False, sinks: Sequence["Sink | Callable"] = (),
                 history: Optional[ResultHistory] = None) -> None:
        if snapshot_every < 1 or max_snapshots < 1:
            raise ValueError("Pipeline: snapshot_every and max_snapshots must be >= 1")
        self.replay_window = _check_positive_int(replay_window, "replay_window", "Pipeline")
        if detector is not None:
            check_protocol(detector, Detector, "detector")
        if tracker is not None:
            check_protocol(tracker, Tracker, "tracker")
        for annotator in annotators:
            check_protocol(annotator, Annotator, "annotator")
        self._detector_cadence = Cadence(every_n_frames, interval, owner="Pipeline", window=self.replay_window)
        self.plugins: List[Schedule] = self._check_plugins(plugins)
        self.detector = detector
        self.tracker = tracker
        self.annotators = list(annotators)
        self.snapshot_every = snapshot_every
        self.max_snapshots = max_snapshots
        self._results = ResultsWriter(results) if results else None
        self._embedded = ResultsRecorder() if embed_results else None
        #: the videos ``close(video=...)`` embedded the results into
        self.embedded: List[Path] = []
        self._written = _IndexRanges()                    # frame indices already exported
        # per frame index, first visit: what was done (bounded by replay_window, oldest out)
        self._records: "OrderedDict[int, _FrameRecord]" = OrderedDict()
        # per snapshot frame i: tracker state, held output and last detector run *before* frame i
        self._snapshots: "OrderedDict[int, dict]" = OrderedDict()
        self._last_index: Optional[int] = None
        self._last_time: Optional[float] = None
        self._last_serial: Optional[int] = None
        self._frame_duration: Optional[float] = None      # media seconds between consecutive frames
        self._held: Detections = Detections.empty()      # tracked output of the last detector run
        self._last_run: Optional[Tuple[int, float]] = None  # (index, time) of the last detector run
        # trackers that estimate camera motion (BoT-SORT's last_warp) get it back on replay
        self._tracker_takes_warp = tracker is not None and hasattr(tracker, "last_warp")
        self._tracker_takes_gap = tracker is not None and _accepts(tracker.update, "frames_elapsed")
        self._plugin_cadences = {p.name: Cadence(p.every_n_frames, p.interval, owner=f"Schedule {p.name!r}",
                                                 window=self.replay_window)
                                 for p in self.plugins}
        depth = max((p.history for p in self.plugins), default=1)
        # Copies only when some plugin looks back: frame views die with the callback.
        self._history: Optional[Deque[np.ndarray]] = deque(maxlen=depth) if depth > 1 else None
        self.results: Dict[str, Any] = {}                # plugin name -> latest value
        self._outputs = ResultDispatcher(sinks, history, [p.name for p in self.plugins])
        self.sinks: List[Sink] = self._outputs.sinks      # their counters: sink.stats
        self.history: ResultHistory = self._outputs.history  # {name: {media time: value}}, bounded
        self.last: Detections = Detections.empty()
        self._setup_image_kinds(tensors)
        self.classifier = classifier
        self._classifier_slot = None if classifier is None else ClassifierSlot(
            classifier, classify, classifier_every_n_frames, classifier_interval, self.replay_window)
        #: the classifier's latest whole-frame result (``classify="frame"``)
        self.classifications: Optional[Classifications] = None
        self._decoupled = self._setup_decoupled(decoupled)
        self._setup_live()

    def _setup_image_kinds(self, tensors: Optional[bool]) -> None:
        if tensors not in (None, True, False):
            raise TypeError(f"Pipeline: tensors must be None, True or False, got {tensors!r}")
        self.tensors = tensors

        def takes(plugin) -> FrozenSet[str]:
            kinds = image_kinds(plugin)
            return NUMPY_ONLY if tensors is False and "numpy" in kinds else kinds

        self._detector_takes = takes(self.detector) if self.detector is not None else NUMPY_ONLY
        self._tracker_takes = takes(self.tracker) if self.tracker is not None else NUMPY_ONLY
        self._annotator_takes = [takes(annotator) for annotator in self.annotators]
        self._plugin_takes = {plugin.name: takes(plugin) for plugin in self.plugins}
        # one form for the history ring: tensors only when every plugin takes them
        self._history_takes = frozenset({"torch"}) if self.plugins and all(
            "torch" in kinds for kinds in self._plugin_takes.values()) else NUMPY_ONLY
        self._transfer_counts: Dict[str, int] = dict.fromkeys(
            ("frames", "tensor_frames", "host_copies", "host_copy_bytes", "host_uploads", "host_upload_bytes"), 0)

    @property
    def transfers(self) -> PipelineTransfers:
        """Frames handed over as tensors and the full-frame host copies that cost (see
        ``PipelineTransfers``); all copy counts stay 0 when every plugin takes torch.

        Example::

            pipeline.transfers.host_copies   # 0: YOLOX, ByteTrack and torch annotators on device
        """
        return PipelineTransfers(**self._transfer_counts)

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
        started = perf_counter()  # the results' processing_ms: what this frame cost the pipeline
        self._apply_pending()  # live parameter changes: between frames, never during one
        clock = self._clock
        index, time = frame.index, frame.time
        image = _FrameImage.of(frame, self.tensors, self._transfer_counts)
        decoupled = self._decoupled is not None and self._decoupled_applies(frame)
        record = self._records.get(index)
        if self._starts_timeline(frame):
            if self._history is not None:
                self._history.clear()
            if record is not None:
                previous = record.previous
            else:
                previous = index - 1 if index - 1 in self._records else None
            if decoupled and self._last_index is not None:
                self._decoupled.new_timeline()
            elif self._last_index is not None:  # the very first frame keeps the tracker as given
                self._restore(index, previous)
            continuing = False
        else:
            previous = self._last_index
            continuing = True
            if index == previous + 1:
                if time > self._last_time:
                    self._frame_duration = time - self._last_time
            elif self._history is not None:
                self._history.clear()  # frames dropped: the ring would not hold the frames before
        if self._history is not None:
            kept = image.read(self._history_takes)
            if isinstance(kept, np.ndarray):
                kept = kept.copy()
                kept.flags.writeable = False  # shared by all plugins: one must not alter another's past
            else:
                kept = kept.clone()  # on the frame's device
            self._history.append(kept)
        first_visit = record is None and not decoupled
        if first_visit:
            record = _FrameRecord(time, previous)
            self._snapshot(index, previous)
            self._remember(index, record)
            stage = perf_counter()
            record.detections = self._detect(index, time, image, previous)
            if record.detections is not None and self.detector is not None:
                clock.add("detect", (perf_counter() - stage) * 1000.0)
        detections = None if decoupled else record.detections
        if detections is not None:
            if first_visit:
                record.steps = self._tracker_steps(index, time)
            stage = perf_counter()
            self._held = self._track(record, detections, image.read(self._tracker_takes))
            if self.tracker is not None:
                clock.add("track", (perf_counter() - stage) * 1000.0)
            self._last_run = (index, time)
        if decoupled:
            stage = perf_counter()
            tracked = self._decoupled_step(index, time, image, previous)
            clock.add("detect", (perf_counter() - stage) * 1000.0)
        else:
            tracked = self._held
        frame_classes = None
        if self._classifier_slot is not None:
            stage = perf_counter()
            tracked, frame_classes = self._classifier_slot(
                index, time, image.read(image_kinds(self.classifier)), tracked, previous)
            self.classifications = frame_classes
            clock.add("classify", (perf_counter() - stage) * 1000.0)
        produced = self._run_plugins(index, time, image, tracked, previous)
        self._outputs.remember(time, tracked, produced)
        stage = perf_counter()
        for annotator, kinds in zip(self.annotators, self._annotator_takes):
            annotator.annotate(image.write(kinds), tracked)
        self._draw_highlight(image, tracked)
        image.finish()
        clock.add("annotate", (perf_counter() - stage) * 1000.0)
        if (self._results is not None or self._embedded is not None or self._outputs.active) \
                and index not in self._written:
            plugins = {k: v for k, v in produced.items() if v is not None} if self.plugins else None
            processing_ms = (perf_counter() - started) * 1000.0
            # the keys only when a frame classifier ran / in decoupled mode: writers without them keep working
            fields: Dict[str, Any] = {"classifications": frame_classes} if frame_classes is not None else {}
            if decoupled:
                fields["extra"] = {"inference": self._decoupled.last_record}
            for writer in (self._results, self._embedded):
                if writer is not None:
                    writer.write(index, time, tracked, plugins=plugins, processing_ms=processing_ms, **fields)
            self._outputs.emit(index, time, tracked, plugins, processing_ms, **fields)
        self._written.add(index, previous if continuing else None)
        self._last_index = index
        self._last_time = time
        self._last_serial = getattr(frame, "serial", None)
        self.last = tracked
        clock.frames += 1
        clock.add("total", (perf_counter() - started) * 1000.0)
        timings = clock.timings()
        self._timings = timings
        self._dashboard.publish(index, time, self._last_serial, tracked, timings, self._highlighter.track_id)

    # -- live parameters, highlight, timings, dashboard (docs/api.md) ------------------------
    #: the pipeline's own live parameters (plugin ``"pipeline"``)
    PIPELINE_TUNABLES: Tuple[Tunable, ...] = (
        Tunable("every_n_frames", 1, 30, 1, "int", "run the detector on every n-th frame"),
    )
    # changes to these invalidate what the pipeline remembers for replay (cached detections,
    # tracker snapshots that carry the old configuration)
    _REPLAYED_PLUGINS = frozenset({"detector", "tracker", "classifier", "pipeline"})

    def _setup_live(self) -> None:
        # Any thread queues a change under _live_lock; the pipeline's thread swaps the queue out at
        # the start of a frame and applies it: no other thread ever touches a plugin.
        self._live_lock = threading.Lock()
        self._pending: Dict[Tuple[str, str], Any] = {}   # protected by _live_lock
        # detector changes of decoupled=True: applied by the thread that runs the detector, just
        # before its next run (protected by _live_lock)
        self._pending_detector: Dict[str, Any] = {}
        self._highlight_request: Optional[int] = None    # any thread writes it (one assignment)
        # imported here: the annotate package needs OpenCV, which `import vistream` must not
        from .annotate.highlight import HighlightAnnotator

        self._highlighter = HighlightAnnotator()          # pipeline thread only
        self._clock = StageClock()                        # pipeline thread only
        self._timings = StageTimings()                    # published by one assignment
        decoupled_stats = None if self._decoupled is None else (lambda: self._decoupled.stats)
        self._dashboard = DashboardBuilder(self.plugins, self.sinks, decoupled_stats)  # pipeline thread only
        # {(plugin key, name): value} read on the pipeline's thread (here, then at each frame's
        # start) and published by assignment: tunables() on another thread never reads a plugin
        self._live_values: Dict[Tuple[str, str], Any] = {}
        # decoupled=True: the detector's values, read by the thread that runs it (published by assignment)
        self._detector_values: Dict[Tuple[str, str], Any] = {}
        if self._decoupled is not None and not self._detector_in_process():
            self._detector_values = self._values_of("detector", self.detector)
        self._read_live_values()

    def _live_owners(self) -> Dict[str, Any]:
        """{plugin key: object declaring tunables} (the pipeline itself is handled apart)."""
        owners: Dict[str, Any] = {}
        if self.detector is not None and not self._detector_in_process():
            owners["detector"] = self.detector
        if self.tracker is not None:
            owners["tracker"] = self.tracker
        if self.classifier is not None:
            owners["classifier"] = self.classifier
        for plugin in self.plugins:
            # a Schedule named like a reserved key gets its own: "schedule:<name>"
            key = plugin.name if plugin.name not in ("detector", "tracker", "classifier", "pipeline") \
                and not plugin.name.startswith("annotator:") else f"schedule:{plugin.name}"
            owners[key] = plugin.fn if _tunables.declared(plugin.fn) else plugin
        for i, annotator in enumerate(self.annotators):
            owners[f"annotator:{i}"] = annotator
        return {key: owner for key, owner in owners.items() if _tunables.declared(owner)}

    def _detector_in_process(self) -> bool:
        from .decoupled import InferenceWorker

        return self._decoupled is not None and not isinstance(self._decoupled.worker, InferenceWorker)

    def _find_tunable(self, plugin: str, name: str) -> Tunable:
        if plugin == "pipeline":
            return self._pipeline_tunable(name)
        owners = self._live_owners()
        owner = owners.get(plugin)
        if owner is None:
            if plugin == "detector" and self._detector_in_process():
                raise UnknownTunableError("'detector' runs in a worker process (decoupled=\"process\"): its "
                                          "parameters cannot change while it runs")
            known = ", ".join(["pipeline", *owners]) or "none"
            raise UnknownTunableError(f"the pipeline has no plugin {plugin!r} with tunables (it has: {known})")
        return _tunables.find(owner, plugin, name)

    def _pipeline_tunable(self, name: str) -> Tunable:
        for tunable in self.PIPELINE_TUNABLES:
            if tunable.name == name:
                return tunable
        names = ", ".join(t.name for t in self.PIPELINE_TUNABLES)
        raise UnknownTunableError(f"'pipeline' has no tunable {name!r} (it has: {names})")

    def tunables(self) -> List[TunableValue]:
        """Every live parameter of the pipeline and its plugins, with its value (a change queued
        by ``set_tunable`` included). Safe to call from any thread.

        Example::

            for t in pipeline.tunables():
                print(t.plugin, t.name, t.value, t.minimum, t.maximum)
        """
        with self._live_lock:
            pending = dict(self._pending)
            pending.update({("detector", name): value for name, value in self._pending_detector.items()})
        found: List[TunableValue] = []

        def add(key: str, tunable: Tunable, value: Any) -> None:
            value = pending.get((key, tunable.name), value)
            found.append(TunableValue(key, tunable.name, value, tunable.minimum, tunable.maximum, tunable.step,
                                      tunable.kind, tunable.doc))

        values = self._live_values
        if self._decoupled is not None:
            values = {**values, **self._detector_values}  # the worker's, as of its last change
        for tunable in self.PIPELINE_TUNABLES:
            add("pipeline", tunable, values[("pipeline", tunable.name)])
        for key, owner in self._live_owners().items():
            for tunable in _tunables.declared(owner):
                add(key, tunable, values.get((key, tunable.name)))
        return found

    def _read_live_values(self) -> None:
        """Pipeline thread: the current value of every tunable, published by one assignment."""
        values = {("pipeline", t.name): int(getattr(self, t.name)) for t in self.PIPELINE_TUNABLES}
        for key, owner in self._live_owners().items():
            if key == "detector" and self._decoupled is not None:
                values.update(self._detector_values)  # the worker's: it may be running the detector now
            else:
                values.update(self._values_of(key, owner))
        self._live_values = values

    @staticmethod
    def _values_of(key: str, owner: Any) -> Dict[Tuple[str, str], Any]:
        return {(key, tunable.name): _tunables.current_value(owner, tunable) for tunable in _tunables.declared(owner)}

    def set_tunable(self, plugin: str, name: str, value: Any) -> None:
        """Changes a live parameter from any thread: checked now, applied on the pipeline's thread
        at the start of the next frame (never during one); a later change of the same parameter
        replaces one still queued.

        ``plugin`` is a ``TunableValue.plugin`` of ``tunables()``: ``"detector"``, ``"tracker"``,
        ``"classifier"``, ``"pipeline"``, a ``Schedule``'s name or ``"annotator:<i>"``.

        A change of the detector, tracker, classifier or pipeline also makes the pipeline forget what
        it remembered for replay: frames shown again after a seek back are detected and tracked
        anew, with the new values. With ``decoupled=True`` a detector change is applied by the
        worker just before its next run; with ``decoupled="process"`` the detector has none.

        Raises:
            UnknownTunableError: no such plugin or parameter (also a KeyError).
            TypeError: a value of the wrong type (a bool for a number, 2.5 for an int...).
            ValueError: a value outside the tunable's [minimum, maximum].

        Example::

            pipeline.set_tunable("detector", "conf", 0.5)
            pipeline.set_tunable("tracker", "track_buffer", 60)
        """
        if not isinstance(plugin, str) or not isinstance(name, str):
            raise TypeError(f"set_tunable: plugin and name are strings, got {plugin!r}, {name!r}")
        checked = self._find_tunable(plugin, name).check(value, plugin)
        with self._live_lock:
            if plugin == "detector" and self._decoupled is not None:
                self._pending_detector[name] = checked
                self._pending[("detector", "")] = None  # still tells the next frame to forget replay
            else:
                self._pending[(plugin, name)] = checked

    def highlight(self, track_id: Optional[int]) -> None:
        """From the next frame on, draw track ``track_id`` emphasised (a thicker box in a distinct
        colour and its id, after the annotators); None clears it. Safe to call from any thread."""
        if track_id is not None and (isinstance(track_id, bool) or not isinstance(track_id, (int, np.integer))):
            raise TypeError(f"highlight: track_id is an int or None, got {type(track_id).__name__} {track_id!r}")
        self._highlight_request = None if track_id is None else int(track_id)

    @property
    def highlighted(self) -> Optional[int]:
        """The track ``highlight()`` asked for (drawn from the next frame on), or None."""
        return self._highlight_request

    @property
    def timings(self) -> StageTimings:
        """Milliseconds per stage, last run and mean (``StageTimings``), as of the last frame."""
        return self._timings

    def dashboard(self) -> Optional[DashboardSnapshot]:
        """The latest frame's ``DashboardSnapshot`` (None before the first frame). Safe to call
        from any thread: the pipeline publishes a new immutable snapshot at the end of each frame."""
        return self._dashboard.latest

    def _apply_pending(self) -> None:
        """Pipeline thread, start of a frame: applies the queued changes and the highlight."""
        self._highlighter.track_id = self._highlight_request
        if not self._pending:  # read without the lock: a change racing this frame waits for the next
            if self._clock.frames % 15 == 0:
                self._read_live_values()  # what the user's own code may have set on a plugin
            return
        with self._live_lock:
            pending, self._pending = self._pending, {}
        forget = False
        owners = self._live_owners()
        for (plugin, name), value in pending.items():
            forget = forget or plugin in self._REPLAYED_PLUGINS
            if plugin == "detector" and not name:
                continue  # decoupled: the worker applies the value
            if plugin == "pipeline":
                self._set_pipeline_tunable(name, value)
            else:
                _tunables.apply(owners[plugin], name, value)
        if forget:
            self._records.clear()
            self._snapshots.clear()
        self._read_live_values()

    def _set_pipeline_tunable(self, name: str, value: Any) -> None:
        if name == "every_n_frames":
            self._detector_cadence = Cadence(value, self.interval, owner="Pipeline", window=self.replay_window)

    def _detect_on_worker(self, image: Any) -> Any:
        """A detector run, on the thread that runs it (decoupled=True: its worker): queued changes first."""
        if self._pending_detector:
            with self._live_lock:
                pending, self._pending_detector = self._pending_detector, {}
            for name, value in pending.items():
                _tunables.apply(self.detector, name, value)
            if self._decoupled is not None:
                self._detector_values = self._values_of("detector", self.detector)
        return self.detector(image)

    def _draw_highlight(self, image: _FrameImage, tracked: Detections) -> None:
        track = self._highlighter.track_id
        if track is None or tracked.tracker_id is None or not len(tracked) \
                or not bool(np.any(np.asarray(tracked.tracker_id) == track)):
            return  # no host copy of a device frame for nothing to draw
        self._highlighter.annotate(image.write(NUMPY_ONLY), tracked)

    # -- decoupled inference (python/vistream/decoupled.py) ---------------------------------
    def _setup_decoupled(self, decoupled: "bool | str") -> Optional[DecoupledTracking]:
        if not (isinstance(decoupled, bool) or decoupled in ("thread", "process")):
            raise TypeError(f"Pipeline: decoupled must be True (= \"thread\"), \"process\" or False, got {decoupled!r}")
        self._player_mode: Optional[str] = None
        self._decoupled_warned = False
        if not decoupled:
            return None
        if self.detector is None:
            raise ValueError("Pipeline: decoupled=True runs the detector apart from playback and needs a detector")
        # BoT-SORT estimates camera motion from the detected frame (the worker's host copy of it)
        tracker_frame = ((lambda image: image if isinstance(image, np.ndarray) else None)
                         if self._tracker_takes_warp else None)
        worker = None
        if decoupled == "process":  # GIL-bound detectors: the detector is pickled to a spawned process
            from .decoupled_process import ProcessInferenceWorker
            worker = ProcessInferenceWorker(self.detector, self._checked_result)
        return DecoupledTracking(lambda image: self._checked_result(self._detect_on_worker(image)), self.tracker,
                                 self._tracker_takes_gap, tracker_frame, worker)

    def _bind_player(self, player: Any) -> None:
        """Called by ``Player.on_frame(pipeline)``: decoupled mode needs to know the Player's mode."""
        self._player_mode = getattr(player, "mode", None)

    def _decoupled_applies(self, frame) -> bool:
        """Decoupled inference is for a realtime Player: elsewhere the synchronous path, with a warning."""
        reason = None
        if getattr(frame, "serial", None) is None:
            reason = "these frames are not a Player's (a Reader's are processed in order)"
        elif self._player_mode not in (None, "realtime"):
            reason = f"the Player runs in {self._player_mode} mode (every frame through the callback)"
        if reason is None:
            return True
        if not self._decoupled_warned:
            self._decoupled_warned = True
            warnings.warn(f"Pipeline(decoupled=True) is for a realtime Player; {reason}: the detector runs "
                          "on every due frame, as without decoupled", stacklevel=3)
        return False

    def _decoupled_step(self, index: int, time: float, image: _FrameImage, previous: Optional[int]) -> Detections:
        copy_ = None
        if self._detector_cadence.due(index, time, previous):
            view = image.read(self._detector_takes)
            # the frame's memory is the player's again after the callback: the worker gets a copy
            copy_ = view.copy() if isinstance(view, np.ndarray) else view.clone()
        return self._decoupled.step(index, time, copy_)

    @property
    def decoupled_stats(self) -> Optional[DecoupledStats]:
        """How far behind the frames the results of ``decoupled=True`` were (``DecoupledStats``);
        None without ``decoupled``."""
        return None if self._decoupled is None else self._decoupled.stats

    def _starts_timeline(self, frame) -> bool:
        """Whether ``frame`` does not continue the frames seen so far (seek, step back, loop)."""
        if self._last_index is None:
            return True
        serial = getattr(frame, "serial", None)
        if serial is None:  # not from a Player: only the next index continues
            return frame.index != self._last_index + 1
        if getattr(frame, "reconnected", False) and frame.index > self._last_index:
            # A live source came back: a gap in time (like frames dropped in real time), not a
            # jump elsewhere. The tracker predicts across it and keeps its ids, even when the
            # frames just before the outage were dropped and never seen here.
            return False
        return (bool(getattr(frame, "discontinuity", False)) or serial != self._last_serial
                or frame.index <= self._last_index)

    def _remember(self, index: int, record: _FrameRecord) -> None:
        self._records[index] = record
        while len(self._records) > self.replay_window:
            old, _ = self._records.popitem(last=False)
            self._snapshots.pop(old, None)

    def _detect(self, index: int, time: float, image: _FrameImage, previous: Optional[int]) -> Optional[Detections]:
        """This frame's detections, or None if the detector is not due on it."""
        if self.detector is None:
            return Detections.empty()  # the tracker still sees every frame
        if self._detector_cadence.due(index, time, previous):
            # a host copy only when due
            return self._checked_result(self._detect_on_worker(image.read(self._detector_takes)))
        return None

    def _checked_result(self, result: Any) -> Detections:
        if isinstance(result, Detections):
            return result
        if isinstance(result, np.ndarray) or type(result).__module__.startswith("torch"):
            try:
                return Detections.from_array(result)
            except ValueError as error:
                raise TypeError(f"Pipeline: detector {type(self.detector).__name__!r} returned an array that is "
                                f"not Detections: {error}") from None
        raise TypeError(f"Pipeline: detector {type(self.detector).__name__!r} returned "
                        f"{type(result).__name__!r}; a vistream.Detector returns vistream.Detections")

    def _tracker_steps(self, index: int, time: float) -> int:
        """Detector runs a straight run would have made since the last one, this one included
        (the tracker's frames_elapsed): more than 1 only when frames were dropped in between."""
        if self._last_run is None:
            return 1
        last_index, last_time = self._last_run
        n = self.every_n_frames
        if self.interval is None:
            return max(1, index // n - last_index // n)
        if self._frame_duration:
            # a straight run runs every `spacing` frames: the first multiple of n at least `interval` on
            spacing = max(1, int(np.ceil((self.interval - 1e-3) / self._frame_duration - 1e-9)))
            spacing = -(-spacing // n) * n
            return max(1, (index - last_index) // spacing)
        return max(1, int((time - last_time) / self.interval + 1e-6))

    def _track(self, record: _FrameRecord, detections: Detections, image: Optional[np.ndarray]) -> Detections:
        if self.tracker is None:
            return detections
        options: Dict[str, Any] = {}
        if self._tracker_takes_gap and record.steps > 1:
            options["frames_elapsed"] = record.steps
        if not self._tracker_takes_warp:
            return self.tracker.update(detections, frame=image, **options)
        # Camera-motion trackers (BoT-SORT): a revisited frame reuses the motion estimated the
        # first time, so the boxes match the forward run exactly; new frames estimate it.
        tracked = self.tracker.update(detections, frame=image, warp=record.warp, **options)
        if record.warp is None:
            record.warp = np.array(self.tracker.last_warp, np.float64)
        return tracked

    def _run_plugins(self, index: int, time: float, image: _FrameImage, tracked: Detections,
                     previous: Optional[int]) -> Dict[str, Any]:
        """Runs the due plugins; returns {name: value} of those that ran."""
        produced: Dict[str, Any] = {}
        for plugin in self.plugins:
            if not self._plugin_cadences[plugin.name].due(index, time, previous):
                continue
            frames = self._frames_for(plugin, image)
            if frames is None:
                continue  # not enough frames since the start or the last seek: skip, don't postpone
            # a plugin function marked takes_frame_time (vistream.analytics) also gets the frame's
            # index and media time: events and dwell times need them
            stage = perf_counter()
            value = (plugin.fn(frames, tracked, index=index, time=time) if getattr(plugin.fn, "takes_frame_time", False)
                     else plugin.fn(frames, tracked))
            self._clock.add_plugin(plugin.name, (perf_counter() - stage) * 1000.0)
            self.results[plugin.name] = value
            produced[plugin.name] = value
        return produced

    def _frames_for(self, plugin: Schedule, image: _FrameImage) -> Optional[List[Any]]:
        if self._history is None:
            view = image.read(self._plugin_takes[plugin.name])  # no plugin looks back: the frame itself
            if isinstance(view, np.ndarray):
                view = view.view()
                view.flags.writeable = False
            return [view]
        if len(self._history) < plugin.history:
            return None
        last = len(self._history) - 1
        return [self._history[last - k * plugin.frame_step] for k in reversed(range(plugin.frame_count))]

    # -- replay -------------------------------------------------------------------------
    def _snapshot(self, index: int, previous: Optional[int]) -> None:
        """Keeps the state before ``index`` at every ``snapshot_every``-th frame (or the first
        frame past one, when the player dropped it), and on the first frame whose predecessor
        the replay memory no longer holds (a live change just forgot it): without that snapshot
        a replay of the frames since would start a fresh tracker and give them new ids."""
        if self.tracker is None or index in self._snapshots:
            return
        every = self.snapshot_every
        chain_breaks = previous is not None and previous not in self._records
        if index % every and not chain_breaks and (previous is None or previous // every == index // every):
            return
        self._snapshots[index] = {"tracker": copy.deepcopy(self.tracker.state_dict()),
                                  "held": copy.deepcopy(self._held), "last_run": self._last_run}
        while len(self._snapshots) > self.max_snapshots:
            self._snapshots.popitem(last=False)

    def _restore(self, index: int, previous: Optional[int]) -> None:
        """Restores the tracker, the held output and the last detector run to their state just
        before frame ``index``, whose predecessor on its first pass was ``previous``."""
        if self.tracker is None:
            self._held = self._last_detected_before(previous)
            self._last_run = None
            return
        if index in self._snapshots:
            self._load_snapshot(index)
            return
        chain: List[int] = []  # frames to replay, newest first
        at = previous
        while at is not None:
            record = self._records.get(at)
            if record is None:
                at = None  # beyond the window (or never seen): cannot be reproduced
                chain = []
                break
            chain.append(at)
            if at in self._snapshots:
                break
            at = record.previous
        if at is None:
            # The timeline started at chain[-1] (or is unknown): the tracker starts afresh there.
            self.tracker.reset()
            self._held = Detections.empty()
            self._last_run = None
        else:
            self._load_snapshot(at)
        for i in reversed(chain):
            record = self._records[i]
            if record.detections is not None:
                self._held = self._track(record, record.detections, None)
                self._last_run = (i, record.time)

    def _load_snapshot(self, index: int) -> None:
        snapshot = copy.deepcopy(self._snapshots[index])
        self.tracker.load_state_dict(snapshot["tracker"])
        self._held = snapshot["held"]
        self._last_run = snapshot["last_run"]

    def _last_detected_before(self, previous: Optional[int]) -> Detections:
        """Without a tracker: the detections of the last detector run at or before ``previous``
        on its chain of frames (empty if that chain starts or leaves the window first)."""
        while previous is not None and previous in self._records:
            record = self._records[previous]
            if record.detections is not None:
                return record.detections
            previous = record.previous
        return Detections.empty()

    def close(self, error: Optional[BaseException] = None, *,
              video: "str | Path | Sequence[str | Path] | None" = None) -> Optional[Path]:
        """Finishes the results file; pass the exception that ended the run, if any (see
        ``ResultsWriter.close``: a failed run keeps an earlier file, an interrupted one is saved).

        With ``embed_results``, ``video`` is the finished output (``player.output``, or a list of
        files): the records are embedded into it, also after an interrupted run (the frames
        done); a failed run (an ``Exception``) embeds nothing. ``pipeline.embedded`` lists the
        videos that got them.

        The sinks are flushed last (each within its ``close_timeout``), also when the files fail.

        Returns where the results are (None without a results file or when no frame was written).
        """
        if self._decoupled is not None:
            self._decoupled.close()
        try:
            written = self._results.close(error) if self._results is not None else None
            if self._embedded is not None:
                recorder, self._embedded = self._embedded, None
                self.embedded = recorder.finish(video, error)
        finally:
            self._outputs.close()
        return written

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.close(exc)

    def serve(self, source: Any, *, port: int = 8000, host: str = "127.0.0.1", token: Optional[str] = None,
              loop: bool = False, on_start: Optional[Callable[[Any], None]] = None, **player_options: Any) -> Any:
        """Runs this pipeline on ``source`` in a real-time Player and serves its web view (docs/web.md).

        Blocks until the player is stopped (``view.player.stop()``) or Ctrl-C, then returns the
        player's ``PlayerStats``. At the end of the source the player waits (the page can still
        seek back), unless ``loop`` starts it over. ``on_start(view)`` is called with the running
        ``vistream.web.WebView`` (its ``url``, its ``player``). ``host``/``token`` as
        ``vistream.web.WebOptions``; ``player_options`` go to ``Player`` (``output=`` is
        finalized however the run ends). Needs ``pip install 'vistream[web]'``.
        """
        from .player import Player
        from .web import WebOptions, WebView

        options = WebOptions(port=port, host=host, token=token)
        player_options.setdefault("mode", "realtime")
        player_options.setdefault("display", False)
        player_options.setdefault("play_audio", False)  # the browser gets no sound
        player_options.setdefault("exit_at_end", False)
        player = Player(source, loop=loop, **player_options)
        player.on_frame(self)
        with WebView.from_options(player, options, pipeline=self) as view:
            view.install()
            if on_start is not None:
                on_start(view)
            try:
                return player.run()
            except KeyboardInterrupt:  # Ctrl-C is how a served pipeline ends: the output is finalized
                return player.stats


def _accepts(method: Callable, name: str) -> bool:
    """Whether ``method`` takes a keyword argument ``name`` (or **kwargs)."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
