"""Vectorised box IoU and thresholded linear assignment for the trackers."""

from __future__ import annotations

from typing import Tuple

import numpy as np

try:  # lap's Jonker-Volgenant solver is faster; scipy is always available
    import lap as _lap
except ImportError:  # pragma: no cover - depends on the environment
    _lap = None
from scipy.optimize import linear_sum_assignment


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(N, M) IoU between xyxy boxes ``boxes_a`` (N, 4) and ``boxes_b`` (M, 4).

    Example::

        iou_matrix(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10]]))  # [[0.333]]
    """
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou_distance(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """1 - IoU, the cost used for association."""
    return 1.0 - iou_matrix(boxes_a, boxes_b)


def fuse_score(cost: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Fold detection scores into an IoU cost: 1 - IoU * score (columns are detections).

    Example::

        fuse_score(np.array([[0.2]]), np.array([0.5]))  # [[0.6]]
    """
    if cost.size == 0:
        return cost
    return 1.0 - (1.0 - cost) * np.asarray(scores, np.float64)[None, :]


def linear_assignment(cost: np.ndarray, thresh: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost matching where pairs costing more than ``thresh`` are not allowed.

    Leaving a row and a column unmatched costs ``thresh`` together (the semantics of
    ``lap.lapjv(..., extend_cost=True, cost_limit=thresh)`` used by the reference).

    Returns:
        matches (K, 2) int rows/cols, unmatched row indices, unmatched column indices.

    Example::

        m, ur, uc = linear_assignment(np.array([[0.1, 0.9], [0.8, 0.95]]), 0.8)
        # m == [[0, 0]], ur == [1], uc == [1]
    """
    cost = np.asarray(cost, np.float64)
    n_rows, n_cols = cost.shape
    if cost.size == 0:
        return np.empty((0, 2), np.int64), np.arange(n_rows), np.arange(n_cols)
    if _lap is not None:
        _, x, _ = _lap.lapjv(cost, extend_cost=True, cost_limit=thresh)
        rows = np.flatnonzero(x >= 0)
        cols = x[rows]
    else:
        # an infeasible pair costs just over the price of leaving both ends unmatched
        capped = np.where(cost > thresh, thresh + 1e-4, cost)
        rows, cols = linear_sum_assignment(capped)
        keep = cost[rows, cols] <= thresh
        rows, cols = rows[keep], cols[keep]
    matches = np.stack([rows, cols], axis=1).astype(np.int64)
    unmatched_rows = np.setdiff1d(np.arange(n_rows), rows)
    unmatched_cols = np.setdiff1d(np.arange(n_cols), cols)
    return matches, unmatched_rows, unmatched_cols
