"""Box conversions between corner form (x1, y1, x2, y2) and the Kalman filters' measurement forms."""

from __future__ import annotations

import numpy as np


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(…, 4) x1 y1 x2 y2 → centre x, centre y, aspect (w/h), height."""
    xyxy = np.asarray(xyxy, np.float64)
    out = np.empty(xyxy.shape)
    out[..., :2] = (xyxy[..., :2] + xyxy[..., 2:]) / 2
    out[..., 3] = h = xyxy[..., 3] - xyxy[..., 1]
    np.divide(xyxy[..., 2] - xyxy[..., 0], h, out=out[..., 2], where=h != 0)
    out[..., 2][h == 0] = 0.0
    return out


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(…, 4) centre x, centre y, aspect, height → x1 y1 x2 y2."""
    xyah = np.asarray(xyah, np.float64)
    half = np.empty(xyah.shape[:-1] + (2,))
    half[..., 1] = xyah[..., 3] / 2
    half[..., 0] = xyah[..., 2] * xyah[..., 3] / 2
    return np.concatenate([xyah[..., :2] - half, xyah[..., :2] + half], axis=-1)


def xyxy_to_xywh(xyxy: np.ndarray) -> np.ndarray:
    """(…, 4) x1 y1 x2 y2 → centre x, centre y, width, height."""
    xyxy = np.asarray(xyxy, np.float64)
    return np.concatenate([(xyxy[..., :2] + xyxy[..., 2:]) / 2, xyxy[..., 2:] - xyxy[..., :2]], axis=-1)


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """(…, 4) centre x, centre y, width, height → x1 y1 x2 y2."""
    xywh = np.asarray(xywh, np.float64)
    half = xywh[..., 2:] / 2
    return np.concatenate([xywh[..., :2] - half, xywh[..., :2] + half], axis=-1)
