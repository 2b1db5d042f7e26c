"""``KeypointAnnotator``: pose keypoints, their names, and skeleton lines."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..detections import Detections
from ._base import auto_thickness, check_float, check_inputs, check_size, cv2_canvas, scale_of
from .colors import color_for

Color = Tuple[int, int, int]
KeypointRef = Union[int, str]
# OpenCV colour maps usable as ``colors="<name>"`` (DeepLabCut colours keypoints along a colour map)
_COLORMAPS: Dict[str, int] = {
    name[len("COLORMAP_"):].lower(): getattr(cv2, name) for name in dir(cv2) if name.startswith("COLORMAP_")
}


def _check_color(value, what: str) -> Color:
    if isinstance(value, (str, bytes)) or len(value) != 3:
        raise ValueError(f"{what} must be a (b, g, r) triple, got {value!r}")
    b, g, r = (int(v) for v in value)
    if not all(0 <= v <= 255 for v in (b, g, r)):
        raise ValueError(f"{what} must have components in 0..255, got {value!r}")
    return b, g, r


class KeypointAnnotator:
    """Draws each detection's keypoints whose score is above ``pcutoff``, optionally their names, and
    skeleton lines between pairs of drawn keypoints.

    Args:
        radius: point radius; ``None`` scales it with the image size.
        skeleton: optional list of (a, b) pairs joined by a line when both points are drawn; each end
            is a keypoint index or a name (names need ``names`` or detections carrying
            ``keypoint_names``, as :class:`~vistream.DLCPoseEstimator` makes). Index pairs
            beyond the number of keypoints, and unknown names, are skipped.
        thickness: skeleton line width; ``None`` scales it with the image size.
        names: the keypoint names (e.g. ``estimator.bodyparts``); else the detections'
            ``keypoint_names`` when present.
        show_names: write each drawn keypoint's name (its index when no names are known) beside it.
        colors: ``None`` colours everything by detection (class / track, as the other annotators);
            a colour-map name (``"rainbow"``, ``"jet"``, ``"viridis"``: any OpenCV ``COLORMAP_*``)
            spreads the keypoints along it, as DeepLabCut does; a list of (b, g, r) per keypoint
            index; or a dict name -> (b, g, r) (keypoints not in it keep the detection colour).
            Skeleton lines take the colour of their first keypoint.
        pcutoff: keypoints with score <= pcutoff are not drawn (nor their lines and names); the
            default 0 hides only score-0 (missing) keypoints.
        text_scale: name font scale; ``None`` scales it with the image size.

    Example::

        KeypointAnnotator(skeleton=[(5, 7), (7, 9), (6, 8), (8, 10)]).annotate(frame, poses)
        KeypointAnnotator(names=estimator.bodyparts, show_names=True, colors="rainbow", pcutoff=0.6,
                          skeleton=[("nose", "ear_left"), ("nose", "ear_right")]).annotate(frame, pose)
    """

    def __init__(self, radius: Optional[int] = None, skeleton: Optional[Sequence[Tuple[KeypointRef, KeypointRef]]] = None,
                 thickness: Optional[int] = None, *, names: Optional[Sequence[str]] = None, show_names: bool = False,
                 colors: Union[None, str, Sequence[Color], Mapping[str, Color]] = None, pcutoff: float = 0.0,
                 text_scale: Optional[float] = None) -> None:
        self.radius = check_size("radius", radius)
        self.thickness = check_size("thickness", thickness)
        self.pcutoff = check_float("pcutoff", pcutoff, allow_none=False, low=0.0, high=1.0)
        self.text_scale = check_float("text_scale", text_scale, allow_none=True, low=0.0, low_inclusive=False)
        self.show_names = bool(show_names)
        if names is not None:
            if isinstance(names, (str, bytes)) or not all(isinstance(n, str) for n in names):
                raise TypeError("names must be a list of keypoint name strings")
            names = list(names)
        self.names: Optional[List[str]] = names
        pairs: List[Tuple[KeypointRef, KeypointRef]] = []
        if skeleton is not None:
            if isinstance(skeleton, (str, bytes)) or not isinstance(skeleton, (Sequence, np.ndarray)):
                raise TypeError("skeleton must be a list of (i, j) index or (name, name) pairs")
            for pair in skeleton:
                if isinstance(pair, (str, bytes)) or not isinstance(pair, (Sequence, np.ndarray)) or len(pair) != 2:
                    raise ValueError(f"skeleton entries must be (i, j) pairs, got {pair!r}")
                ends = []
                for end in pair:
                    if isinstance(end, str):
                        if self.names is not None and end not in self.names:
                            raise ValueError(f"skeleton names unknown keypoint {end!r}; names are {self.names}")
                        ends.append(end)
                    else:
                        ends.append(check_size("skeleton index", end, allow_none=False, minimum=0))
                pairs.append((ends[0], ends[1]))
        self.skeleton = pairs
        self._colormap: Optional[int] = None
        self._color_list: Optional[List[Color]] = None
        self._color_dict: Optional[Dict[str, Color]] = None
        if isinstance(colors, str):
            if colors.lower() not in _COLORMAPS:
                raise ValueError(f"unknown colour map {colors!r}; OpenCV has {sorted(_COLORMAPS)}")
            self._colormap = _COLORMAPS[colors.lower()]
        elif isinstance(colors, Mapping):
            self._color_dict = {str(k): _check_color(v, f"colors[{k!r}]") for k, v in colors.items()}
        elif colors is not None:
            self._color_list = [_check_color(v, f"colors[{i}]") for i, v in enumerate(colors)]

    def _names_for(self, detections: Detections, n: int, count: int) -> Optional[List[str]]:
        if self.names is not None:
            return self.names
        stored = getattr(detections, "keypoint_names", None)
        if stored is not None and len(stored) == count:
            return [str(name) for name in stored]
        return None

    def _keypoint_colors(self, base: Color, names: Optional[List[str]], count: int) -> List[Color]:
        if self._colormap is not None:
            ramp = np.linspace(0, 255, max(count, 1)).astype(np.uint8).reshape(-1, 1)
            mapped = cv2.applyColorMap(ramp, self._colormap).reshape(-1, 3)
            return [tuple(int(c) for c in mapped[k]) for k in range(count)]  # type: ignore[misc]
        if self._color_list is not None:
            return [self._color_list[k] if k < len(self._color_list) else base for k in range(count)]
        if self._color_dict is not None and names is not None:
            return [self._color_dict.get(names[k], base) for k in range(count)]
        return [base] * count

    @staticmethod
    def _resolve(end: KeypointRef, names: Optional[List[str]]) -> Optional[int]:
        if isinstance(end, str):
            if names is None or end not in names:
                return None
            return names.index(end)
        return end

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Draw the keypoints on ``image`` (in place) and return ``image``."""
        check_inputs(image, detections)
        if len(detections) == 0 or detections.keypoints is None:
            return image
        radius = self.radius or max(2, int(round(3 * scale_of(image))))
        thickness = self.thickness or auto_thickness(image)
        font_scale = self.text_scale or max(0.35, 0.45 * scale_of(image))
        with cv2_canvas(image) as canvas:
            for n, points in enumerate(detections.keypoints):
                count = len(points)
                names = self._names_for(detections, n, count)
                colors = self._keypoint_colors(color_for(detections, n), names, count)
                visible = (points[:, 2] > self.pcutoff) & (points[:, 2] > 0) & np.isfinite(points[:, :2]).all(axis=1)
                xy = np.round(np.nan_to_num(points[:, :2])).astype(np.int64)
                for a, b in self.skeleton:
                    i, j = self._resolve(a, names), self._resolve(b, names)
                    if i is not None and j is not None and i < count and j < count and visible[i] and visible[j]:
                        cv2.line(canvas, (int(xy[i, 0]), int(xy[i, 1])), (int(xy[j, 0]), int(xy[j, 1])),
                                 colors[i], thickness, cv2.LINE_AA)
                for k in np.flatnonzero(visible):
                    cv2.circle(canvas, (int(xy[k, 0]), int(xy[k, 1])), radius, colors[k], -1, cv2.LINE_AA)
                if self.show_names:
                    for k in np.flatnonzero(visible):
                        text = names[k] if names is not None else str(k)
                        cv2.putText(canvas, text, (int(xy[k, 0]) + radius + 2, int(xy[k, 1]) - radius - 2),
                                    cv2.FONT_HERSHEY_SIMPLEX, font_scale, colors[k], max(1, thickness // 2),
                                    cv2.LINE_AA)
        return image
