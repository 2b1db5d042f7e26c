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
    coordinates travel). Lines are ``thickness`` pixels wide, centred on the box edges, with
    square corners; at thickness 1 the result equals :class:`BoxAnnotator`'s.

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
        before, after = thickness // 2, thickness - thickness // 2  # pixels each side of the edge
        finite = np.isfinite(detections.xyxy).all(axis=1)
        rounded = np.round(detections.xyxy.astype(np.float64))
        for i in np.flatnonzero(finite):
            x1, y1, x2, y2 = (int(v) for v in rounded[i])
            color = color_tensor(detections, i, image.device)
            # the four bars of the outline (end-exclusive), clipped to the image; pixel columns
            # x1..x2 and rows y1..y2 are the edges, as OpenCV draws a 1-pixel rectangle
            bars = np.array([[x1 - before, y1 - before, x1 + after, y2 + after],   # left
                             [x2 - before, y1 - before, x2 + after, y2 + after],   # right
                             [x1 - before, y1 - before, x2 + after, y1 + after],   # top
                             [x1 - before, y2 - before, x2 + after, y2 + after]])  # bottom
            for left, top, right, bottom in visible_regions(bars, width, height):
                image[top:bottom, left:right] = color
        return image
