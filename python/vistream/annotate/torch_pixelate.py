"""``TorchPixelateAnnotator``: pixelate inside boxes of a torch image tensor, on its own device."""

from __future__ import annotations

from typing import Optional

from ..detections import Detections
from ._base import check_size, visible_regions
from ._torch_base import check_tensor_inputs


class TorchPixelateAnnotator:
    """Replaces the inside of each box by constant-colour blocks (tile means), on the tensor's device.

    Same result as :class:`PixelateAnnotator` (blocks anchored at each clipped box's top-left,
    means rounded half up) on an (H, W, 3) uint8 torch tensor, CPU or CUDA, in place.

    Args:
        block: block size in pixels; ``None`` uses an eighth of each box's smaller side (>= 4).

    Example::

        image = torch.from_dlpack(frame)
        TorchPixelateAnnotator(block=12).annotate(image, faces)
    """

    accepts = frozenset({"torch"})  # for Pipeline: draws on (H, W, 3) uint8 tensors only

    def __init__(self, block: Optional[int] = None) -> None:
        self.block = check_size("block", block)

    def annotate(self, image, detections: Detections):
        """Pixelate inside the boxes of ``image`` (in place) and return ``image``."""
        import torch
        import torch.nn.functional as F

        check_tensor_inputs(image, detections)
        height, width = image.shape[:2]
        for x1, y1, x2, y2 in visible_regions(detections.xyxy, width, height):
            block = self.block or max(4, min(x2 - x1, y2 - y1) // 8)
            roi = image[y1:y2, x1:x2]
            h, w = roi.shape[:2]
            planes = roi.permute(2, 0, 1).unsqueeze(0).to(torch.float64)
            # sums per tile (edge tiles are partial), then divided by each tile's own pixel count
            sums = F.avg_pool2d(planes, block, block, ceil_mode=True, divisor_override=1)
            ones = torch.ones((1, 1, h, w), dtype=torch.float64, device=image.device)
            counts = F.avg_pool2d(ones, block, block, ceil_mode=True, divisor_override=1)
            means = torch.floor(sums / counts + 0.5).to(torch.uint8)  # round half up, like the numpy one
            tiles = means.repeat_interleave(block, dim=2).repeat_interleave(block, dim=3)[..., :h, :w]
            roi.copy_(tiles[0].permute(1, 2, 0))
        return image
