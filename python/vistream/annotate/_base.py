"""Shared checks and helpers of the annotators (not public)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np

from ..detections import Detections


def check_size(name: str, value, allow_none: bool = True, minimum: int = 1) -> Optional[int]:
    """Validate an integer size argument (``None`` meaning automatic when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int{' or None' if allow_none else ''}, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(name: str, value, allow_none: bool, low: float, high: float = math.inf,
                low_inclusive: bool = True) -> Optional[float]:
    """Validate a real-valued argument in [low, high] (or (low, high])."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number{' or None' if allow_none else ''}, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value > high or value < low or (value == low and not low_inclusive):
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value}")
    return value


def check_inputs(image, detections) -> None:
    """Raise TypeError / ValueError unless ``image`` is a writable HxWx3 uint8 array."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if not image.flags.writeable:
        raise ValueError("image is read-only; annotators draw in place")
    if not isinstance(detections, Detections):
        raise TypeError(f"detections must be a vistream.Detections, got {type(detections).__name__}")


def scale_of(image: np.ndarray) -> float:
    """Size factor of an image: about 1 at 640x480-ish, about 6 at 4K."""
    h, w = image.shape[:2]
    return math.sqrt(h * w) / 500.0


def auto_thickness(image: np.ndarray) -> int:
    """Line thickness that scales with the image size, at least 1."""
    return max(1, int(round(scale_of(image))))


@contextmanager
def cv2_canvas(image: np.ndarray) -> Iterator[np.ndarray]:
    """Something OpenCV can draw on in place whose pixels end up in ``image``.

    OpenCV accepts views whose rows are padded (row stride > 3*W) directly; for any other
    layout (e.g. ``a[::2, ::2]``) it draws on a contiguous copy that is written back.
    """
    s0, s1, s2 = image.strides
    if s2 == 1 and s1 == 3 and s0 >= 3 * image.shape[1]:
        yield image
    else:
        copy = np.ascontiguousarray(image)
        yield copy
        image[...] = copy


def clipped_boxes(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 4) int boxes covering the given float boxes, clipped to the image (x2, y2 exclusive)."""
    if len(xyxy) == 0:
        return np.zeros((0, 4), np.int64)
    boxes = np.asarray(xyxy, np.float64)
    x1 = np.floor(np.minimum(boxes[:, 0], boxes[:, 2]))
    y1 = np.floor(np.minimum(boxes[:, 1], boxes[:, 3]))
    x2 = np.ceil(np.maximum(boxes[:, 0], boxes[:, 2]))
    y2 = np.ceil(np.maximum(boxes[:, 1], boxes[:, 3]))
    out = np.stack([np.clip(x1, 0, width), np.clip(y1, 0, height),
                    np.clip(x2, 0, width), np.clip(y2, 0, height)], axis=1)
    out[~np.isfinite(boxes).all(axis=1)] = 0
    return out.astype(np.int64)


def visible_regions(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """The non-empty ones of :func:`clipped_boxes` (boxes wholly outside the image or with no
    area are left out), as (K, 4) int x1, y1, x2, y2 with x2, y2 exclusive."""
    boxes = clipped_boxes(xyxy, width, height)
    return boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
