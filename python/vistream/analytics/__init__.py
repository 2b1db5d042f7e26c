"""Zones and counting on tracked detections, with supervision's call shape: ``LineZone``
(crossings in/out per class and per track, with hysteresis), ``PolygonZone`` (occupancy),
``ZoneAnalytics`` (events, dwell times per track, counts over time, as a ``Pipeline`` plugin),
and zones from YAML/JSON files. Drawing: ``vistream.annotate.LineZoneAnnotator``,
``ZoneAnnotator`` and ``HeatmapAnnotator``. See docs/analytics.md.

Example::

    from vistream.analytics import LineZone, PolygonZone, ZoneAnalytics

    line = LineZone(start=(0, 360), end=(1280, 360))
    for frame in reader:
        detections = tracker.update(detector(frame.array))
        crossed_in, crossed_out = line.trigger(detections)
    print(line.in_count, line.out_count)
"""

from .analytics import ZoneAnalytics, ZoneEvent
from .config import ZoneFileError, load_zones, parse_line, zones_from_dict
from .geometry import Position
from .line import LineZone, TrackIdsRequiredError
from .polygon import PolygonZone

__all__ = [
    "LineZone",
    "PolygonZone",
    "Position",
    "ZoneAnalytics",
    "ZoneEvent",
    "TrackIdsRequiredError",
    "ZoneFileError",
    "load_zones",
    "parse_line",
    "zones_from_dict",
]
