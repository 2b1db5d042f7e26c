"""``TorchTraceAnnotator``: TraceAnnotator's trails drawn on a torch image tensor, on its device."""

from __future__ import annotations

import numpy as np

from ..detections import Detections
from ._torch_base import check_tensor_inputs
from .colors import color_for
from .trace import TraceAnnotator


class TorchTraceAnnotator(TraceAnnotator):
    """:class:`TraceAnnotator` on an (H, W, 3) uint8 torch tensor, CPU or CUDA, in place.

    The same trails (last ``length`` box centres per track, same colours and auto thickness), each
    polyline rasterised on the tensor's device as antialiased capsules of OpenCV's width (a
    pixel's coverage falls off with its distance to the nearest segment; the colour is blended by
    it). OpenCV's LINE_AA rim differs slightly (measured in tests/test_torch_label.py); only the
    centres travel to the device.

    Args:
        length, thickness: as for :class:`TraceAnnotator`.

    Example::

        traces = TorchTraceAnnotator(length=50)
        traces.annotate(torch.from_dlpack(frame), tracked)
    """

    accepts = frozenset({"torch"})  # for Pipeline: draws on tensors only

    def annotate(self, image, detections: Detections):
        """Record this frame's centres and draw each current track's trail on ``image`` (in place)."""
        check_tensor_inputs(image, detections)
        trails = self._record(detections)
        if not trails:
            return image
        height, width = image.shape[:2]
        thickness = self.thickness or max(1, int(round((height * width) ** 0.5 / 500.0)))
        for tid, trail in trails:
            # OpenCV draws the rounded centres
            _draw_polyline(image, np.round(np.array(trail)), color_for(tid), thickness)
        return image


def _draw_polyline(image, points: np.ndarray, color, thickness: int) -> None:
    """Blends an antialiased polyline of ``thickness`` through ``points`` (x, y) into ``image``."""
    import torch

    height, width = image.shape[:2]
    reach = (thickness + 1) // 2 + 2.0
    left = max(0, int(np.floor(points[:, 0].min() - reach)))
    top = max(0, int(np.floor(points[:, 1].min() - reach)))
    right = min(width, int(np.ceil(points[:, 0].max() + reach)) + 1)
    bottom = min(height, int(np.ceil(points[:, 1].max() + reach)) + 1)
    if right <= left or bottom <= top:
        return
    device = image.device
    start = torch.as_tensor(points[:-1], dtype=torch.float32, device=device)   # (S, 2)
    end = torch.as_tensor(points[1:], dtype=torch.float32, device=device)
    ys = torch.arange(top, bottom, dtype=torch.float32, device=device)
    xs = torch.arange(left, right, dtype=torch.float32, device=device)
    px = xs.view(1, 1, -1)
    py = ys.view(1, -1, 1)
    dx, dy = (end - start)[:, 0].view(-1, 1, 1), (end - start)[:, 1].view(-1, 1, 1)
    sx, sy = start[:, 0].view(-1, 1, 1), start[:, 1].view(-1, 1, 1)
    length2 = (dx * dx + dy * dy).clamp_min(1e-12)
    along = (((px - sx) * dx + (py - sy) * dy) / length2).clamp(0.0, 1.0)
    distance = torch.sqrt((px - sx - along * dx) ** 2 + (py - sy - along * dy) ** 2).amin(dim=0)
    # OpenCV draws a thick line as a capsule of integer radius (thickness + 1) // 2 around the line
    # through the pixel centres (a 1-pixel line: radius 0), with an antialiased rim of about 0.7
    # pixel: measured on its LINE_AA output, coverage = radius + 1.21 - distance, clamped.
    radius = (thickness + 1) // 2 if thickness > 1 else 0
    coverage = (radius + 1.21 - distance).clamp(0.0, 1.0).unsqueeze(-1)  # (h, w, 1)
    region = image[top:bottom, left:right]
    colour = torch.tensor(color, dtype=torch.float32, device=device)
    blended = region.to(torch.float32) * (1.0 - coverage) + colour * coverage
    region.copy_(blended.round_().to(torch.uint8))
