"""Checks and colours shared by the torch annotators (torch is imported only when they are used)."""

from __future__ import annotations

from ..detections import Detections
from .colors import color_for


def check_tensor_inputs(image, detections) -> None:
    """Raise TypeError / ValueError unless ``image`` is an (H, W, 3) uint8 torch tensor."""
    import torch

    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if image.dtype != torch.uint8:
        raise TypeError(f"image must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {tuple(image.shape)}")
    if not isinstance(detections, Detections):
        raise TypeError(f"detections must be a vistream.Detections, got {type(detections).__name__}")


def color_tensor(detections: Detections, index: int, device):
    """The detection's palette colour as a (3,) uint8 tensor on ``device``."""
    import torch

    return torch.tensor(color_for(detections, index), dtype=torch.uint8, device=device)
