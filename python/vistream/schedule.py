"""When a pipeline step runs: ``Schedule`` (an analysis plugin with its cadence and frame
history) and the cadence rule shared with the detector (every n-th frame, at most once per
``interval`` seconds of media time)."""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .detections import Detections

PluginFn = Callable[[List[np.ndarray], Detections], Any]

# Containers often store timestamps rounded to the millisecond (Matroska, FLV, WebM), so a
# frame that is nominally `interval` after the last run can come out up to ~1 ms early.
_TIME_TOLERANCE = 1e-3


def _check_interval(value: Any, owner: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: interval must be seconds (a number > 0) or None, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}: interval must be a finite number of seconds > 0 "
                         f"(None = no time limit), got {value}")
    return float(value)


def _check_positive_int(value: Any, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an int >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be >= 1, got {value}")
    return int(value)


class Schedule:
    """An analysis plugin for ``Pipeline(plugins=[...])``: a function, when it runs, and how
    many past frames it sees.

    When due, ``fn(frames, detections)`` is called with the last ``frame_count`` frames
    (oldest first, ``frame_step`` frames apart; BGR ``numpy`` arrays, read-only) and the
    frame's tracked ``Detections``. Its return value (JSON-serialisable, or None) becomes
    ``pipeline.results[name]`` and is written to a ``.jsonl`` results file.

    Args:
        fn: ``fn(frames, detections) -> value``.
        name: key of the results (default: ``fn.__name__``; required for lambdas).
        every_n_frames: due only on frames whose index is a multiple of this.
        interval: due only when at least this many seconds of media time have passed since
            the last frame it was due on (None: no time limit). With ``every_n_frames`` too,
            both must hold.
        frame_count: number of frames ``fn`` receives (1 = the current frame only).
        frame_step: spacing, in frames, of those frames (as stream-infer's ``frame_step``):
            ``frame_count=3, frame_step=5`` gives frames i-10, i-5 and i.

    A frame is *due* from the cadence alone (every_n_frames / interval, decided from frame
    indices and media times, so a replay after a seek makes the same decisions); ``fn`` then
    runs only if that many consecutive frames have been seen since the start or the last
    seek. Otherwise the due frame is skipped, not postponed — as stream-infer skips an
    algorithm whose frame buffer is not full yet; the next due frame gets its turn.

    Example::

        def crowd(frames, detections):
            return {"people": int((detections.class_id == 0).sum())}

        def motion(frames, detections):           # frames[0] is 2 frames before frames[-1]
            return float(np.abs(frames[-1].astype(int) - frames[0]).mean())

        pipeline = vistream.Pipeline(detector, tracker, plugins=[
            vistream.Schedule(crowd, interval=1.0),
            vistream.Schedule(motion, every_n_frames=5, frame_count=3),
        ], results="out.jsonl")
        ...
        print(pipeline.results["crowd"])
    """

    def __init__(self, fn: PluginFn, name: Optional[str] = None, *, every_n_frames: int = 1,
                 interval: Optional[float] = None, frame_count: int = 1, frame_step: int = 1) -> None:
        if not callable(fn):
            raise TypeError(f"Schedule: fn must be callable as fn(frames, detections), got {type(fn).__name__}")
        if name is None:
            name = getattr(fn, "__name__", None)
            if not name or name == "<lambda>":
                raise ValueError("Schedule: give a name=... for this plugin (it has no usable __name__)")
        if not isinstance(name, str) or not name:
            raise TypeError(f"Schedule: name must be a non-empty string, got {name!r}")
        owner = f"Schedule {name!r}"
        self.fn = fn
        self.name = name
        self.every_n_frames = _check_positive_int(every_n_frames, "every_n_frames", owner)
        self.interval = _check_interval(interval, owner)
        self.frame_count = _check_positive_int(frame_count, "frame_count", owner)
        self.frame_step = _check_positive_int(frame_step, "frame_step", owner)

    @property
    def history(self) -> int:
        """Consecutive frames needed before ``fn`` can run (current frame included)."""
        return (self.frame_count - 1) * self.frame_step + 1

    def __repr__(self) -> str:
        return (f"Schedule({self.name!r}, every_n_frames={self.every_n_frames}, interval={self.interval}, "
                f"frame_count={self.frame_count}, frame_step={self.frame_step})")


# Cadence.due(previous=...) default: the frame before is index - 1.
_INDEX_BEFORE = object()

# Default bound of the per-frame memories of Pipeline and Cadence (frames): about 100 s at 30 fps.
DEFAULT_REPLAY_WINDOW = 3000


class Cadence:
    """Decides per frame whether a step is due: ``index % every_n_frames == 0`` and at least
    ``interval`` seconds of media time since the last due frame (the first frame is due).

    "The last due frame" is the one on the chain of frames played one after another, so the
    answer for a frame never depends on the order seeks happened in: each decision is kept
    per frame index (a frame shown again gets its first answer), and a frame reached by a
    seek continues from the frame before it if that one was seen. After a jump to media not
    played yet the chain starts afresh (that frame is due, if ``every_n_frames`` allows).
    Frames dropped in real time do not break the chain: the caller names the frame played
    before (``previous``), so ``interval`` counts media time across the gap. Without
    ``interval`` the rule is stateless and nothing is stored.

    Memory is bounded: decisions are kept for the last ``window`` frames decided (oldest
    first out); a frame revisited after its decision was dropped is decided again.

    Example::

        cadence = Cadence(every_n_frames=1, interval=0.1)
        [i for i in range(10) if cadence.due(i, i / 25)]   # [0, 3, 6, 9]: 0.12 s apart at 25 fps
    """

    def __init__(self, every_n_frames: int = 1, interval: Optional[float] = None, owner: str = "Cadence",
                 window: int = DEFAULT_REPLAY_WINDOW) -> None:
        self.every_n_frames = _check_positive_int(every_n_frames, "every_n_frames", owner)
        self.interval = _check_interval(interval, owner)
        self.window = _check_positive_int(window, "window", owner)
        # frame index -> (due?, media time of the latest due frame at or before it, None if none),
        # in the order decided (the oldest is dropped first)
        self._decisions: "OrderedDict[int, Tuple[bool, Optional[float]]]" = OrderedDict()

    def __len__(self) -> int:
        """Number of decisions remembered (at most ``window``)."""
        return len(self._decisions)

    def due(self, index: int, time: float, previous: Any = _INDEX_BEFORE) -> bool:
        """Whether the step runs on frame ``index`` (media time ``time``).

        ``previous``: index of the frame played just before this one on the same timeline
        (default ``index - 1``; larger gaps are frames dropped in real time), or None when
        this frame starts a timeline.
        """
        if self.interval is None:
            return index % self.every_n_frames == 0
        known = self._decisions.get(index)
        if known is not None:
            return known[0]
        if previous is _INDEX_BEFORE:
            previous = index - 1
        before = self._decisions.get(previous) if previous is not None else None
        last = before[1] if before is not None else None
        tolerance = min(_TIME_TOLERANCE, self.interval / 2)
        due = index % self.every_n_frames == 0 and (last is None or time - last >= self.interval - tolerance)
        self._decisions[index] = (due, time if due else last)
        while len(self._decisions) > self.window:
            self._decisions.popitem(last=False)
        return due
