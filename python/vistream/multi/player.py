"""``MultiPlayer``: one decode thread per source, synchronized batches to one Python consumer."""

from __future__ import annotations

import collections
import os
import threading
import time as _time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..detections import Detections
from ..errors import CancelledError, VistreamError
from ..media_info import MediaInfo
from ..reader import CancelToken, Reader
from ..results import ResultsWriter
from ..web.options import WebOptions, web_options_of
from ..writer import Writer
from .batching import detect_batch
from .mosaic import MosaicView

SourceKey = Union[int, str]
SourceSpec = Union[str, "os.PathLike[str]"]
OutputSpec = Union[None, str, Mapping[SourceKey, "str | os.PathLike[str]"]]

# A live source's open is retried with the same backoff the Reader uses for reconnects.
_LIVE_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "rtmps://", "srt://", "udp://", "rtp://", "tcp://",
                  "http://", "https://", "/dev/video")


class MultiFrame:
    """One frame of one source, as ``on_batch`` gets it.

    Attributes:
        source: the source's name (the key when sources were given as a dict) or its index.
        source_index: the source's position (0-based) in the order given.
        index: the frame's number in its source (continues across reconnects).
        time: the frame's time in seconds on its source's clock.
        frame: the vistream ``Frame`` (zero-copy; ``frame.array`` may be edited in place: the
            output writes what is there after ``on_batch``).
        detections: the detector's (then tracker's) result, or None without a detector.
            ``tracker_id`` counts per source: the pair ``(source, tracker_id)`` (``track_keys``)
            is unique across sources.
        latency: seconds from decode to the end of ``on_batch`` (None until ``on_batch`` returned).
    """

    __slots__ = ("source", "source_index", "index", "time", "frame", "detections", "decoded_at", "latency")

    def __init__(self, source: SourceKey, source_index: int, frame: Any, decoded_at: float) -> None:
        self.source = source
        self.source_index = source_index
        self.index: int = frame.index
        self.time: float = frame.time
        self.frame = frame
        self.detections: Optional[Detections] = None
        self.decoded_at = decoded_at
        self.latency: Optional[float] = None

    @property
    def array(self) -> np.ndarray:
        """The frame's pixels (H, W, 3) BGR, a writable zero-copy view."""
        return self.frame.array

    @property
    def track_keys(self) -> List[Tuple[SourceKey, int]]:
        """``(source, tracker_id)`` per detection: track ids that never collide across sources
        (empty before tracking)."""
        if self.detections is None or self.detections.tracker_id is None:
            return []
        return [(self.source, int(i)) for i in self.detections.tracker_id]

    def __repr__(self) -> str:
        return f"<MultiFrame source={self.source!r} index={self.index} time={self.time:.3f}>"


@dataclass(frozen=True)
class SourceStats:
    """Counters of one source of a ``MultiPlayer``."""

    #: the source's name (or index)
    source: SourceKey
    #: what was opened
    url: str
    #: "starting", "running", "finished" (its end reached), "failed" (see ``error``) or "stopped"
    state: str
    #: frames handed to ``on_batch`` (and written)
    frames: int
    #: frames dropped because Python was slower than media pace (realtime mode only)
    drops: int
    #: connections restored after a loss (the Reader's reconnect policy), plus reopened opens
    reconnects: int
    #: processed frames per second, over the source's run time
    fps: float
    #: mean seconds from decode to the end of ``on_batch``
    latency: float
    #: seconds from ``run()``'s start to the source's end (None while running)
    finished_after: Optional[float]
    #: why the source failed ("Type: message"), else None
    error: Optional[str] = None
    #: where the source's output video / results went (None: not written)
    output: Optional[str] = None
    results: Optional[str] = None


@dataclass(frozen=True)
class MultiStats:
    """What a ``MultiPlayer`` did (``run()``'s result, or ``multi.stats`` while running)."""

    #: per source, by name (or index)
    sources: Mapping[SourceKey, SourceStats]
    #: ``on_batch`` calls
    batches: int
    #: frames processed, all sources
    frames: int
    #: mean frames per batch
    mean_batch_size: float
    #: seconds since ``run()`` started
    elapsed: float
    #: frames per second over all sources
    fps: float = field(default=0.0)


class _Source:
    """A source's decode thread and its queue. Fields marked "lock" are protected by the
    MultiPlayer's condition; the rest belong to the decode thread (until it ends) or the consumer."""

    def __init__(self, key: SourceKey, index: int, url: str, options: Dict[str, Any]) -> None:
        self.key, self.index, self.url, self.options = key, index, url, options  # immutable
        self.queue: Deque[MultiFrame] = collections.deque()  # lock
        self.done = False  # lock: the decode thread will add nothing more
        self.state = "starting"  # lock
        self.error: Optional[BaseException] = None  # lock
        self.drops = 0  # lock
        self.reopens = 0  # lock
        self.reader: Optional[Reader] = None  # lock
        self.opening: Optional[CancelToken] = None  # lock: ends the open in progress (stop())
        self.info = None  # set by the decode thread before its first frame is queued
        self.finished_after: Optional[float] = None  # lock
        self.thread: Optional[threading.Thread] = None
        # consumer thread only
        self.frames = 0
        self.latency_sum = 0.0
        self.last_index: Optional[int] = None
        self.tracker: Any = None
        self.writer: Optional[Writer] = None
        self.results: Optional[ResultsWriter] = None
        self.output_path: Optional[str] = None
        self.results_path: Optional[str] = None


def _checked_annotators(annotators: Sequence[Any]) -> List[Any]:
    from ..pipeline import image_kinds
    from ..protocols import Annotator, check_protocol

    if isinstance(annotators, (str, bytes)) or not isinstance(annotators, (list, tuple)):
        raise TypeError(f"annotators must be a list of annotators, got {type(annotators).__name__}")
    for annotator in annotators:
        check_protocol(annotator, Annotator, "annotator", owner="MultiPlayer")
        if "numpy" not in image_kinds(annotator):
            raise TypeError(f"MultiPlayer draws on host (numpy) frames; {type(annotator).__name__} takes "
                            f"{'/'.join(sorted(image_kinds(annotator)))} images only")
    return list(annotators)


def _names(sources: Union[Sequence[SourceSpec], Mapping[str, SourceSpec]]) -> List[Tuple[SourceKey, str]]:
    if isinstance(sources, Mapping):
        pairs = []
        for name, url in sources.items():
            if not isinstance(name, str) or not name:
                raise TypeError("source names (the dict's keys) must be non-empty strings")
            pairs.append((name, os.fspath(url)))
    elif isinstance(sources, (str, bytes, os.PathLike)) or not isinstance(sources, Sequence):
        raise TypeError("sources must be a list of paths/URLs or a dict name -> path/URL")
    else:
        pairs = [(i, os.fspath(url)) for i, url in enumerate(sources)]
    if not pairs:
        raise ValueError("MultiPlayer needs at least one source")
    return pairs


def _per_source_path(spec: OutputSpec, key: SourceKey, what: str) -> Optional[str]:
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        path = spec.get(key)
        return None if path is None else os.fspath(path)
    if isinstance(spec, (str, os.PathLike)):
        pattern = os.fspath(spec)
        if "{source}" not in pattern:
            raise ValueError(f"{what}={pattern!r}: a pattern for several sources needs '{{source}}' "
                             "(e.g. 'out_{source}.mp4'), or pass a dict source -> path")
        return pattern.replace("{source}", str(key))
    raise TypeError(f"{what} must be a pattern such as 'out_{{source}}.mp4' or a dict source -> path")


def _is_live(url: str) -> bool:
    return url.startswith(_LIVE_PREFIXES)


class MultiPlayer:
    """Decodes many sources in parallel in one process and hands Python synchronized batches.

    Each source gets its own decode thread (the native Reader decodes without the GIL, so
    sources decode in parallel); one consumer, the thread calling ``run()``, takes batches of up
    to ``max_batch`` frames, runs the detector once per batch, each source's own tracker, then
    ``on_batch(frames)``, then writes each frame to its source's output and results file.

    A batch is handed over as soon as every running source has a frame in it (or it is full),
    and never later than ``max_wait`` seconds after its oldest frame was decoded: a slow, stalled
    or reconnecting source never delays the others by more than that.

    Args:
        sources: paths/URLs (``frame.source`` is then the index) or a dict name -> path/URL
            (``frame.source`` is the name).
        detector: called once per batch: ``detector.batch(frames) -> list[Detections]`` when it
            has a ``batch`` method (``OnnxDetector``, ``TorchDetector``, ``YOLOX``,
            ``PerSourceDetector``), else ``detector(frame.array)`` per frame. None: no detection.
        tracker: a factory (a class such as ``ByteTrack``, or a function with no arguments)
            called once per source: each source has its own tracker, so ``tracker_id`` counts per
            source; ``(frame.source, tracker_id)`` is the global id (``frame.track_keys``).
        on_batch: ``callable(frames: list[MultiFrame])`` (or set it with ``@multi.on_batch``).
        annotators: ``vistream.Annotator`` objects (``BoxAnnotator()``, ``LabelAnnotator()``...)
            that draw each frame's ``detections`` after ``on_batch`` (which still sees the frame
            as decoded), in the order given, onto what the outputs, the mosaic and the web page
            show. Numpy annotators only: the frames are host arrays.
            An exception raised there stops every source, finalizes the outputs and is re-raised
            from ``run()``.
        outputs: video per source: a pattern with ``{source}`` (``"out_{source}.mp4"``) or a
            dict source -> path. Written with ``vistream.Writer`` at the source's frame rate and
            timestamps; a local file's sound is copied along (``audio=False``: video only).
        results: results per source (``.jsonl``, ``.txt``, ``.csv``, see ``ResultsWriter``), a
            pattern or a dict like ``outputs``.
        max_batch: most frames per batch (>= 1).
        max_wait: longest seconds a decoded frame waits for its batch to fill (>= 0).
        realtime: False (offline): every frame of every source is processed, sources decode as
            fast as the consumer takes them (bounded queues, no drops), each to its end. True:
            each source is paced at media pace (its frames' times against the wall clock); when
            Python is slower, a source's oldest queued frame is dropped and counted
            (``SourceStats.drops``); trackers are told how many frames they missed.
        queue_size: frames decoded ahead per source (>= 1).
        reader_options: keywords for every source's ``vistream.Reader`` (``timeout``,
            ``reconnect``, ``reconnect_attempts``, ``vfilter``, ``threads``, ``hwaccel``...);
            ``format`` is always "bgr24".
        source_options: per-source Reader keywords overriding ``reader_options``: dict source ->
            dict.
        writer_options: keywords for every output's ``vistream.Writer`` (``encoder``, ``crf``...).
        audio: copy a local file source's sound into its output.
        display: show the mosaic view: every source's newest frame (after ``on_batch``, so
            its drawings show) tiled in one window, each tile with its source's name, frames per
            second and drops; a click on a tile shows that source alone, another click goes back;
            ``q``/Escape or closing the window stops the run. ``multi.mosaic`` is the view.
        display_size: the mosaic window's (width, height).
        title: the window's title.
        web: serve a web page with every source live (docs/web.md): a port (on 127.0.0.1) or
            ``vistream.web.WebOptions`` (host, token, ...). Each source is a tile showing its
            frames after ``on_batch`` and ``annotators`` (their drawings show), its state, fps and drops; a click on a
            tile shows that source alone with its current detections. It starts with ``run()``
            and stops when ``run()`` returns; ``multi.web_view`` is the running view. Needs
            ``pip install 'vistream[web]'``.

    Live sources follow the Reader's reconnect policy (``reconnect="auto"``: network URLs and
    devices reconnect, with ``reconnect_delay``/``reconnect_attempts``); a live source that cannot
    be opened is retried with the same policy. A source that fails for good (attempts exhausted,
    a broken file) ends with ``state == "failed"`` and its error in its stats; the others go on.

    Example::

        multi = MultiPlayer(["a.mp4", "b.mp4"], detector=vistream.PerSourceDetector(MotionDetector),
                            tracker=ByteTrack, annotators=[BoxAnnotator(), LabelAnnotator()],
                            outputs="tracked_{source}.mp4")
        stats = multi.run()
    """

    def __init__(
        self,
        sources: Union[Sequence[SourceSpec], Mapping[str, SourceSpec]],
        *,
        detector: Any = None,
        tracker: Optional[Callable[[], Any]] = None,
        on_batch: Optional[Callable[[List[MultiFrame]], Any]] = None,
        annotators: Sequence[Any] = (),
        outputs: OutputSpec = None,
        results: OutputSpec = None,
        max_batch: int = 8,
        max_wait: float = 0.05,
        realtime: bool = False,
        queue_size: int = 4,
        reader_options: Optional[Mapping[str, Any]] = None,
        source_options: Optional[Mapping[SourceKey, Mapping[str, Any]]] = None,
        writer_options: Optional[Mapping[str, Any]] = None,
        audio: bool = True,
        display: bool = False,
        display_size: Tuple[int, int] = (1280, 720),
        title: str = "vistream",
        web: "int | WebOptions | None" = None,
    ) -> None:
        pairs = _names(sources)
        web_options = web_options_of(web)  # checked before anything is opened
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be an int >= 1, got {max_batch!r}")
        if isinstance(max_wait, bool) or not isinstance(max_wait, (int, float)) or not max_wait >= 0:
            raise ValueError(f"max_wait must be seconds >= 0, got {max_wait!r}")
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be an int >= 1, got {queue_size!r}")
        if tracker is not None and not callable(tracker):
            raise TypeError("tracker must be a factory (a tracker class, or a function with no arguments) "
                            "that makes one tracker per source")
        if on_batch is not None and not callable(on_batch):
            raise TypeError("on_batch must be callable")
        annotators = _checked_annotators(annotators)
        common = dict(reader_options or {})
        per_source = dict(source_options or {})
        for key in per_source:
            if key not in {k for k, _ in pairs}:
                raise ValueError(f"source_options names {key!r}, which is not a source")
        self._sources: List[_Source] = []
        for index, (key, url) in enumerate(pairs):
            options = {**common, **dict(per_source.get(key, {})), "format": "bgr24"}
            source = _Source(key, index, url, options)
            source.output_path = _per_source_path(outputs, key, "outputs")
            source.results_path = _per_source_path(results, key, "results")
            self._sources.append(source)
        self.detector = detector
        self.tracker_factory = tracker
        self._on_batch = on_batch
        #: what draws each frame's detections after ``on_batch``
        self.annotators: List[Any] = annotators
        self.max_batch, self.max_wait, self.realtime = max_batch, float(max_wait), bool(realtime)
        self.queue_size = queue_size
        self._writer_options = dict(writer_options or {})
        self._audio = bool(audio)
        self._condition = threading.Condition()
        self._stopping = threading.Event()
        self._started_at: Optional[float] = None
        self._ran = False
        self._batches = 0
        self._frames = 0
        self._next_first = 0  # the source a batch starts at, rotated for fairness
        self._display = bool(display)
        self._display_size = display_size
        self._title = title
        #: the mosaic view while ``run()`` shows one (``display=True``), else None
        self.mosaic: Optional[MosaicView] = None
        self._web = web_options
        #: the running web view (``web=``): set while ``run()`` runs, else None
        self.web_view: Any = None

    # ----------------------------------------------------------------------------------- API
    def on_batch(self, callback: Callable[[List[MultiFrame]], Any]) -> Callable[[List[MultiFrame]], Any]:
        """Sets the batch callback (usable as a decorator)."""
        if not callable(callback):
            raise TypeError("on_batch needs a callable")
        self._on_batch = callback
        return callback

    @property
    def sources(self) -> List[SourceKey]:
        """The sources' names (or indices), in order."""
        return [s.key for s in self._sources]

    @property
    def stopping(self) -> bool:
        """Whether ``stop()`` was called (or ``run()`` ended)."""
        return self._stopping.is_set()

    def _source_urls(self) -> List[Tuple[SourceKey, str]]:
        return [(s.key, s.url) for s in self._sources]

    def stop(self) -> None:
        """Ends ``run()`` soon, from any thread: decode threads stop (blocked reads end at
        once), the batches in progress finish, outputs are finalized."""
        self._stopping.set()
        with self._condition:
            readers = [s.reader for s in self._sources if s.reader is not None]
            openings = [s.opening for s in self._sources if s.opening is not None]
            self._condition.notify_all()
        for token in openings:  # a source still connecting (a silent server) has no reader to close
            token.cancel()
        for reader in readers:
            reader.close()

    def source_info(self, source: SourceKey) -> Optional[MediaInfo]:
        """The ``MediaInfo`` of ``source`` once it is open (None before, or for no such source)."""
        for s in self._sources:
            if s.key == source:
                return s.info
        return None

    def run(self, *, on_start: Optional[Callable[["MultiPlayer"], Any]] = None) -> MultiStats:
        """Processes every source to its end (or until ``stop()``); returns the stats.

        ``on_start(multi)`` is called once the web view (``web=``) and the window are up and
        before the sources open, e.g. to print ``multi.web_view.url``.

        Raises whatever ``on_batch``, the detector or a tracker raised (after stopping every
        source and finalizing the outputs). A failing source does not raise: see
        ``SourceStats.state``/``error``.
        """
        if self._ran:
            raise VistreamError("MultiPlayer.run() can only be called once")
        self._ran = True
        # Before any thread starts: no window or a port in use is an error at once.
        try:
            if self._display:
                self.mosaic = MosaicView(self.sources, size=self._display_size, title=self._title)
            if self._web is not None:
                from ..web.multi_view import MultiWebView

                self.web_view = MultiWebView(self, self._web).start()
            if on_start is not None:
                on_start(self)
        except BaseException:
            self._close_views()
            raise
        self._started_at = _time.monotonic()
        for source in self._sources:
            source.thread = threading.Thread(target=self._decode, args=(source,), daemon=True,
                                             name=f"vistream-multi-{source.key}")
            source.thread.start()
        error: Optional[BaseException] = None
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    break
                self._process(batch)
        except BaseException as caught:
            error = caught
            raise
        finally:
            self.stop()
            for source in self._sources:
                if source.thread is not None:
                    source.thread.join()
            try:
                self._close_outputs(error)
            finally:
                self._close_views()
        return self.stats

    def _close_views(self) -> None:
        """Closes the mosaic window and stops the web view (whichever are open)."""
        if self.mosaic is not None:
            self.mosaic.close()
        if self.web_view is not None:
            self.web_view.stop()
            self.web_view = None

    @property
    def stats(self) -> MultiStats:
        """Counters so far (safe from any thread; exact after ``run()``)."""
        now = _time.monotonic()
        elapsed = 0.0 if self._started_at is None else now - self._started_at
        per_source = {}
        with self._condition:
            readers = {s.key: s.reader for s in self._sources if s.reader is not None}
        # Asked outside the lock: a Reader answers between reads, and a decode thread blocked in
        # a read must not hold up the consumer waiting for the lock.
        live_reconnects = {}
        for key, reader in readers.items():
            try:
                live_reconnects[key] = reader.stats.reconnects
            except (ValueError, RuntimeError):  # closed meanwhile: the thread added its count
                pass
        with self._condition:
            for s in self._sources:
                reconnects = s.reopens + (live_reconnects.get(s.key, 0) if s.reader is not None else 0)
                run_time = s.finished_after if s.finished_after is not None else elapsed
                per_source[s.key] = SourceStats(
                    source=s.key, url=s.url, state=s.state, frames=s.frames, drops=s.drops,
                    reconnects=reconnects, fps=s.frames / run_time if run_time > 0 else 0.0,
                    latency=s.latency_sum / s.frames if s.frames else 0.0, finished_after=s.finished_after,
                    error=None if s.error is None else f"{type(s.error).__name__}: {s.error}",
                    output=s.output_path, results=s.results_path)
        return MultiStats(sources=per_source, batches=self._batches, frames=self._frames,
                          mean_batch_size=self._frames / self._batches if self._batches else 0.0,
                          elapsed=elapsed, fps=self._frames / elapsed if elapsed > 0 else 0.0)

    def __repr__(self) -> str:
        return f"<vistream.MultiPlayer {len(self._sources)} sources max_batch={self.max_batch}>"

    # ---------------------------------------------------------------------- decode threads
    def _open(self, source: _Source) -> Optional[Reader]:
        """Opens the source; a live one is retried with its reconnect policy (None: stopped)."""
        options = source.options
        policy = options.get("reconnect", "auto")
        retry = policy in (True, "always") or (policy == "auto" and _is_live(source.url))
        attempts = options.get("reconnect_attempts")
        delay = float(options.get("reconnect_delay", 0.5) or 0.5)
        delay_max = float(options.get("reconnect_delay_max", 10.0) or 10.0)
        failures = 0
        while not self._stopping.is_set():
            token = CancelToken()
            with self._condition:
                source.opening = token
            if self._stopping.is_set():  # stop() ran before the token was published
                return None
            try:
                return Reader(source.url, cancel=token, **options)
            except CancelledError:
                return None  # only stop() cancels the token
            except VistreamError:
                failures += 1
                if not retry or (attempts is not None and failures > attempts):
                    raise
                with self._condition:
                    source.reopens += 1
                self._stopping.wait(min(delay * 2 ** (failures - 1), delay_max))
            finally:
                with self._condition:
                    source.opening = None
        return None

    def _decode(self, source: _Source) -> None:
        reader: Optional[Reader] = None
        state, error = "finished", None
        try:
            reader = self._open(source)
            if reader is None:
                state = "stopped"
                return
            with self._condition:
                source.reader = reader
                source.state = "running"
            if self._stopping.is_set():  # stop() ran before the reader was published
                state = "stopped"
                return
            source.info = reader.info
            clock: Optional[Tuple[float, float]] = None
            for frame in reader:
                if self._stopping.is_set():
                    state = "stopped"
                    break
                if self.realtime:
                    # media pace: frame k is due at start + (t_k - t_0) on the wall clock
                    if clock is None:
                        clock = (_time.monotonic(), frame.time)
                    due = clock[0] + (frame.time - clock[1])
                    wait = due - _time.monotonic()
                    if wait > 0 and self._stopping.wait(wait):
                        state = "stopped"
                        break
                item = MultiFrame(source.key, source.index, frame, _time.monotonic())
                with self._condition:
                    if self.realtime:
                        while len(source.queue) >= self.queue_size:
                            source.queue.popleft()
                            source.drops += 1
                    else:
                        while len(source.queue) >= self.queue_size and not self._stopping.is_set():
                            self._condition.wait()
                    source.queue.append(item)
                    self._condition.notify_all()
            else:
                if self._stopping.is_set():
                    state = "stopped"
        except Exception as caught:  # the source fails alone; the others go on
            if self._stopping.is_set():
                state = "stopped"  # stop() closed the reader under the read
            else:
                state, error = "failed", caught
        finally:
            with self._condition:
                if reader is not None:
                    try:
                        source.reopens += reader.stats.reconnects
                    except (ValueError, RuntimeError, VistreamError):  # closed or cancelled by stop()
                        pass
                    source.reader = None
                source.state, source.error = state, error
                source.done = True
                source.finished_after = _time.monotonic() - (self._started_at or 0.0)
                self._condition.notify_all()
            if reader is not None:
                reader.close()

    # --------------------------------------------------------------------------- consumer
    def _next_batch(self) -> Optional[List[MultiFrame]]:
        """Waits for the next batch (None: every source has ended and every frame was taken)."""
        with self._condition:
            while True:
                ready = [s for s in self._sources if s.queue]
                # sources that may still deliver a frame: running, or ended with frames queued
                pending = [s for s in self._sources if s.queue or not s.done]
                if not ready and (not pending or self._stopping.is_set()):
                    return None
                queued = sum(len(s.queue) for s in ready)
                # complete: every source that may still deliver has a frame in it, or it is full
                if ready and (queued >= self.max_batch or len(ready) == len(pending) or self._stopping.is_set()):
                    break
                if ready:
                    oldest = min(s.queue[0].decoded_at for s in ready)
                    remaining = oldest + self.max_wait - _time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
                else:
                    self._condition.wait(0.25)
            # one frame per source per round, starting at a rotating source, until full
            order = self._sources[self._next_first:] + self._sources[:self._next_first]
            self._next_first = (self._next_first + 1) % len(self._sources)
            batch: List[MultiFrame] = []
            while len(batch) < self.max_batch:
                took = False
                for source in order:
                    if source.queue and len(batch) < self.max_batch:
                        batch.append(source.queue.popleft())
                        took = True
                if not took:
                    break
            self._condition.notify_all()  # room in the queues
            return batch

    def _process(self, batch: List[MultiFrame]) -> None:
        if self.detector is not None:
            for item, detections in zip(batch, detect_batch(self.detector, batch)):
                item.detections = detections
        by_key = {s.key: s for s in self._sources}
        if self.tracker_factory is not None:
            for item in batch:
                source = by_key[item.source]
                if source.tracker is None:
                    source.tracker = self.tracker_factory()
                elapsed = 1 if source.last_index is None else max(1, item.index - source.last_index)
                detections = item.detections if item.detections is not None else Detections.empty()
                item.detections = source.tracker.update(detections, frame=item.array, frames_elapsed=elapsed)
                source.last_index = item.index
        if self._on_batch is not None:
            self._on_batch(batch)
        if self.annotators:
            for item in batch:
                if item.detections is not None:
                    for annotator in self.annotators:
                        annotator.annotate(item.array, item.detections)
        now = _time.monotonic()
        for item in batch:
            source = by_key[item.source]
            item.latency = now - item.decoded_at
            if source.output_path is not None:
                if source.writer is None:
                    source.writer = self._make_writer(source)
                source.writer.write(item.frame, time=item.time)
            if source.results_path is not None:
                if source.results is None:
                    source.results = ResultsWriter(source.results_path)
                source.results.write(item.index, item.time,
                                     item.detections if item.detections is not None else Detections.empty())
            source.frames += 1
            source.latency_sum += item.latency
            source.last_index = item.index
        self._batches += 1
        self._frames += len(batch)
        if self.web_view is not None:
            self.web_view.publish(batch)
        if self.mosaic is not None:
            for item in batch:
                self.mosaic.update(item.source, item.array)
            self.mosaic.handle_events()
            with self._condition:
                drops = {s.key: s.drops for s in self._sources}
            self.mosaic.render(drops)
            if self.mosaic.quit_requested:
                self.stop()

    def _make_writer(self, source: _Source) -> Writer:
        info = source.info
        audio = None
        if self._audio and info is not None and info.has_audio and os.path.isfile(source.url):
            audio = source.url
        # A source that changes size mid-stream keeps its output's first size (as Player does).
        options = {"scale_other_sizes": True, **self._writer_options}
        fps = (info.fps_fraction or info.fps) if info is not None and info.fps else 30.0
        return Writer(source.output_path, fps=fps,
                      audio=audio, **options)

    def _close_outputs(self, error: Optional[BaseException]) -> None:
        first: Optional[BaseException] = None
        for source in self._sources:
            for output in (source.writer, source.results):
                if output is None:
                    continue
                try:
                    output.close(error)
                except Exception as caught:  # finalize every other output before raising
                    first = first or caught
        if first is not None and error is None:
            raise first
