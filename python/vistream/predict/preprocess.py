"""Preprocessing: a BGR frame to the model's NCHW float batch, and the way back to source pixels.

Each preprocessor returns ``(batch, transform)``: ``batch`` is a (1, 3, H, W) float32 array and
``transform`` an ``ImageTransform`` that maps model-input coordinates back to the frame::

    letterbox = Letterbox((640, 640))                   # ultralytics' letterbox, exactly
    batch, transform = letterbox(frame_bgr)
    boxes_in_frame = transform.boxes_to_source(boxes_in_input)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = ["ImageTransform", "Letterbox", "Resize", "ImageNetPreprocess", "as_image", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Size = Union[int, Tuple[int, int]]


def _hw(size: Size) -> Tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def as_image(frame) -> np.ndarray:
    """The HxWx3 uint8 BGR array of a vistream ``Frame``, an array or a CPU torch tensor (ValueError otherwise)."""
    image = getattr(frame, "array", frame)
    if hasattr(image, "detach") and hasattr(image, "device"):  # a torch tensor in the frame layout
        if image.device.type != "cpu":
            raise ValueError("these predictors preprocess on the CPU: pass frame.array (or tensor.cpu()), "
                             f"not a {image.device.type} tensor")
        image = image.detach().numpy()
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a BGR HxWx3 image (numpy array or vistream Frame), got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return image


@dataclass(frozen=True)
class ImageTransform:
    """How a frame became the model input: input = source * gain + pad (per axis).

    Attributes:
        source_hw: the frame's (H, W).
        input_hw: the model input's (H, W).
        gain_x / gain_y: scale from source to input pixels.
        pad_x / pad_y: offset of the source's top-left corner in the input.
    """

    source_hw: Tuple[int, int]
    input_hw: Tuple[int, int]
    gain_x: float
    gain_y: float
    pad_x: float = 0.0
    pad_y: float = 0.0

    def boxes_to_source(self, xyxy: np.ndarray, clip: bool = True) -> np.ndarray:
        """(N, 4) x1 y1 x2 y2 in input pixels → source pixels (clipped to the frame)."""
        boxes = np.array(xyxy, dtype=np.float32, copy=True).reshape(-1, 4)
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - self.pad_x) / self.gain_x
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - self.pad_y) / self.gain_y
        if clip:
            h, w = self.source_hw
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes

    def points_to_source(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) x, y in input pixels → source pixels (not clipped)."""
        points = np.array(xy, dtype=np.float32, copy=True)
        points[..., 0] = (points[..., 0] - self.pad_x) / self.gain_x
        points[..., 1] = (points[..., 1] - self.pad_y) / self.gain_y
        return points


def _to_batch(image: np.ndarray, rgb: bool, scale: float, mean: Optional[Sequence[float]],
              std: Optional[Sequence[float]]) -> np.ndarray:
    if rgb:
        image = image[:, :, ::-1]
    x = image.astype(np.float32)
    divisor = 1.0 / scale if scale else 0.0
    if scale != 1.0 and divisor and abs(divisor - round(divisor)) < 1e-6:
        x /= np.float32(round(divisor))  # x / 255 like the reference pipelines: x * (1/255) differs by an ulp
    elif scale != 1.0:
        x *= np.float32(scale)
    if mean is not None:
        x -= np.asarray(mean, np.float32)
    if std is not None:
        x /= np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))[None]


class Letterbox:
    """Resize keeping the aspect ratio, pad to the input size (ultralytics'/YOLOX' letterbox).

    Args:
        size: the model's input (H, W) (or an int for a square input).
        center: pad both sides equally (ultralytics) or only right/bottom (``False``: YOLOX' letterbox,
            whose resized size is floored rather than rounded).
        pad_value: grey level of the padding (114 for both).
        rgb: swap BGR frames to RGB (ultralytics: True; YOLOX: False).
        scale: multiply pixel values (1/255 for ultralytics; 1.0 for YOLOX).
        mean / std: optional per-channel normalisation after scaling.
        interpolation: OpenCV interpolation (bilinear, like ultralytics and YOLOX).

    The resized size and padding are rounded exactly as ultralytics does, so boxes map back to the
    same source pixels.
    """

    def __init__(self, size: Size, center: bool = True, pad_value: int = 114, rgb: bool = True,
                 scale: float = 1 / 255, mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 interpolation: int = cv2.INTER_LINEAR):
        self.size = _hw(size)
        self.center, self.pad_value, self.rgb = center, int(pad_value), rgb
        self.scale, self.mean, self.std, self.interpolation = float(scale), mean, std, interpolation

    def __call__(self, frame) -> Tuple[np.ndarray, ImageTransform]:
        image = as_image(frame)
        (h, w), (th, tw) = image.shape[:2], self.size
        r = min(th / h, tw / w)
        if self.center:
            new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
        else:
            new_w, new_h = max(int(w * r), 1), max(int(h * r), 1)
        if self.center:
            dw, dh = (tw - new_w) / 2, (th - new_h) / 2
            top, left = round(dh - 0.1), round(dw - 0.1)
        else:
            top = left = 0
        if (new_w, new_h) != (w, h):
            image = cv2.resize(image, (new_w, new_h), interpolation=self.interpolation)
        canvas = np.full((th, tw, 3), self.pad_value, np.uint8)
        canvas[top:top + new_h, left:left + new_w] = image
        batch = _to_batch(canvas, self.rgb, self.scale, self.mean, self.std)
        # ultralytics maps back with the rounded size's own gain per axis; YOLOX with r itself
        gain_x, gain_y = (new_w / w, new_h / h) if self.center else (r, r)
        return batch, ImageTransform((h, w), (th, tw), gain_x, gain_y, float(left), float(top))

    def __repr__(self) -> str:
        return f"Letterbox(size={self.size}, center={self.center}, rgb={self.rgb}, scale={self.scale:.5g})"


class Resize:
    """Stretch the frame to the input size (SSD- and DETR-style models), then scale/normalise.

    Args: as ``Letterbox`` (no padding, so no ``center``/``pad_value``).
    """

    def __init__(self, size: Size, rgb: bool = True, scale: float = 1 / 255, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, interpolation: int = cv2.INTER_LINEAR):
        self.size = _hw(size)
        self.rgb, self.scale, self.mean, self.std, self.interpolation = rgb, float(scale), mean, std, interpolation

    def __call__(self, frame) -> Tuple[np.ndarray, ImageTransform]:
        image = as_image(frame)
        (h, w), (th, tw) = image.shape[:2], self.size
        if (h, w) != (th, tw):
            image = cv2.resize(image, (tw, th), interpolation=self.interpolation)
        return (_to_batch(image, self.rgb, self.scale, self.mean, self.std),
                ImageTransform((h, w), (th, tw), tw / w, th / h))

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, rgb={self.rgb})"


class ImageNetPreprocess:
    """Classification preprocessing: resize the short side, centre crop, RGB, ImageNet mean/std.

    Args:
        size: the crop (H, W) the model takes (224).
        resize: the short side before cropping (default ``size / 0.875``, i.e. 256 for 224).
        mean / std: per-channel normalisation of 0..1 RGB values (ImageNet's by default).

    The resize is bilinear on float pixels, the same arithmetic as
    ``torch.nn.functional.interpolate(mode="bilinear", antialias=False)``; only the crop's pixels
    are resized.
    """

    def __init__(self, size: Size = 224, resize: Optional[int] = None, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD):
        self.size = _hw(size)
        self.resize = int(resize) if resize else int(round(min(self.size) / 0.875))
        self.mean, self.std = mean, std

    def __call__(self, frame) -> Tuple[np.ndarray, ImageTransform]:
        image = as_image(frame)
        h, w = image.shape[:2]
        new_h, new_w = (self.resize, int(self.resize * w / h)) if h <= w else (int(self.resize * h / w), self.resize)
        resized = cv2.resize(image.astype(np.float32), (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        th, tw = self.size
        top, left = int(round((new_h - th) / 2.0)), int(round((new_w - tw) / 2.0))
        crop = resized[top:top + th, left:left + tw, ::-1] / np.float32(255)
        x = (crop - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        batch = np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)[None]
        return batch, ImageTransform((h, w), (th, tw), new_w / w, new_h / h, -float(left), -float(top))

    def __repr__(self) -> str:
        return f"ImageNetPreprocess(size={self.size}, resize={self.resize})"
