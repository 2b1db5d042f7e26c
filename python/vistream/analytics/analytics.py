"""``ZoneAnalytics``: lines and polygons together over a video — events (enter, exit, cross in/out)
with frame, media time and track, dwell times per track per zone, counts over time — as a
``Pipeline`` plugin whose per-frame values go into the results."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Deque, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np

from ..detections import Detections
from ..schedule import Schedule, _check_positive_int
from .line import LineZone, check_number, require_track_ids
from .polygon import PolygonZone

Zone = Union[LineZone, PolygonZone]

#: event kinds
ENTER, EXIT, CROSS_IN, CROSS_OUT = "enter", "exit", "cross_in", "cross_out"


@dataclass(frozen=True)
class ZoneEvent:
    """Something a track did at a zone.

    Attributes:
        kind: "enter" / "exit" (polygons), "cross_in" / "cross_out" (lines).
        zone: the zone's name.
        frame: index of the frame it happened on (an exit: the first frame the track was no
            longer inside; for a lost track, the frame after its last sighting).
        time: that frame's media time in seconds (``frame.time``).
        tracker_id / class_id / class_name: the track, and its class on that frame.
        dwell: exit events: seconds the track was inside on this visit, else None.
    """

    kind: str
    zone: str
    frame: int
    time: float
    tracker_id: int
    class_id: int
    class_name: Optional[str] = None
    dwell: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        """The event as a JSON-ready dict (None fields left out)."""
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass
class _Visit:
    enter_time: float
    class_id: int
    class_name: Optional[str]
    last_time: float      # media time of the last frame the track was seen inside
    last_index: int


class ZoneAnalytics:
    """Named lines and polygons measured over a video: counts, events, dwell times, series.

    Call :meth:`update` once per frame with the tracked detections, the frame's index and its
    media time (``frame.time``), or hand :meth:`schedule` to a ``Pipeline`` as a plugin: its
    value on each frame (``pipeline.results[name]`` and the ``"plugins"`` field of a ``.jsonl``
    results file) is ``{"counts": {zone: {...}}, "events": [...]}`` ("events" only on frames
    that have some).

    Dwell time: a track's visit to a polygon lasts from the media time of the first frame it is
    inside to that of the first frame it is seen outside again: the time it spent inside,
    whatever the frame rate, variable rates and frames the detector skipped included (held
    detections keep a track where the detector last saw it). A track that vanishes while
    inside (the tracker lost it) leaves after ``lost_after`` seconds of media time without a
    sighting, at the end of the last frame it was seen on; if it reappears inside before that,
    the visit goes on. ``dwell_times(zone)`` sums each track's visits, counting a visit still
    under way up to the end of the last frame seen.

    Frames are counted once: a frame shown again (a seek or step back replays frames the
    pipeline has seen) changes nothing and yields None; a jump back to frames not seen yet
    starts the tracks' zone states afresh (visits under way end where their track was last
    seen) but keeps the counts.

    Args:
        zones: ``{name: zone}``, or zones (names from ``zone.name``, else ``line1``, ``zone1``...).
        lost_after: media seconds without a sighting after which a track inside a polygon
            has left.
        max_events: how many events ``events`` keeps (the oldest go first); the counts and
            dwell times are not bounded by it.

    Example::

        analytics = ZoneAnalytics({"door": LineZone((600, 0), (600, 720)),
                                   "queue": PolygonZone([(0, 400), (300, 400), (300, 720), (0, 720)])})
        pipeline = vistream.Pipeline(detector, ByteTrack(), plugins=[analytics.schedule()],
                                     results="out.jsonl")
        ...
        print(analytics.summary())
    """

    def __init__(self, zones: Union[Mapping[str, Zone], Iterable[Zone]], *, lost_after: float = 1.0,
                 max_events: int = 100_000) -> None:
        self.zones: Dict[str, Zone] = _named_zones(zones)
        self.lost_after = check_number(lost_after, "lost_after", "ZoneAnalytics")
        self.events: Deque[ZoneEvent] = deque(maxlen=_check_positive_int(max_events, "max_events", "ZoneAnalytics"))
        self._visits: Dict[str, Dict[int, _Visit]] = {n: {} for n, z in self.zones.items() if isinstance(z, PolygonZone)}
        self._dwell: Dict[str, Dict[int, float]] = {n: {} for n in self._visits}
        self._entries: Dict[str, int] = dict.fromkeys(self._visits, 0)
        self._max_count: Dict[str, int] = dict.fromkeys(self._visits, 0)
        self._series: Dict[str, Dict[str, List[float]]] = {}
        self._seen: set = set()           # frame indices counted (bounded: see _remember)
        self._seen_order: Deque[int] = deque()
        self._last_index: Optional[int] = None
        self._last_time: Optional[float] = None
        self._frame_duration = 0.0
        self.frames = 0

    # -- per frame ------------------------------------------------------------------------
    def update(self, detections: Detections, index: int, time: float) -> Optional[Dict[str, Any]]:
        """Counts one frame (its tracked detections, index and media time); returns the frame's
        ``{"counts": ..., "events": [...]}``, or None for a frame already counted."""
        if any(isinstance(z, LineZone) for z in self.zones.values()):
            require_track_ids(detections, "ZoneAnalytics")
        index, time = int(index), float(time)
        if index in self._seen:
            return None
        if self._last_index is not None and index < self._last_index:
            self._restart_tracks()
        elif self._last_index is not None and index == self._last_index + 1 and time > self._last_time:
            self._frame_duration = time - self._last_time
        self._remember(index)
        self.frames += 1
        names = detections.class_name.tolist() if len(detections) else []
        has_ids = detections.tracker_id is not None
        ids = detections.tracker_id.tolist() if has_ids else []
        classes = detections.class_id.tolist()
        events: List[ZoneEvent] = []
        counts: Dict[str, Dict[str, int]] = {}
        for name, zone in self.zones.items():
            if isinstance(zone, LineZone):
                crossed_in, crossed_out = zone.trigger(detections)
                for i in np.flatnonzero(crossed_in | crossed_out).tolist():
                    kind = CROSS_IN if crossed_in[i] else CROSS_OUT
                    events.append(ZoneEvent(kind, name, index, time, ids[i], classes[i], str(names[i])))
                counts[name] = {"in": zone.in_count, "out": zone.out_count}
            else:
                inside = zone.trigger(detections)
                if has_ids or not len(detections):  # no detection at all: lost tracks may time out
                    events += self._visit(name, inside, ids, classes, names, index, time)
                self._max_count[name] = max(self._max_count[name], zone.current_count)
                counts[name] = {"count": zone.current_count}
            self._record_series(name, index, time, counts[name])
        self.events.extend(events)
        self._last_index, self._last_time = index, time
        value: Dict[str, Any] = {"counts": counts}
        if events:
            value["events"] = [event.to_dict() for event in events]
        return value

    def _visit(self, name: str, inside: np.ndarray, ids: List[int], classes: List[int], names: List[Any],
               index: int, time: float) -> List[ZoneEvent]:
        visits = self._visits[name]
        events: List[ZoneEvent] = []
        seen = set()
        for i, tid in enumerate(ids):
            if tid < 0:
                continue
            seen.add(tid)
            visit = visits.get(tid)
            if inside[i]:
                if visit is None:
                    visits[tid] = _Visit(time, classes[i], str(names[i]), time, index)
                    self._entries[name] += 1
                    events.append(ZoneEvent(ENTER, name, index, time, tid, classes[i], str(names[i])))
                else:
                    visit.last_time, visit.last_index = time, index
            elif visit is not None:
                events.append(self._leave(name, tid, index, time))
        for tid in [t for t in visits if t not in seen]:
            visit = visits[tid]
            if time - visit.last_time > self.lost_after:
                events.append(self._leave(name, tid, visit.last_index + 1, visit.last_time + self._frame_duration))
        return events

    def _leave(self, name: str, tid: int, index: int, time: float) -> ZoneEvent:
        visit = self._visits[name].pop(tid)
        dwell = max(0.0, time - visit.enter_time)
        self._dwell[name][tid] = self._dwell[name].get(tid, 0.0) + dwell
        return ZoneEvent(EXIT, name, index, time, tid, visit.class_id, visit.class_name, dwell)

    def _restart_tracks(self) -> None:
        events = []
        for name, visits in self._visits.items():
            for tid in list(visits):
                visit = visits[tid]
                events.append(self._leave(name, tid, visit.last_index + 1, visit.last_time + self._frame_duration))
        self.events.extend(events)
        for zone in self.zones.values():
            if isinstance(zone, LineZone):
                zone.forget_tracks()  # sides seen on the other timeline say nothing here

    # Frames remembered as counted: far more than a Pipeline replays (its replay_window).
    _SEEN_WINDOW = 100_000

    def _remember(self, index: int) -> None:
        self._seen.add(index)
        self._seen_order.append(index)
        if len(self._seen_order) > self._SEEN_WINDOW:
            self._seen.discard(self._seen_order.popleft())

    def _record_series(self, name: str, index: int, time: float, values: Dict[str, int]) -> None:
        """Appends a point when a zone's counts change (and the first frame): a step function."""
        series = self._series.get(name)
        if series is None:
            series = self._series[name] = {"frame": [], "time": [], **{key: [] for key in values}}
        elif all(series[key][-1] == value for key, value in values.items()):
            return
        series["frame"].append(index)
        series["time"].append(time)
        for key, value in values.items():
            series[key].append(value)

    # -- as a Pipeline plugin --------------------------------------------------------------
    def schedule(self, name: str = "zones", *, every_n_frames: int = 1) -> Schedule:
        """This analytics as a ``Pipeline`` plugin named ``name`` (its results key).

        Example::

            pipeline = vistream.Pipeline(detector, tracker, plugins=[analytics.schedule()])
        """

        def zones(frames: List[Any], detections: Detections, *, index: int, time: float) -> Optional[Dict[str, Any]]:
            return self.update(detections, index, time)

        zones.takes_frame_time = True  # type: ignore[attr-defined]  # the Pipeline passes index= and time= (media seconds)
        zones.accepts = frozenset({"numpy", "torch"})  # never looks at the pixels: no host copy for it
        zones.analytics = self  # type: ignore[attr-defined]  # what the command line summarises
        return Schedule(zones, name=name, every_n_frames=every_n_frames)

    # -- results --------------------------------------------------------------------------
    def dwell_times(self, zone: str) -> Dict[int, float]:
        """``{tracker_id: seconds}`` each track spent inside polygon ``zone`` (visits summed; a
        visit under way counts up to the end of the last frame seen)."""
        if zone not in self._dwell:
            kinds = "a line" if zone in self.zones else "no zone"
            raise KeyError(f"ZoneAnalytics: {zone!r} is {kinds}; dwell times are kept for polygons: "
                           f"{', '.join(self._dwell) or 'none'}")
        totals = dict(self._dwell[zone])
        for tid, visit in self._visits[zone].items():
            totals[tid] = totals.get(tid, 0.0) + visit.last_time + self._frame_duration - visit.enter_time
        return totals

    @property
    def series(self) -> Dict[str, Dict[str, List[float]]]:
        """Counts over time per zone, one point per change (and the first frame), as columns:
        ``{"frame": [...], "time": [...], "in": [...], "out": [...]}`` for lines (cumulative),
        ``{"frame": [...], "time": [...], "count": [...]}`` for polygons (occupancy); hold each
        value until the next point (a step plot)."""
        return {name: {key: list(values) for key, values in series.items()} for name, series in self._series.items()}

    def summary(self) -> Dict[str, Dict[str, Any]]:
        """Per zone: lines ``{"kind": "line", "in", "out", "in_per_class", "out_per_class"}``;
        polygons ``{"kind": "polygon", "count", "max_count", "entries", "dwell": {tracker_id:
        seconds}, "mean_dwell"}``. Class keys are class names when the detections had them."""
        result: Dict[str, Dict[str, Any]] = {}
        for name, zone in self.zones.items():
            if isinstance(zone, LineZone):
                label = lambda c: zone.class_id_to_name.get(c, str(c))  # noqa: E731
                result[name] = {"kind": "line", "in": zone.in_count, "out": zone.out_count,
                                "in_per_class": {label(c): n for c, n in zone.in_count_per_class.items()},
                                "out_per_class": {label(c): n for c, n in zone.out_count_per_class.items()}}
            else:
                dwell = self.dwell_times(name)
                result[name] = {"kind": "polygon", "count": zone.current_count, "max_count": self._max_count[name],
                                "entries": self._entries[name], "dwell": dwell,
                                "mean_dwell": float(np.mean(list(dwell.values()))) if dwell else None}
        return result

    def summary_lines(self) -> List[str]:
        """The summary as short lines of text (what the command line prints at the end)."""
        lines = []
        for name, s in self.summary().items():
            if s["kind"] == "line":
                per_class = ""
                if len(set(s["in_per_class"]) | set(s["out_per_class"])) > 1:
                    per_class = " (" + ", ".join(f"{c}: in {s['in_per_class'].get(c, 0)} out {s['out_per_class'].get(c, 0)}"
                                                 for c in sorted(set(s["in_per_class"]) | set(s["out_per_class"]))) + ")"
                lines.append(f"line {name}: in {s['in']}, out {s['out']}{per_class}")
            else:
                mean = f", mean dwell {s['mean_dwell']:.2f} s" if s["mean_dwell"] is not None else ""
                lines.append(f"zone {name}: {s['entries']} entries, max occupancy {s['max_count']}, "
                             f"now {s['count']}{mean}")
        return lines


def _named_zones(zones: Union[Mapping[str, Zone], Iterable[Zone]]) -> Dict[str, Zone]:
    if isinstance(zones, (LineZone, PolygonZone)):
        zones = [zones]
    if isinstance(zones, Mapping):
        items: List[Tuple[Optional[str], Any]] = list(zones.items())
    else:
        try:
            items = [(None, zone) for zone in zones]
        except TypeError:
            raise TypeError(f"ZoneAnalytics: zones must be a dict or a list of LineZone/PolygonZone, "
                            f"got {type(zones).__name__}") from None
    named: Dict[str, Zone] = {}
    numbers = {"line": 0, "zone": 0}
    for name, zone in items:
        if not isinstance(zone, (LineZone, PolygonZone)):
            raise TypeError(f"ZoneAnalytics: expected LineZone or PolygonZone, got {type(zone).__name__}")
        kind = "line" if isinstance(zone, LineZone) else "zone"
        numbers[kind] += 1
        name = name or zone.name or f"{kind}{numbers[kind]}"
        if not isinstance(name, str):
            raise TypeError(f"ZoneAnalytics: zone names must be strings, got {name!r}")
        if name in named:
            raise ValueError(f"ZoneAnalytics: two zones are named {name!r}; names key the events and counts")
        zone.name = name
        named[name] = zone
    if not named:
        raise ValueError("ZoneAnalytics: give at least one zone")
    return named
