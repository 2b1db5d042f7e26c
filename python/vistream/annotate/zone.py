"""``LineZoneAnnotator`` and ``ZoneAnnotator``: a counting line or a polygon zone, with its counts."""

from __future__ import annotations

from typing import Any, Optional, Tuple

import cv2
import numpy as np

from ..analytics.line import LineZone
from ..analytics.polygon import PolygonZone
from ..detections import Detections
from ._base import auto_thickness, check_float, check_size, cv2_canvas, scale_of
from .colors import Color, text_color_for

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _check_image(image: Any) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TypeError("image must be an (H, W, 3) uint8 numpy array")
    if not image.flags.writeable:
        raise ValueError("image is read-only; annotators draw in place")


def _check_color(value: Any, name: str) -> Color:
    try:
        b, g, r = (int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a (B, G, R) triple, got {value!r}") from None
    if not all(0 <= v <= 255 for v in (b, g, r)):
        raise ValueError(f"{name} values must be within 0..255, got {value!r}")
    return b, g, r


def _text_box(canvas: np.ndarray, text: str, center: Tuple[float, float], scale: float, color: Color) -> None:
    """``text`` on a filled box of ``color`` centred on ``center`` (kept inside the image)."""
    thickness = max(1, int(round(scale * 2)))
    (tw, th), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(2, int(round(4 * scale)))
    h, w = canvas.shape[:2]
    x1 = int(min(max(0, center[0] - tw / 2 - pad), max(0, w - tw - 2 * pad)))
    y1 = int(min(max(0, center[1] - th / 2 - pad), max(0, h - th - baseline - 2 * pad)))
    cv2.rectangle(canvas, (x1, y1), (x1 + tw + 2 * pad, y1 + th + baseline + 2 * pad), color, -1)
    cv2.putText(canvas, text, (x1 + pad, y1 + pad + th), _FONT, scale, text_color_for(color), thickness, cv2.LINE_AA)


class LineZoneAnnotator:
    """Draws a ``LineZone``: the segment, its end points and ``"in: N  out: M"`` at its middle.

    Give the zone here (then ``annotate(image, detections)`` fits a ``Pipeline``'s annotators) or,
    as supervision, per call: ``annotate(image, line_counter=zone)``.

    Args:
        zone: the ``LineZone`` drawn (None: pass it to each ``annotate`` call).
        color: line colour (BGR); the count label sits on a box of this colour.
        thickness: line width; None scales it with the image size.
        text_scale: OpenCV font scale; None scales it with the image size.
        in_text / out_text: the words before the counts.
        display_in_count / display_out_count: show each count.

    Example::

        line = LineZone((0, 360), (1280, 360))
        pipeline = vistream.Pipeline(detector, tracker, [BoxAnnotator(), LineZoneAnnotator(line)],
                                     plugins=[ZoneAnalytics([line]).schedule()])
    """

    def __init__(self, zone: Optional[LineZone] = None, *, color: Color = (255, 255, 255),
                 thickness: Optional[int] = None, text_scale: Optional[float] = None, in_text: str = "in",
                 out_text: str = "out", display_in_count: bool = True, display_out_count: bool = True) -> None:
        if zone is not None and not isinstance(zone, LineZone):
            raise TypeError(f"LineZoneAnnotator: zone must be a vistream.analytics.LineZone, got {type(zone).__name__}")
        self.zone = zone
        self.color = _check_color(color, "color")
        self.thickness = check_size("thickness", thickness)
        self.text_scale = check_float("text_scale", text_scale, True, 0.0, low_inclusive=False)
        self.in_text, self.out_text = str(in_text), str(out_text)
        self.display_in_count, self.display_out_count = bool(display_in_count), bool(display_out_count)

    def label(self, zone: LineZone) -> str:
        """The text drawn for ``zone``."""
        parts = []
        if self.display_in_count:
            parts.append(f"{self.in_text}: {zone.in_count}")
        if self.display_out_count:
            parts.append(f"{self.out_text}: {zone.out_count}")
        return "  ".join(parts)

    def annotate(self, image: np.ndarray, detections: Optional[Detections] = None, *,
                 line_counter: Optional[LineZone] = None) -> np.ndarray:
        """Draws the line and its counts on ``image`` (in place) and returns it; ``detections``
        is not used (the counts are the zone's)."""
        _check_image(image)
        if isinstance(detections, LineZone):  # supervision's positional annotate(frame, line_counter)
            detections, line_counter = None, detections
        zone = line_counter or self.zone
        if zone is None:
            raise ValueError("LineZoneAnnotator: no zone: give LineZoneAnnotator(zone) or annotate(image, line_counter=zone)")
        thickness = self.thickness or auto_thickness(image)
        start = tuple(int(round(v)) for v in zone.start)
        end = tuple(int(round(v)) for v in zone.end)
        scale = self.text_scale or max(0.4, 0.5 * scale_of(image))
        with cv2_canvas(image) as canvas:
            cv2.line(canvas, start, end, self.color, thickness, cv2.LINE_AA)
            for point in (start, end):
                cv2.circle(canvas, point, thickness + 3, self.color, -1, cv2.LINE_AA)
            text = self.label(zone)
            if text:
                middle = ((zone.start[0] + zone.end[0]) / 2, (zone.start[1] + zone.end[1]) / 2)
                _text_box(canvas, text, middle, scale, self.color)
        return image


class ZoneAnnotator:
    """Draws a ``PolygonZone``: its outline, an optional translucent fill, and its current count
    (``zone.current_count``, or ``label``) at its centre. supervision's name
    ``PolygonZoneAnnotator`` is an alias.

    Args:
        zone: the ``PolygonZone`` drawn.
        color: outline / fill / label box colour (BGR).
        thickness: outline width; None scales it with the image size.
        opacity: fill opacity in [0, 1] (0: outline only).
        text_scale: OpenCV font scale; None scales it with the image size.
        display_in_zone_count: show the count.

    Example::

        zone = PolygonZone([(0, 400), (300, 400), (300, 720), (0, 720)])
        ZoneAnnotator(zone, opacity=0.2).annotate(frame.array, detections)
    """

    def __init__(self, zone: PolygonZone, *, color: Color = (0, 215, 255), thickness: Optional[int] = None,
                 opacity: float = 0.0, text_scale: Optional[float] = None, display_in_zone_count: bool = True) -> None:
        if not isinstance(zone, PolygonZone):
            raise TypeError(f"ZoneAnnotator: zone must be a vistream.analytics.PolygonZone, got {type(zone).__name__}")
        self.zone = zone
        self.color = _check_color(color, "color")
        self.thickness = check_size("thickness", thickness)
        self.opacity = check_float("opacity", opacity, False, 0.0, 1.0)
        self.text_scale = check_float("text_scale", text_scale, True, 0.0, low_inclusive=False)
        self.display_in_zone_count = bool(display_in_zone_count)

    def annotate(self, image: np.ndarray, detections: Optional[Detections] = None, label: Optional[str] = None) -> np.ndarray:
        """Draws the zone on ``image`` (in place) and returns it; ``detections`` is not used."""
        _check_image(image)
        points = np.round(self.zone.polygon).astype(np.int32).reshape(-1, 1, 2)
        thickness = self.thickness or auto_thickness(image)
        scale = self.text_scale or max(0.4, 0.5 * scale_of(image))
        with cv2_canvas(image) as canvas:
            if self.opacity > 0:
                fill = canvas.copy()
                cv2.fillPoly(fill, [points], self.color)
                cv2.addWeighted(fill, self.opacity, canvas, 1 - self.opacity, 0, dst=canvas)
            cv2.polylines(canvas, [points], True, self.color, thickness, cv2.LINE_AA)
            text = label if label is not None else (str(self.zone.current_count) if self.display_in_zone_count else "")
            if text:
                center = self.zone.polygon.mean(axis=0)
                _text_box(canvas, text, (float(center[0]), float(center[1])), scale, self.color)
        return image


#: supervision's name for :class:`ZoneAnnotator`
PolygonZoneAnnotator = ZoneAnnotator
