"""``TorchBoxAnnotator``: box outlines drawn on a torch image tensor, on its own device."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..detections import Detections
from ._base import check_size, visible_regions
from ._torch_base import check_tensor_inputs, color_tensor


class TorchBoxAnnotator:
    """Draws each detection's box outline on an (H, W, 3) uint8 torch tensor, in place.

    The tensor may live on any device (a CUDA frame stays on the GPU: only the box
    coordinates travel). The outline is :class:`BoxAnnotator`'s, pixel for pixel: OpenCV's
    thick lines are ``2 * ((thickness + 1) // 2) + 1`` pixels wide, centred on the box edges,
    with rounded outer corners.

    Args:
        thickness: line width in pixels; ``None`` scales it with the image size (>= 1).

    Example::

        image = torch.from_dlpack(frame)            # (H, W, 3) uint8, shares the frame's memory
        TorchBoxAnnotator().annotate(image, detections)
    """

    accepts = frozenset({"torch"})  # for Pipeline: draws on (H, W, 3) uint8 tensors only

    def __init__(self, thickness: Optional[int] = None) -> None:
        self.thickness = check_size("thickness", thickness)

    def annotate(self, image, detections: Detections):
        """Draw the boxes on ``image`` (in place) and return ``image``."""
        check_tensor_inputs(image, detections)
        if len(detections) == 0:
            return image
        height, width = image.shape[:2]
        thickness = self.thickness or max(1, int(round((height * width) ** 0.5 / 500.0)))
        # OpenCV draws a thick outline as capsules of radius (thickness + 1) // 2 around the edges
        # (2r + 1 pixels wide, rounded outer corners); a 1-pixel one is the edge pixels only
        radius = (thickness + 1) // 2 if thickness > 1 else 0
        corner = _corner_disc(radius, image.device) if radius else None
        finite = np.isfinite(detections.xyxy).all(axis=1)
        rounded = np.round(detections.xyxy.astype(np.float64))
        for i in np.flatnonzero(finite):
            x1, y1, x2, y2 = (int(v) for v in rounded[i])
            color = color_tensor(detections, i, image.device)
            r = radius
            # the four bars (end-exclusive) between the corner points, clipped to the image;
            # pixel columns x1..x2 and rows y1..y2 are the edges, as OpenCV draws them
            bars = np.array([[x1 - r, y1, x1 + r + 1, y2 + 1],   # left
                             [x2 - r, y1, x2 + r + 1, y2 + 1],   # right
                             [x1, y1 - r, x2 + 1, y1 + r + 1],   # top
                             [x1, y2 - r, x2 + 1, y2 + r + 1]])  # bottom
            for left, top, right, bottom in visible_regions(bars, width, height):
                image[top:bottom, left:right] = color
            if corner is None:
                continue
            for cx, cy in ((x1, y1), (x2, y1), (x1, y2), (x2, y2)):
                _paint_disc(image, corner, cx - r, cy - r, color)
        return image


def _corner_disc(radius: int, device):
    """(2r + 1)^2 mask of the pixels within ``radius`` of the centre: OpenCV's round corners."""
    import torch

    offsets = torch.arange(-radius, radius + 1, device=device)
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2) <= radius * radius


def _paint_disc(image, disc, left: int, top: int, color) -> None:
    size = disc.shape[0]
    height, width = image.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + size, width), min(top + size, height)
    if x1 <= x0 or y1 <= y0:
        return
    mask = disc[y0 - top:y1 - top, x0 - left:x1 - left]
    region = image[y0:y1, x0:x1]
    region[mask] = color
