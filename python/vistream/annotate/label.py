"""``LabelAnnotator``: text labels ("person #7 0.91") on a filled box above each detection."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..detections import Detections
from ._base import check_float, check_inputs, cv2_canvas
from .colors import color_for, text_color_for

ClassNames = Union[Sequence[str], Mapping[int, str]]

_FONT = cv2.FONT_HERSHEY_SIMPLEX


class LabelAnnotator:
    """Writes a label per detection on a background box in the detection's colour.

    The label is ``"<class> #<tracker id> <confidence>"``; the class is taken from
    ``class_names`` (list or dict indexed by ``class_id``), else from
    ``detections.data["class_name"]``, else the ``class_id`` number. The label sits just above
    the box's top-left corner (inside the box when there is no room above) and is always
    shifted to lie inside the image. Text is black or white, whichever reads better.

    Args:
        text_scale: OpenCV font scale; ``None`` scales it with the image height.
        class_names: class names by ``class_id``.
        show_confidence: append the confidence with two decimals.
        show_id: append ``#<tracker_id>`` when the detections are tracked.

    Example::

        labels = LabelAnnotator(class_names=["person", "car"])
        labels.annotate(frame, detections)    # "person #7 0.91"
    """

    def __init__(self, text_scale: Optional[float] = None, class_names: Optional[ClassNames] = None,
                 show_confidence: bool = True, show_id: bool = True) -> None:
        self.text_scale = check_float("text_scale", text_scale, True, 0.0, 100.0, low_inclusive=False)
        if class_names is not None:
            if isinstance(class_names, (str, bytes)) or not isinstance(class_names, (Sequence, Mapping)):
                raise TypeError("class_names must be a list of names or a dict {class_id: name}")
            values = class_names.values() if isinstance(class_names, Mapping) else class_names
            if not all(isinstance(name, str) for name in values):
                raise TypeError("class_names must contain strings")
        if not isinstance(show_confidence, (bool, np.bool_)):
            raise TypeError("show_confidence must be a bool")
        if not isinstance(show_id, (bool, np.bool_)):
            raise TypeError("show_id must be a bool")
        self.class_names = class_names
        self.show_confidence = bool(show_confidence)
        self.show_id = bool(show_id)

    def label_text(self, detections: Detections, index: int) -> str:
        """The label of detection ``index``.

        Example::

            LabelAnnotator(class_names=["person"]).label_text(detections, 0)   # "person #7 0.91"
        """
        class_id = int(detections.class_id[index])
        name = None
        if isinstance(self.class_names, Mapping):
            name = self.class_names.get(class_id)
        elif self.class_names is not None and 0 <= class_id < len(self.class_names):
            name = self.class_names[class_id]
        if name is None and "class_name" in detections.data:
            name = str(detections.data["class_name"][index])
        parts = [name if name is not None else str(class_id)]
        if detections.classifications is not None and len(detections.classifications) == len(detections):
            parts.append(str(detections.classifications.top1_name[index]))  # a Pipeline classifier's top-1
        if self.show_id and detections.tracker_id is not None:
            parts.append(f"#{int(detections.tracker_id[index])}")
        if self.show_confidence:
            parts.append(f"{float(detections.confidence[index]):.2f}")
        return " ".join(parts)

    def layout(self, image: np.ndarray) -> Tuple[float, int, int]:
        """(font scale, text thickness, padding) used for ``image``."""
        scale = self.text_scale or max(0.4, image.shape[0] / 1100.0)
        return scale, max(1, int(round(scale * 1.3))), max(2, int(round(4 * scale)))

    def label_box(self, image: np.ndarray, detections: Detections, index: int) -> Tuple[int, int, int, int]:
        """Where detection ``index``'s label background goes: (x1, y1, x2, y2), x2/y2 exclusive."""
        scale, thickness, pad = self.layout(image)
        (tw, th), baseline = cv2.getTextSize(self.label_text(detections, index), _FONT, scale, thickness)
        lw, lh = tw + 2 * pad, th + baseline + 2 * pad
        height, width = image.shape[:2]
        x1, y1 = detections.xyxy[index, 0], detections.xyxy[index, 1]
        x = int(round(x1)) if np.isfinite(x1) else 0
        top = int(round(y1)) if np.isfinite(y1) else 0
        y = top - lh if top - lh >= 0 else top      # above the box, else just inside it
        x = max(0, min(x, width - lw))
        y = max(0, min(y, height - lh))
        return x, y, x + lw, y + lh

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Draw the labels on ``image`` (in place) and return ``image``."""
        check_inputs(image, detections)
        if len(detections) == 0:
            return image
        scale, thickness, pad = self.layout(image)
        with cv2_canvas(image) as canvas:
            for i in range(len(detections)):
                text = self.label_text(detections, i)
                color = color_for(detections, i)
                x1, y1, x2, y2 = self.label_box(image, detections, i)
                (_, th), _ = cv2.getTextSize(text, _FONT, scale, thickness)
                cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), color, thickness=-1)
                cv2.putText(canvas, text, (x1 + pad, y1 + pad + th), _FONT, scale,
                            text_color_for(color), thickness, cv2.LINE_AA)
        return image
