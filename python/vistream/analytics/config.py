"""Zones from a YAML/JSON file (``--zones``) or from ``--line x1,y1,x2,y2``: named lines and
polygons, in pixels or relative to the frame size (0..1)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import MissingDependencyError, VistreamError
from .line import LineZone
from .polygon import PolygonZone

Zone = Any  # LineZone | PolygonZone
FrameSize = Tuple[int, int]

COORDINATES = ("auto", "absolute", "relative")
_LINE_KEYS = {"name", "start", "end", "anchors", "triggering_anchors", "min_distance",
              "minimum_crossing_threshold", "coordinates"}
_POLYGON_KEYS = {"name", "points", "polygon", "anchors", "triggering_anchors", "coordinates"}


class ZoneFileError(VistreamError, ValueError):
    """A zone file or ``--line`` value that cannot be used (the message names the file, the zone
    and what is wrong)."""


def _scale(values: Sequence[float], coordinates: str, frame_size: Optional[FrameSize], what: str) -> List[float]:
    """Pixels from ``values`` (x, y, x, y, ...): relative ones (0..1) times the frame size.

    ``auto``: relative when every value lies within [0, 1], else pixels."""
    if coordinates not in COORDINATES:
        raise ZoneFileError(f"{what}: coordinates must be one of {', '.join(COORDINATES)}, got {coordinates!r}")
    numbers = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ZoneFileError(f"{what}: coordinates must be finite numbers, got {value!r}")
        numbers.append(float(value))
    relative = coordinates == "relative" or (coordinates == "auto" and all(0.0 <= v <= 1.0 for v in numbers))
    if not relative:
        return numbers
    if coordinates == "relative" and not all(0.0 <= v <= 1.0 for v in numbers):
        raise ZoneFileError(f"{what}: relative coordinates lie within 0..1, got {numbers}")
    if frame_size is None:
        raise ZoneFileError(f"{what}: relative coordinates (0..1) need the frame size")
    width, height = frame_size
    return [v * (width if k % 2 == 0 else height) for k, v in enumerate(numbers)]


def parse_line(text: str, frame_size: Optional[FrameSize] = None, *, name: Optional[str] = None,
               coordinates: str = "auto", **options: Any) -> LineZone:
    """A ``LineZone`` from ``"x1,y1,x2,y2"`` (or ``"NAME=x1,y1,x2,y2"``), the ``--line`` syntax:
    pixels, or fractions of ``frame_size`` (width, height) when all four lie within 0..1.

    Example::

        parse_line("0,0.5,1,0.5", (1280, 720))   # a horizontal line across the middle
    """
    label, equals, numbers = text.rpartition("=")
    if equals:
        name = label.strip() or name
    parts = [p.strip() for p in numbers.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise ZoneFileError(f"--line needs x1,y1,x2,y2 (four numbers, pixels or 0..1 of the frame), got {text!r}")
    x1, y1, x2, y2 = _scale(values, coordinates, frame_size, f"--line {text!r}")
    try:
        return LineZone((x1, y1), (x2, y2), name=name, **options)
    except ValueError as error:
        raise ZoneFileError(f"--line {text!r}: {error}") from None


def load_zones(path: "str | os.PathLike[str]", frame_size: Optional[FrameSize] = None) -> Dict[str, Zone]:
    """Named zones from a YAML (``.yaml``/``.yml``, needs PyYAML) or JSON file.

    The file holds ``lines`` and ``polygons``, each a mapping from name to zone or a list of
    zones with a ``name``; ``coordinates`` (top level or per zone): ``absolute`` (pixels),
    ``relative`` (fractions of the frame's width and height) or ``auto`` (the default: relative
    when all of a zone's numbers lie within 0..1)::

        coordinates: relative
        lines:
          door: {start: [0.5, 0.0], end: [0.5, 1.0], anchors: [center], min_distance: 4}
        polygons:
          queue: [[0, 0.6], [0.3, 0.6], [0.3, 1], [0, 1]]
          counter: {points: [[900, 400], [1200, 400], [1200, 700], [900, 700]], coordinates: absolute}

    A line takes ``start``, ``end`` and optionally ``anchors`` (``triggering_anchors``),
    ``min_distance``, ``minimum_crossing_threshold``; a polygon ``points`` (``polygon``) or just
    its list of points, and optionally ``anchors``. Raises ``ZoneFileError`` naming the zone.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ZoneFileError(f"zone file {str(path)!r}: {error.strerror or error}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise MissingDependencyError(f"zone file {path.name!r} is YAML: pip install pyyaml "
                                         "(or write it as JSON)") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ZoneFileError(f"zone file {str(path)!r}: not valid YAML: {error}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ZoneFileError(f"zone file {str(path)!r}: not valid JSON: {error}") from None
    return zones_from_dict(data, frame_size, source=str(path))


def zones_from_dict(data: Any, frame_size: Optional[FrameSize] = None, *, source: str = "zones") -> Dict[str, Zone]:
    """The zones of a ``load_zones`` document already parsed (a dict)."""
    if not isinstance(data, Mapping):
        raise ZoneFileError(f"{source}: expected a mapping with 'lines' and/or 'polygons', got {type(data).__name__}")
    unknown = set(data) - {"lines", "polygons", "coordinates"}
    if unknown:
        raise ZoneFileError(f"{source}: unknown keys {sorted(unknown)}; use lines, polygons, coordinates")
    default = data.get("coordinates", "auto")
    zones: Dict[str, Zone] = {}
    for kind in ("lines", "polygons"):
        for number, (name, spec) in enumerate(_entries(data.get(kind), kind, source), start=1):
            name = name or f"{'line' if kind == 'lines' else 'zone'}{number}"
            what = f"{source}: {kind[:-1]} {name!r}"
            if name in zones:
                raise ZoneFileError(f"{what}: the name is used twice")
            zones[name] = (_line if kind == "lines" else _polygon)(name, spec, default, frame_size, what)
    if not zones:
        raise ZoneFileError(f"{source}: no lines or polygons")
    return zones


def _entries(section: Any, kind: str, source: str) -> List[Tuple[Optional[str], Any]]:
    if section is None:
        return []
    if isinstance(section, Mapping):
        return [(str(name), spec) for name, spec in section.items()]
    if isinstance(section, list):
        return [((spec.get("name") if isinstance(spec, Mapping) else None), spec) for spec in section]
    raise ZoneFileError(f"{source}: {kind} must be a mapping of name to zone or a list, got {type(section).__name__}")


def _line(name: str, spec: Any, default: str, frame_size: Optional[FrameSize], what: str) -> LineZone:
    if isinstance(spec, (list, tuple)) and len(spec) == 4:
        spec = {"start": spec[:2], "end": spec[2:]}
    if not isinstance(spec, Mapping) or "start" not in spec or "end" not in spec:
        raise ZoneFileError(f"{what}: needs start: [x, y] and end: [x, y]")
    unknown = set(spec) - _LINE_KEYS
    if unknown:
        raise ZoneFileError(f"{what}: unknown keys {sorted(unknown)}; use {', '.join(sorted(_LINE_KEYS))}")
    points = [*_pair(spec["start"], what), *_pair(spec["end"], what)]
    x1, y1, x2, y2 = _scale(points, spec.get("coordinates", default), frame_size, what)
    options = {key: spec[key] for key in ("min_distance", "minimum_crossing_threshold") if key in spec}
    anchors = spec.get("anchors", spec.get("triggering_anchors"))
    if anchors is not None:
        options["triggering_anchors"] = anchors
    try:
        return LineZone((x1, y1), (x2, y2), name=name, **options)
    except (TypeError, ValueError) as error:
        raise ZoneFileError(f"{what}: {error}") from None


def _polygon(name: str, spec: Any, default: str, frame_size: Optional[FrameSize], what: str) -> PolygonZone:
    if isinstance(spec, list):
        spec = {"points": spec}
    if not isinstance(spec, Mapping) or ("points" not in spec and "polygon" not in spec):
        raise ZoneFileError(f"{what}: needs points: [[x, y], ...]")
    unknown = set(spec) - _POLYGON_KEYS
    if unknown:
        raise ZoneFileError(f"{what}: unknown keys {sorted(unknown)}; use {', '.join(sorted(_POLYGON_KEYS))}")
    raw = spec.get("points", spec.get("polygon"))
    if not isinstance(raw, list):
        raise ZoneFileError(f"{what}: points must be a list of [x, y]")
    flat = [v for point in raw for v in _pair(point, what)]
    scaled = _scale(flat, spec.get("coordinates", default), frame_size, what)
    options = {}
    anchors = spec.get("anchors", spec.get("triggering_anchors"))
    if anchors is not None:
        options["triggering_anchors"] = anchors
    try:
        return PolygonZone(list(zip(scaled[0::2], scaled[1::2])), name=name, **options)
    except (TypeError, ValueError) as error:
        raise ZoneFileError(f"{what}: {error}") from None


def _pair(value: Any, what: str) -> Tuple[Any, Any]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ZoneFileError(f"{what}: a point is [x, y], got {value!r}")
    return value[0], value[1]
