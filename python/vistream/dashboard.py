"""``DashboardSnapshot``: what a running ``Pipeline`` shows a dashboard (``pipeline.dashboard()``).

The pipeline builds one snapshot at the end of every frame, on its own thread, from what it already
has (the tracked detections, the zones' counts, its stage timings, the decoupled and sink
counters), and publishes it with one reference assignment: a reader on another thread (a web
server) gets the latest complete frame's snapshot and never sees one half built. Snapshots are
immutable; the costly part, the JSON rows, is only built when ``to_json()`` is called.

Counts over time (``counts`` in the JSON) are series keyed by media time, one point per frame the
pipeline processed, the last ``SERIES_LENGTH`` points. A frame at or before the newest point's
time (a backward seek, a step back, a loop restart, the same frame shown again) first cuts the
series back to the points before it, so a chart never runs backwards or zig-zags: after a seek
back it continues from there, as a fresh forward run would show it. A forward seek leaves a gap
in time.
"""

from __future__ import annotations

import bisect
from time import monotonic
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from .detections import Detections
from .stats import StageTiming, StageTimings

#: points kept per counts series (10 s at 30 fps)
SERIES_LENGTH = 300

#: weight of the newest run in a stage's mean time
_EMA_WEIGHT = 0.1

#: how often decoupled stats (a percentile over thousands of samples) are rebuilt, seconds
_DECOUPLED_PERIOD = 0.25


class StageClock:
    """The pipeline thread's per-stage timers (not public): last, mean and count per stage."""

    __slots__ = ("frames", "_stages", "_plugins")

    def __init__(self) -> None:
        self.frames = 0
        self._stages: Dict[str, List[float]] = {}   # stage -> [last ms, mean ms, runs]
        self._plugins: Dict[str, List[float]] = {}

    @staticmethod
    def _add(table: Dict[str, List[float]], key: str, ms: float) -> None:
        entry = table.get(key)
        if entry is None:
            table[key] = [ms, ms, 1]
        else:
            entry[0] = ms
            entry[1] += _EMA_WEIGHT * (ms - entry[1])
            entry[2] += 1

    def add(self, stage: str, ms: float) -> None:
        self._add(self._stages, stage, ms)

    def add_plugin(self, name: str, ms: float) -> None:
        self._add(self._plugins, name, ms)

    def timings(self) -> StageTimings:
        def one(entry: Optional[List[float]]) -> Optional[StageTiming]:
            return None if entry is None else StageTiming(entry[0], entry[1], int(entry[2]))

        stages = self._stages
        return StageTimings(frames=self.frames, detect=one(stages.get("detect")), track=one(stages.get("track")),
                            classify=one(stages.get("classify")),
                            plugins={name: one(entry) for name, entry in self._plugins.items()},
                            annotate=one(stages.get("annotate")), total=one(stages.get("total")))


class _Columns:
    """Aligned series columns. Lists are only ever appended to past every published snapshot's
    end; a cut or a compaction makes a new ``_Columns``, so a published snapshot's points never
    change under its reader."""

    __slots__ = ("time", "total", "by_class", "zones")

    def __init__(self, time: List[float], total: List[int], by_class: Dict[str, List[int]],
                 zones: Dict[str, Dict[str, List[int]]]) -> None:
        self.time = time
        self.total = total
        self.by_class = by_class        # copied (not mutated) when a class appears
        self.zones = zones              # likewise when a zone or a zone key appears

    def sliced(self, start: int, end: int) -> "_Columns":
        return _Columns(self.time[start:end], self.total[start:end],
                        {name: values[start:end] for name, values in self.by_class.items()},
                        {zone: {key: values[start:end] for key, values in columns.items()}
                         for zone, columns in self.zones.items()})


def series_json(columns: _Columns, end: int, length: int = SERIES_LENGTH) -> Dict[str, Any]:
    """The last ``length`` points before ``end`` of ``columns`` (what ``CountSeries.add``
    returned), as JSON-ready lists: ``{"time", "total", "by_class", "zones"}``."""
    start = max(0, end - length)
    return {"time": columns.time[start:end], "total": columns.total[start:end],
            "by_class": {name: values[start:end] for name, values in columns.by_class.items()},
            "zones": {zone: {key: values[start:end] for key, values in zone_columns.items()}
                      for zone, zone_columns in columns.zones.items()}}


class CountSeries:
    """The pipeline thread's counts over time (not public): see the module docstring."""

    def __init__(self, length: int = SERIES_LENGTH) -> None:
        self.length = length
        self.columns = _Columns([], [], {}, {})

    def add(self, time: float, total: int, by_class: Mapping[str, int],
            zones: Mapping[str, Mapping[str, int]]) -> Tuple[_Columns, int]:
        """Appends one frame's point; returns (columns, end) for a snapshot."""
        columns = self.columns
        if columns.time and time <= columns.time[-1]:
            columns = columns.sliced(0, bisect.bisect_left(columns.time, time))
        elif len(columns.time) >= 2 * self.length:
            columns = columns.sliced(len(columns.time) - self.length + 1, len(columns.time))
            # a class not seen for a whole window leaves the chart
            columns.by_class = {name: values for name, values in columns.by_class.items() if any(values)}
        n = len(columns.time)
        if any(name not in columns.by_class for name in by_class):
            columns = _Columns(columns.time, columns.total, dict(columns.by_class), columns.zones)
            for name in by_class:
                columns.by_class.setdefault(name, [0] * n)
        for zone, values in zones.items():
            known = columns.zones.get(zone)
            if known is None or any(key not in known for key in values):
                zones_copy = dict(columns.zones)
                zone_columns = dict(known or {})
                for key in values:
                    zone_columns.setdefault(key, [0] * n)
                zones_copy[zone] = zone_columns
                columns = _Columns(columns.time, columns.total, columns.by_class, zones_copy)
        columns.time.append(time)
        columns.total.append(total)
        for name, values in columns.by_class.items():
            values.append(by_class.get(name, 0))
        for zone, zone_columns in columns.zones.items():
            current = zones.get(zone)
            for key, values in zone_columns.items():
                # a zone that gave no counts on this frame (its plugin not due) holds its last value
                values.append(current[key] if current is not None and key in current
                              else (values[-1] if values else 0))
        self.columns = columns
        return columns, n + 1

    def clear(self) -> None:
        self.columns = _Columns([], [], {}, {})


class DashboardSnapshot:
    """One processed frame as a dashboard shows it (``pipeline.dashboard()``); immutable.

    Attributes:
        index, time, serial: the frame's index, media time and timeline serial (None off a Player).
        detections: the frame's tracked ``Detections`` (what the annotators drew).
        timings: the pipeline's ``StageTimings`` after this frame.
        zones: ``{zone: {"kind": "line", "in": n, "out": n}}`` or
            ``{zone: {"kind": "polygon", "occupancy": n}}`` of the pipeline's ``ZoneAnalytics``
            plugins ({} without).
        decoupled: the ``DecoupledStats`` of ``decoupled=True`` (refreshed 4 times a second), or None.
        highlighted: the track id drawn emphasised, or None.
    """

    __slots__ = ("index", "time", "serial", "detections", "timings", "zones", "decoupled", "highlighted",
                 "_columns", "_end", "_length", "_sinks")

    def __init__(self, *, index: int, time: float, serial: Optional[int], detections: Detections,
                 timings: StageTimings, zones: Dict[str, Dict[str, Any]], decoupled: Any,
                 highlighted: Optional[int], columns: _Columns, end: int, length: int,
                 sinks: Tuple[Any, ...]) -> None:
        self.index = index
        self.time = time
        self.serial = serial
        self.detections = detections
        self.timings = timings
        self.zones = zones
        self.decoupled = decoupled
        self.highlighted = highlighted
        self._columns = columns
        self._end = end
        self._length = length
        self._sinks = sinks

    def counts(self) -> Dict[str, Any]:
        """The counts series up to this frame: ``{"time": [...], "total": [...],
        "by_class": {name: [...]}, "zones": {zone: {key: [...]}}}`` (the last ``SERIES_LENGTH``
        points; a class absent on a frame counts 0 there)."""
        return series_json(self._columns, self._end, self._length)

    def rows(self) -> List[Dict[str, Any]]:
        """``detection_rows(self.detections)``: one dict per detection."""
        return detection_rows(self.detections)

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict (``json.dumps`` takes it as is): ``index``, ``time``, ``serial``,
        ``detections`` (``rows()``), ``counts``, ``zones``, ``timings``, ``decoupled``, ``sinks``
        (``{name: SinkStats fields}``, read now), ``highlighted``."""
        from dataclasses import asdict

        return {"index": self.index, "time": self.time, "serial": self.serial, "detections": self.rows(),
                "counts": self.counts(), "zones": {zone: dict(values) for zone, values in self.zones.items()},
                "timings": self.timings.to_json(),
                "decoupled": None if self.decoupled is None else asdict(self.decoupled),
                "sinks": {sink.name: asdict(sink.stats) for sink in self._sinks},
                "highlighted": self.highlighted}

    def __repr__(self) -> str:
        return (f"DashboardSnapshot(index={self.index}, time={self.time:.3f}, detections={len(self.detections)}, "
                f"points={min(self._end, self._length)})")


def detection_rows(detections: Detections) -> List[Dict[str, Any]]:
    """One JSON-ready dict per detection: ``track_id`` (None untracked), ``class_id``,
    ``class_name``, ``score`` (None without), ``box`` ([x1, y1, x2, y2] in pixels)."""
    d = detections
    n = len(d)
    if n == 0:
        return []
    boxes = np.asarray(d.xyxy, dtype=np.float64).round(1).tolist()
    classes = np.asarray(d.class_id).tolist() if d.class_id is not None else [None] * n
    names = [str(name) for name in d.class_name.tolist()] if d.class_id is not None else [None] * n
    scores = (np.asarray(d.confidence, dtype=np.float64).round(4).tolist() if d.confidence is not None
              else [None] * n)
    ids = np.asarray(d.tracker_id).tolist() if d.tracker_id is not None else [None] * n
    return [{"track_id": ids[i], "class_id": classes[i], "class_name": names[i], "score": scores[i],
             "box": boxes[i]} for i in range(n)]


def class_counts(detections: Detections) -> Dict[str, int]:
    """``{class name: count}`` of one frame's detections, cheaply (one np.unique)."""
    if len(detections) == 0 or detections.class_id is None:
        return {}
    ids, first, counts = np.unique(np.asarray(detections.class_id), return_index=True, return_counts=True)
    names = detections.data.get("class_name")
    if names is not None:
        labels = [str(names[i]) for i in first.tolist()]
    else:
        table = detections.class_names or {}
        labels = [table.get(int(c), str(int(c))) for c in ids.tolist()]
    result: Dict[str, int] = {}
    for label, count in zip(labels, counts.tolist()):
        result[label] = result.get(label, 0) + count
    return result


def zone_counts(analytics: Any) -> Dict[str, Dict[str, Any]]:
    """The current counts of a ``ZoneAnalytics``' zones: lines in/out, polygons' occupancy."""
    from .analytics import LineZone

    counts: Dict[str, Dict[str, Any]] = {}
    for name, zone in analytics.zones.items():
        if isinstance(zone, LineZone):
            counts[name] = {"kind": "line", "in": int(zone.in_count), "out": int(zone.out_count)}
        else:
            counts[name] = {"kind": "polygon", "occupancy": int(zone.current_count)}
    return counts


class DashboardBuilder:
    """Builds the pipeline's snapshots on its thread (not public)."""

    def __init__(self, plugins: List[Any], sinks: List[Any], decoupled: Optional[Callable[[], Any]]) -> None:
        from .analytics import ZoneAnalytics

        self.series = CountSeries()
        # ZoneAnalytics among the Schedule plugins (ZoneAnalytics.schedule() marks its function)
        self._analytics = [(p.name, p.fn.analytics) for p in plugins
                           if isinstance(getattr(p.fn, "analytics", None), ZoneAnalytics)]
        self._sinks = tuple(sinks)
        self._decoupled = decoupled
        self._decoupled_stats: Any = None
        self._decoupled_at = -1e9
        self.latest: Optional[DashboardSnapshot] = None

    def publish(self, index: int, time: float, serial: Optional[int], detections: Detections,
                timings: StageTimings, highlighted: Optional[int]) -> None:
        zones: Dict[str, Dict[str, Any]] = {}
        for plugin_name, analytics in self._analytics:
            for zone, values in zone_counts(analytics).items():
                # two ZoneAnalytics plugins with a zone of the same name: the plugin's name tells them apart
                zones[zone if zone not in zones else f"{plugin_name}/{zone}"] = values
        series_values = {zone: {k: v for k, v in values.items() if k != "kind"} for zone, values in zones.items()}
        columns, end = self.series.add(float(time), len(detections), class_counts(detections), series_values)
        if self._decoupled is not None:
            now = monotonic()
            if now - self._decoupled_at >= _DECOUPLED_PERIOD:
                self._decoupled_stats, self._decoupled_at = self._decoupled(), now
        self.latest = DashboardSnapshot(index=index, time=float(time), serial=serial, detections=detections,
                                        timings=timings, zones=zones, decoupled=self._decoupled_stats,
                                        highlighted=highlighted, columns=columns, end=end,
                                        length=self.series.length, sinks=self._sinks)


__all__ = ["DashboardSnapshot", "SERIES_LENGTH"]
