"""``Detections``: the one result type shared by detectors, trackers, annotators and exporters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, Optional

import numpy as np


def _as_array(value, dtype, name: str) -> np.ndarray:
    try:
        return np.ascontiguousarray(np.asarray(value, dtype=dtype))
    except (TypeError, ValueError) as error:
        raise ValueError(f"Detections.{name}: cannot convert to {np.dtype(dtype).name}: {error}") from None


@dataclass
class Detections:
    """N detections in one image, in pixel coordinates.

    Attributes:
        xyxy: (N, 4) float32 boxes, x1 y1 x2 y2.
        confidence: (N,) float32 scores (1.0 when not given).
        class_id: (N,) int64 class indices (0 when not given).
        tracker_id: (N,) int64 track ids, or None before tracking.
        mask: optional (N, H, W) bool instance masks.
        keypoints: optional (N, K, 3) float32 (x, y, score).
        data: extra per-detection arrays (each of length N), e.g. {"class_name": ...}.

    Example::

        d = vistream.Detections(xyxy=[[10, 20, 50, 80]], confidence=[0.9], class_id=[0])
        people = d[d.class_id == 0]
        print(len(people), people.xywh)
    """

    xyxy: np.ndarray
    confidence: Optional[np.ndarray] = None
    class_id: Optional[np.ndarray] = None
    tracker_id: Optional[np.ndarray] = None
    mask: Optional[np.ndarray] = None
    keypoints: Optional[np.ndarray] = None
    data: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = _as_array(self.xyxy, np.float32, "xyxy")
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"Detections.xyxy must have shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        self.xyxy = xyxy
        self.confidence = (np.ones(n, np.float32) if self.confidence is None
                           else self._vector(self.confidence, np.float32, "confidence", n))
        self.class_id = (np.zeros(n, np.int64) if self.class_id is None
                         else self._vector(self.class_id, np.int64, "class_id", n))
        if self.tracker_id is not None:
            self.tracker_id = self._vector(self.tracker_id, np.int64, "tracker_id", n)
        if self.mask is not None:
            mask = np.asarray(self.mask, dtype=bool)
            if mask.ndim != 3 or mask.shape[0] != n:
                raise ValueError(f"Detections.mask must have shape (N, H, W) with N={n}, got {mask.shape}")
            self.mask = mask
        if self.keypoints is not None:
            keypoints = _as_array(self.keypoints, np.float32, "keypoints")
            if keypoints.ndim != 3 or keypoints.shape[0] != n or keypoints.shape[2] != 3:
                raise ValueError(f"Detections.keypoints must have shape (N, K, 3) with N={n}, got {keypoints.shape}")
            self.keypoints = keypoints
        if not isinstance(self.data, dict):
            raise ValueError("Detections.data must be a dict of per-detection arrays")
        for key, value in list(self.data.items()):
            array = np.asarray(value)
            if array.ndim == 0 or array.shape[0] != n:
                raise ValueError(f"Detections.data[{key!r}] must have length {n}, got shape {array.shape}")
            self.data[key] = array

    @staticmethod
    def _vector(value, dtype, name: str, n: int) -> np.ndarray:
        array = _as_array(value, dtype, name).reshape(-1)
        if array.shape[0] != n:
            raise ValueError(f"Detections.{name} must have length {n} (one per box), got {array.shape[0]}")
        return array

    # -- construction -------------------------------------------------------------------
    @classmethod
    def empty(cls) -> "Detections":
        """No detections."""
        return cls(xyxy=np.zeros((0, 4), np.float32))

    @classmethod
    def from_xywh(cls, xywh, **kwargs) -> "Detections":
        """From (N, 4) boxes as x, y (top-left), width, height."""
        b = _as_array(xywh, np.float32, "xywh").reshape(-1, 4)
        return cls(xyxy=np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1), **kwargs)

    # -- views --------------------------------------------------------------------------
    @property
    def xywh(self) -> np.ndarray:
        """(N, 4) boxes as x, y (top-left), width, height."""
        return np.concatenate([self.xyxy[:, :2], self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)

    @property
    def center(self) -> np.ndarray:
        """(N, 2) box centres."""
        return (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2

    @property
    def area(self) -> np.ndarray:
        """(N,) box areas."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def is_empty(self) -> bool:
        return len(self) == 0

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __iter__(self) -> Iterator["Detections"]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index) -> "Detections":
        """Index, slice, integer array or boolean mask → a new Detections."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        if isinstance(index, np.ndarray) and index.dtype == bool and index.shape != (len(self),):
            raise IndexError(f"boolean mask of shape {index.shape} for {len(self)} detections")
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            mask=None if self.mask is None else self.mask[index],
            keypoints=None if self.keypoints is None else self.keypoints[index],
            data={k: v[index] for k, v in self.data.items()},
        )

    # -- export -------------------------------------------------------------------------
    def to_records(self) -> list:
        """One dict per detection (JSON-ready Python types)."""
        records = []
        for i in range(len(self)):
            record = {
                "xyxy": [round(float(v), 2) for v in self.xyxy[i]],
                "confidence": round(float(self.confidence[i]), 4),
                "class_id": int(self.class_id[i]),
            }
            if self.tracker_id is not None:
                record["tracker_id"] = int(self.tracker_id[i])
            for key, value in self.data.items():
                item = value[i]
                record[key] = item.item() if hasattr(item, "item") else item
            records.append(record)
        return records

    def to_json(self) -> str:
        """The detections as a JSON array (masks and keypoints left out)."""
        return json.dumps(self.to_records())
