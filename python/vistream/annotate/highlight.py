"""``HighlightAnnotator``: one track drawn emphasised (the dashboard's clicked track)."""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from ..detections import Detections
from ._base import auto_thickness, check_inputs, cv2_canvas

#: BGR: a saturated magenta-pink that none of the palette's box colours is close to
HIGHLIGHT_COLOR: Tuple[int, int, int] = (255, 0, 255)


class HighlightAnnotator:
    """Draws the box of the detection whose ``tracker_id`` is ``track_id`` thicker, in
    ``color``, with ``#<id>`` in a filled tag above it. Nothing when that track is not on the frame.

    ``Pipeline.highlight(track_id)`` draws with one after the pipeline's own annotators.

    Args:
        track_id: the track to emphasise (None: draw nothing).
        color: BGR colour of the box and the tag.
        thickness: line width; None: three times the automatic width of ``BoxAnnotator``.

    Example::

        HighlightAnnotator(7).annotate(frame.array, tracked)
    """

    def __init__(self, track_id: Optional[int] = None, color: Tuple[int, int, int] = HIGHLIGHT_COLOR,
                 thickness: Optional[int] = None) -> None:
        self.track_id = track_id
        self.color = tuple(int(c) for c in color)
        self.thickness = thickness

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Draw the highlighted track's box on ``image`` (in place) and return ``image``."""
        check_inputs(image, detections)
        if self.track_id is None or detections.tracker_id is None or len(detections) == 0:
            return image
        rows = np.flatnonzero(np.asarray(detections.tracker_id) == self.track_id)
        if rows.size == 0:
            return image
        thickness = self.thickness or 3 * auto_thickness(image)
        scale = max(0.5, thickness / 6)
        label = f"#{self.track_id}"
        (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, thickness // 3))
        with cv2_canvas(image) as canvas:
            for i in rows.tolist():
                box = detections.xyxy[i]
                if not np.isfinite(box).all():
                    continue
                x1, y1, x2, y2 = (int(round(v)) for v in box)
                cv2.rectangle(canvas, (x1, y1), (x2, y2), self.color, thickness)
                # the tag sits on the box's top edge, inside the image
                top = max(0, y1 - text_h - baseline - thickness)
                cv2.rectangle(canvas, (x1, top), (x1 + text_w + 2 * thickness, top + text_h + baseline + thickness),
                              self.color, cv2.FILLED)
                cv2.putText(canvas, label, (x1 + thickness, top + text_h + thickness // 2), cv2.FONT_HERSHEY_SIMPLEX,
                            scale, (0, 0, 0), max(1, thickness // 3), cv2.LINE_AA)
        return image
