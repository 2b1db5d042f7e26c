"""``ResultHistory``: each plugin's values per media time, in a bounded window (``pipeline.history``)."""

from __future__ import annotations

import bisect
import math
import threading
from typing import Any, Dict, Iterator, List, Optional

#: the history entry of the pipeline's own output (the detector's, tracked when there is a tracker)
DETECTIONS = "detections"


class _Series:
    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times: List[float] = []          # sorted media times
        self.values: Dict[float, Any] = {}


class ResultHistory:
    """What the Pipeline produced per media time: ``history[name]`` is ``{time: value}`` in
    time order, like stream-infer's Dispatcher (``{name: {time: data}}``).

    Names: ``"detections"`` (the pipeline's output on every frame: the detector's detections,
    tracked when there is a tracker; on frames the detector skips, the held result) and each
    plugin's name (its value on the frames it ran on; ``None`` values are left out).

    The window is bounded so a live stream runs in constant memory: per name at most
    ``max_items`` entries (None: no count limit) within ``max_seconds`` of media time of the
    current frame (None: no time limit). The entries farthest from the current frame go first:
    the oldest while playing forward, the ones ahead after a seek back. A revisited time
    (seek, step back) gets the new value in place. Thread-safe: read it from any thread.

    Example::

        pipeline = vistream.Pipeline(detector, tracker, plugins=[Schedule(count, name="count")],
                                     history=ResultHistory(max_seconds=60))
        ...
        counts = pipeline.history["count"]            # {0.0: 3, 0.033: 3, ...}
        pipeline.history.at("detections", 12.5)       # what was shown at 12.5 s
    """

    def __init__(self, max_items: Optional[int] = 300, max_seconds: Optional[float] = 60.0) -> None:
        if max_items is not None and (not isinstance(max_items, int) or max_items < 0):
            raise ValueError(f"ResultHistory: max_items must be an int >= 0 or None, got {max_items!r}")
        if max_seconds is not None and not (max_seconds >= 0 and math.isfinite(max_seconds)):
            raise ValueError(f"ResultHistory: max_seconds must be >= 0 or None, got {max_seconds!r}")
        self.max_items = max_items
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self._lock = threading.Lock()
        self._series: Dict[str, _Series] = {}

    @property
    def enabled(self) -> bool:
        """False with ``max_items=0``: nothing is kept."""
        return self.max_items != 0

    def record(self, name: str, time: float, value: Any) -> None:
        """Keeps ``value`` as ``name``'s result at media ``time`` (the current frame's)."""
        if not self.enabled:
            return
        time = float(time)
        with self._lock:
            series = self._series.get(name)
            if series is None:
                series = self._series[name] = _Series()
            times = series.times
            if time not in series.values:
                if not times or time > times[-1]:
                    times.append(time)  # playing forward: the usual case, O(1)
                else:
                    bisect.insort(times, time)
            series.values[time] = value
            self._trim(series, time)

    def trim(self, now: float) -> None:
        """Applies the window around media time ``now`` (the current frame's) to every name: the
        Pipeline calls it on every frame, so a plugin that stopped running ages out too."""
        with self._lock:
            for series in self._series.values():
                self._trim(series, float(now))

    def _trim(self, series: _Series, now: float) -> None:
        times, values = series.times, series.values
        span = self.max_seconds
        while times:
            too_many = self.max_items is not None and len(times) > self.max_items
            first_far, last_far = now - times[0], times[-1] - now
            too_old = span is not None and (first_far > span or last_far > span)
            if not (too_many or too_old):
                return
            values.pop(times.pop(0) if first_far >= last_far else times.pop())

    def __getitem__(self, name: str) -> Dict[float, Any]:
        """``{time: value}`` of ``name`` in time order (a copy). KeyError for a name never recorded."""
        with self._lock:
            series = self._series[name]
            return {time: series.values[time] for time in series.times}

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def at(self, name: str, time: float, default: Any = None) -> Any:
        """``name``'s value at media ``time``, or the last one before it (sample and hold), or ``default``."""
        with self._lock:
            series = self._series.get(name)
            if series is None:
                return default
            i = bisect.bisect_right(series.times, float(time) + 1e-9)
            return series.values[series.times[i - 1]] if i else default

    def between(self, name: str, start: float, end: float) -> Dict[float, Any]:
        """``{time: value}`` of ``name`` with ``start <= time <= end``."""
        with self._lock:
            series = self._series.get(name)
            if series is None:
                return {}
            lo = bisect.bisect_left(series.times, float(start))
            hi = bisect.bisect_right(series.times, float(end))
            return {time: series.values[time] for time in series.times[lo:hi]}

    def names(self) -> List[str]:
        with self._lock:
            return list(self._series)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._series

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        with self._lock:
            return len(self._series)

    def clear(self) -> None:
        with self._lock:
            self._series.clear()

    def __repr__(self) -> str:
        with self._lock:
            sizes = {name: len(series.times) for name, series in self._series.items()}
        return f"ResultHistory(max_items={self.max_items}, max_seconds={self.max_seconds}, entries={sizes})"
