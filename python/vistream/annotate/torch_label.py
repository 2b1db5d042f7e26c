"""``TorchLabelAnnotator``: LabelAnnotator's labels composited on a torch image tensor, on its device."""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Tuple

import cv2
import numpy as np

from ..detections import Detections
from ._base import check_size
from ._torch_base import check_tensor_inputs
from .colors import color_for, text_color_for
from .label import _FONT, ClassNames, LabelAnnotator

#: label patches kept per annotator (a label holds its confidence, so most change every frame)
DEFAULT_CACHE_SIZE = 512


class TorchLabelAnnotator(LabelAnnotator):
    """:class:`LabelAnnotator` on an (H, W, 3) uint8 torch tensor, CPU or CUDA, in place.

    Each distinct label (text, colour, size) is rasterised once on the CPU with the same OpenCV
    text code, uploaded once to the image's device and kept in a bounded cache; a frame then costs
    one small device copy per label, never a full-frame download. The labels are those of
    ``LabelAnnotator`` pixel for pixel, except where OpenCV's antialiased text edge would spill a
    pixel outside the label's box (the patch ends at the box; see tests/test_torch_label.py for
    the measured difference).

    Args:
        text_scale, class_names, show_confidence, show_id: as for :class:`LabelAnnotator`.
        cache_size: label patches kept on the device (least recently used dropped).

    Example::

        image = torch.from_dlpack(frame)            # (H, W, 3) uint8 on the frame's GPU
        TorchLabelAnnotator(class_names=["person"]).annotate(image, tracked)
    """

    accepts = frozenset({"torch"})  # for Pipeline: draws on tensors only

    def __init__(self, text_scale: Optional[float] = None, class_names: Optional[ClassNames] = None,
                 show_confidence: bool = True, show_id: bool = True,
                 cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        super().__init__(text_scale=text_scale, class_names=class_names, show_confidence=show_confidence,
                         show_id=show_id)
        self.cache_size = check_size("cache_size", cache_size, allow_none=False)
        self._patches: "OrderedDict[tuple, object]" = OrderedDict()
        self.rasterised = 0  # labels drawn on the CPU and uploaded (cache misses)

    def annotate(self, image, detections: Detections):
        """Draw the labels on ``image`` (in place) and return ``image``."""
        check_tensor_inputs(image, detections)
        if len(detections) == 0:
            return image
        height, width = image.shape[:2]
        layout = self.layout(image)
        for i in range(len(detections)):
            x1, y1, x2, y2 = self.label_box(image, detections, i)
            patch = self._patch(self.label_text(detections, i), color_for(detections, i), layout,
                                (y2 - y1, x2 - x1), image.device)
            bottom, right = min(y2, height), min(x2, width)  # a label wider than the image is cut
            image[y1:bottom, x1:right] = patch[:bottom - y1, :right - x1]
        return image

    def _patch(self, text: str, color: Tuple[int, int, int], layout: Tuple[float, int, int],
               size: Tuple[int, int], device):
        key = (text, color, layout, size, str(device))
        patch = self._patches.get(key)
        if patch is not None:
            self._patches.move_to_end(key)
            return patch
        import torch

        scale, thickness, pad = layout
        pixels = np.empty((size[0], size[1], 3), np.uint8)
        pixels[:] = color  # the background box, then the text, as LabelAnnotator draws them
        (_, text_height), _ = cv2.getTextSize(text, _FONT, scale, thickness)
        cv2.putText(pixels, text, (pad, pad + text_height), _FONT, scale, text_color_for(color), thickness,
                    cv2.LINE_AA)
        patch = torch.from_numpy(pixels).to(device)
        self.rasterised += 1
        self._patches[key] = patch
        while len(self._patches) > self.cache_size:
            self._patches.popitem(last=False)
        return patch
