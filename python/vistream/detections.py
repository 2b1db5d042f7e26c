"""``Detections``: the one result type shared by detectors, segmenters, pose estimators,
trackers, annotators and exporters, with converters from and to ultralytics, supervision and
mmdetection results."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .classifications import (ClassNames, Classifications, class_names_dict, float32_array,
                              float32_list)
from .masks import RLE, InstanceMasks

MaskInput = Union[np.ndarray, InstanceMasks, Sequence[RLE], None]


def _as_array(value, dtype, name: str) -> np.ndarray:
    try:
        return np.ascontiguousarray(np.asarray(_to_numpy(value), dtype=dtype))
    except (TypeError, ValueError) as error:
        raise ValueError(f"Detections.{name}: cannot convert to {np.dtype(dtype).name}: {error}") from None


def _to_numpy(value: Any) -> Any:
    """Torch tensors (any device) → numpy; anything else unchanged."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    return value


def _as_masks(mask: MaskInput, n: int) -> Optional[InstanceMasks]:
    if mask is None:
        return None
    if isinstance(mask, InstanceMasks):
        masks = mask
    elif isinstance(mask, (list, tuple)) and all(isinstance(m, Mapping) for m in mask) and len(mask) > 0:
        masks = InstanceMasks.from_rle(mask)
    else:
        array = _to_numpy(mask)
        try:
            array = np.asarray(array)
        except (TypeError, ValueError) as error:
            raise ValueError(f"Detections.mask: cannot convert to bool: {error}") from None
        if array.ndim != 3:
            raise ValueError(f"Detections.mask must have shape (N, H, W) with N={n}, got {array.shape}")
        masks = InstanceMasks.from_dense(array)
    if len(masks) != n:
        raise ValueError(f"Detections.mask must have shape (N, H, W) with N={n}, got {masks.shape}")
    return masks


class Detections:
    """N detections in one image, in pixel coordinates.

    Attributes:
        xyxy: (N, 4) float32 boxes, x1 y1 x2 y2.
        confidence: (N,) float32 scores (1.0 when not given).
        class_id: (N,) int64 class indices (0 when not given).
        tracker_id: (N,) int64 track ids, or None before tracking.
        mask: optional instance masks; reading it gives (N, H, W) bool (made on demand, read-only).
            Stored compactly (:class:`~vistream.masks.InstanceMasks`, ``masks``): pass an
            (N, H, W) array, an ``InstanceMasks`` or a list of COCO RLE dicts.
        keypoints: optional (N, K, 3) float32 (x, y, score).
        data: extra per-detection arrays (each of length N), e.g. {"class_name": ...}.
        keypoint_names: optional K names of the keypoints (e.g. ``["nose", "left_eye", ...]``).
        class_names: optional ``{class_id: name}`` (a list indexed by id works too).
        classifications: optional :class:`~vistream.Classifications` with one row per box.

    Example::

        d = vistream.Detections(xyxy=[[10, 20, 50, 80]], confidence=[0.9], class_id=[0],
                                class_names={0: "person"})
        people = d[d.class_id == 0]
        print(len(people), people.xywh, people.class_name)
    """

    def __init__(self, xyxy: Any, confidence: Any = None, class_id: Any = None, tracker_id: Any = None,
                 mask: MaskInput = None, keypoints: Any = None, data: Optional[Dict[str, Any]] = None, *,
                 keypoint_names: Optional[Sequence[str]] = None, class_names: Optional[ClassNames] = None,
                 classifications: Optional[Classifications] = None) -> None:
        xyxy = _as_array(xyxy, np.float32, "xyxy")
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"Detections.xyxy must have shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        self.xyxy: np.ndarray = xyxy
        self.confidence: np.ndarray = (np.ones(n, np.float32) if confidence is None
                                       else self._vector(confidence, np.float32, "confidence", n))
        self.class_id: np.ndarray = (np.zeros(n, np.int64) if class_id is None
                                     else self._vector(class_id, np.int64, "class_id", n))
        self.tracker_id: Optional[np.ndarray] = (None if tracker_id is None
                                                 else self._vector(tracker_id, np.int64, "tracker_id", n))
        self._masks: Optional[InstanceMasks] = _as_masks(mask, n)
        self._dense_mask: Optional[np.ndarray] = None
        self.keypoints: Optional[np.ndarray] = None
        if keypoints is not None:
            points = _as_array(keypoints, np.float32, "keypoints")
            if points.ndim != 3 or points.shape[0] != n or points.shape[2] != 3:
                raise ValueError(f"Detections.keypoints must have shape (N, K, 3) with N={n}, got {points.shape}")
            self.keypoints = points
        self.keypoint_names: Optional[List[str]] = None
        if keypoint_names is not None:
            if isinstance(keypoint_names, (str, bytes)):
                raise TypeError("Detections.keypoint_names must be a list of names, got a string")
            names = [str(name) for name in keypoint_names]
            if self.keypoints is not None and len(names) != self.keypoints.shape[1]:
                raise ValueError(f"Detections.keypoint_names has {len(names)} names for "
                                 f"{self.keypoints.shape[1]} keypoints")
            self.keypoint_names = names
        self.class_names: Optional[Dict[int, str]] = class_names_dict(class_names, "Detections")
        if classifications is not None:
            if not isinstance(classifications, Classifications):
                raise TypeError(f"Detections.classifications must be a vistream.Classifications, "
                                f"got {type(classifications).__name__}")
            if len(classifications) != n:
                raise ValueError(f"Detections.classifications must have one row per box ({n}), "
                                 f"got {len(classifications)}")
        self.classifications: Optional[Classifications] = classifications
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError("Detections.data must be a dict of per-detection arrays")
        self.data: Dict[str, Any] = {}
        for key, value in data.items():
            array = np.asarray(_to_numpy(value))
            if array.ndim == 0 or array.shape[0] != n:
                raise ValueError(f"Detections.data[{key!r}] must have length {n}, got shape {array.shape}")
            self.data[key] = array

    @staticmethod
    def _vector(value, dtype, name: str, n: int) -> np.ndarray:
        array = _as_array(value, dtype, name).reshape(-1)
        if array.shape[0] != n:
            raise ValueError(f"Detections.{name} must have length {n} (one per box), got {array.shape[0]}")
        return array

    # -- masks --------------------------------------------------------------------------
    @property
    def mask(self) -> Optional[np.ndarray]:
        """(N, H, W) bool instance masks, or None. Made from the compact masks on first read and
        kept (read-only: assign ``d.mask = ...`` to change them). Prefer ``masks`` (crops) or
        ``mask_rle`` for many or large masks: this array is N x H x W bytes."""
        if self._masks is None:
            return None
        if self._dense_mask is None:
            dense = self._masks.to_dense()
            dense.flags.writeable = False
            self._dense_mask = dense
        return self._dense_mask

    @mask.setter
    def mask(self, value: MaskInput) -> None:
        self._masks = _as_masks(value, len(self))
        self._dense_mask = None

    @property
    def masks(self) -> Optional[InstanceMasks]:
        """The instance masks as stored: per-mask crops (:class:`~vistream.masks.InstanceMasks`), or None."""
        return self._masks

    @property
    def mask_rle(self) -> Optional[List[RLE]]:
        """The masks as COCO RLE dicts ``{"size": [H, W], "counts": str}`` (pycocotools' form), or None."""
        return None if self._masks is None else self._masks.to_rle()

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

    @classmethod
    def from_array(cls, array: Any, **kwargs) -> "Detections":
        """From an (N, 5) ``[x1, y1, x2, y2, score]`` or (N, 6) ``[..., class_id]`` array, the
        layout detectors commonly return (torch tensors too). Other shapes raise ValueError."""
        values = np.asarray(_to_numpy(array))
        if values.size == 0 and values.ndim < 2:
            values = values.reshape(0, 5)
        if values.ndim != 2 or values.shape[1] not in (5, 6):
            raise ValueError(f"expected an (N, 5) [x1, y1, x2, y2, score] or (N, 6) [x1, y1, x2, y2, score, "
                             f"class_id] array, got shape {values.shape}")
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"expected a numeric array, got dtype {values.dtype}")
        class_id = None
        if values.shape[1] == 6:
            classes = values[:, 5]
            if not np.all(np.isfinite(classes)) or not np.all(classes == np.round(classes)):
                raise ValueError("column 6 (class_id) of the array must hold whole numbers")
            class_id = classes.astype(np.int64)
        return cls(xyxy=values[:, :4], confidence=values[:, 4], class_id=class_id, **kwargs)

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

    @property
    def class_name(self) -> np.ndarray:
        """(N,) class name of each detection: ``data["class_name"]`` when a detector set it,
        else from ``class_names``, else the class id as text."""
        if "class_name" in self.data:
            return self.data["class_name"]
        names = self.class_names or {}
        return np.array([names.get(int(c), str(int(c))) for c in self.class_id], dtype=object)

    @property
    def keypoint_xy(self) -> Optional[np.ndarray]:
        """(N, K, 2) keypoint positions, or None."""
        return None if self.keypoints is None else self.keypoints[:, :, :2]

    @property
    def keypoint_scores(self) -> Optional[np.ndarray]:
        """(N, K) per-keypoint scores, or None."""
        return None if self.keypoints is None else self.keypoints[:, :, 2]

    def is_empty(self) -> bool:
        return len(self) == 0

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __iter__(self) -> Iterator["Detections"]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index) -> "Detections":
        """Index, slice, integer array or boolean mask → a new Detections (masks, keypoints,
        names and classifications follow)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        if isinstance(index, np.ndarray) and index.dtype == bool and index.shape != (len(self),):
            raise IndexError(f"boolean mask of shape {index.shape} for {len(self)} detections")
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            mask=None if self._masks is None else self._masks[index],
            keypoints=None if self.keypoints is None else self.keypoints[index],
            data={k: v[index] for k, v in self.data.items()},
            keypoint_names=self.keypoint_names,
            class_names=self.class_names,
            classifications=None if self.classifications is None else self.classifications[index],
        )

    def __eq__(self, other: object) -> bool:
        """Same boxes, scores, ids, masks, keypoints (NaN equal to NaN), names, classifications
        and data values."""
        if not isinstance(other, Detections):
            return NotImplemented
        def same(a, b, nan=False) -> bool:
            if a is None or b is None:
                return a is None and b is None
            return np.array_equal(a, b, equal_nan=nan)
        if (self._masks is None) != (other._masks is None) or (self.classifications is None) != (
                other.classifications is None):
            return False
        return (same(self.xyxy, other.xyxy, True) and same(self.confidence, other.confidence, True)
                and same(self.class_id, other.class_id) and same(self.tracker_id, other.tracker_id)
                and (self._masks is None or self._masks == other._masks)
                and same(self.keypoints, other.keypoints, True)
                and self.keypoint_names == other.keypoint_names
                and (self.class_names or None) == (other.class_names or None)
                and (self.classifications is None or self.classifications == other.classifications)
                and self.data.keys() == other.data.keys()
                and all(np.array_equal(v, other.data[k]) for k, v in self.data.items()))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"n={len(self)}"]
        if self.tracker_id is not None:
            parts.append("tracked")
        if self._masks is not None:
            parts.append(f"masks={self._masks.image_size[0]}x{self._masks.image_size[1]}")
        if self.keypoints is not None:
            parts.append(f"keypoints={self.keypoints.shape[1]}")
        if self.classifications is not None:
            parts.append(f"classifications(k={self.classifications.k})")
        return f"Detections({', '.join(parts)})"

    # -- export -------------------------------------------------------------------------
    def to_records(self) -> list:
        """One dict per detection (JSON-ready Python types): ``xyxy``, ``confidence``,
        ``class_id``, ``tracker_id``?, ``class_name``? (from ``class_names``), the ``data``
        entries, ``mask``? (COCO RLE dict), ``keypoints``? ([[x, y, score], ...]),
        ``classifications``? (``{"class_id": [...], "confidence": [...]}``). Floats are the
        shortest decimals that read back to the same float32; NaN is null."""
        rles = self.mask_rle
        with_names = self.class_names is not None and "class_name" not in self.data
        records = []
        for i in range(len(self)):
            record: Dict[str, Any] = {
                "xyxy": float32_list(self.xyxy[i]),
                "confidence": float32_list(self.confidence[i:i + 1])[0],
                "class_id": int(self.class_id[i]),
            }
            if self.tracker_id is not None:
                record["tracker_id"] = int(self.tracker_id[i])
            if with_names:
                record["class_name"] = self.class_names.get(int(self.class_id[i]), str(int(self.class_id[i])))
            for key, value in self.data.items():
                item = value[i]
                record[key] = item.tolist() if hasattr(item, "tolist") else item
            if rles is not None:
                record["mask"] = rles[i]
            if self.keypoints is not None:
                record["keypoints"] = [float32_list(point) for point in self.keypoints[i]]
            if self.classifications is not None:
                record["classifications"] = self.classifications.record(i)
            records.append(record)
        return records

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict: ``{"detections": to_records(), "class_names"?: {"id": name},
        "keypoint_names"?: [...], "classification_names"?: {"id": name}, "data"?: [data keys],
        "fields"?: {...}}``. ``fields`` (only
        for no detections) says which optional columns exist, so an empty result reads back
        with the same shape. A results JSONL line has the same keys (plus frame, time)."""
        out: Dict[str, Any] = {"detections": self.to_records()}
        if self.class_names is not None:
            out["class_names"] = {str(key): name for key, name in self.class_names.items()}
        if self.keypoint_names is not None:
            out["keypoint_names"] = list(self.keypoint_names)
        if self.classifications is not None and self.classifications.class_names is not None:
            out["classification_names"] = {str(key): name for key, name in self.classifications.class_names.items()}
        if self.data:
            out["data"] = list(self.data)
        if len(self) == 0:
            fields: Dict[str, Any] = {}
            if self.tracker_id is not None:
                fields["tracker_id"] = True
            if self._masks is not None:
                fields["mask"] = list(self._masks.image_size)
            if self.keypoints is not None:
                fields["keypoints"] = int(self.keypoints.shape[1])
            if self.classifications is not None:
                fields["classifications"] = self.classifications.k
            if fields:
                out["fields"] = fields
        return out

    def to_json(self) -> str:
        """The detections as JSON (:meth:`to_dict`): boxes, scores, ids, masks (COCO RLE),
        keypoints and their names, class names, classifications, data.
        :meth:`from_json` is its exact inverse."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]]) -> "Detections":
        """Inverse of :meth:`to_dict`; also reads a results JSONL line (frame/time/plugins are
        ignored) and a bare list of records."""
        if isinstance(data, Mapping):
            if "detections" not in data:
                raise ValueError("not a Detections dict: no 'detections' key")
            records, top = data["detections"], data
        else:
            records, top = data, {}
        if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
            raise ValueError("'detections' must be a list of records")
        known = {"xyxy", "confidence", "class_id", "tracker_id", "mask", "keypoints", "classifications"}
        # a results JSONL line's own keys are not detection data
        names = top.get("class_names")
        class_names = None if names is None else {int(key): value for key, value in names.items()}
        data_keys = top.get("data")
        if data_keys is None:  # older files: every unknown key is data, except derived names
            data_keys = sorted({key for record in records for key in record} - known
                               - ({"class_name"} if class_names is not None else set()))
        n = len(records)
        fields = top.get("fields", {})
        first = records[0] if n else {}
        try:
            xyxy = np.array([float32_array(r["xyxy"]) for r in records], np.float32).reshape(n, 4)
            confidence = float32_array([r.get("confidence", 1.0) for r in records])
            class_id = np.array([r.get("class_id", 0) for r in records], np.int64)
            tracked = "tracker_id" in first if n else bool(fields.get("tracker_id"))
            tracker_id = np.array([r["tracker_id"] for r in records], np.int64) if tracked else None
            mask: MaskInput = None
            if n and "mask" in first:
                mask = InstanceMasks.from_rle([r["mask"] for r in records])
            elif not n and "mask" in fields:
                mask = InstanceMasks.empty(tuple(fields["mask"]))
            keypoints = None
            if n and "keypoints" in first:
                keypoints = np.array([[float32_array(p) for p in r["keypoints"]] for r in records],
                                     np.float32).reshape(n, -1, 3)
            elif not n and "keypoints" in fields:
                keypoints = np.zeros((0, int(fields["keypoints"]), 3), np.float32)
            classifications = None
            if n and "classifications" in first:
                rows = [r["classifications"] for r in records]
                classifications = Classifications.from_dict(
                    {"class_id": [row["class_id"] for row in rows], "confidence": [row["confidence"] for row in rows],
                     "k": len(rows[0]["class_id"]), "class_names": top.get("classification_names")})
            elif not n and "classifications" in fields:
                classifications = Classifications.from_dict(
                    {"class_id": [], "confidence": [], "k": int(fields["classifications"]),
                     "class_names": top.get("classification_names")})
            extra = {key: np.array([r[key] for r in records]) for key in data_keys}
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a Detections record list: {error!r}") from None
        return cls(xyxy=xyxy, confidence=confidence, class_id=class_id, tracker_id=tracker_id, mask=mask,
                   keypoints=keypoints, data=extra, keypoint_names=top.get("keypoint_names"),
                   class_names=class_names, classifications=classifications)

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Detections":
        """Inverse of :meth:`to_json` (also reads one line of a results ``.jsonl`` file)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"Detections.from_json: not JSON: {error}") from None
        return cls.from_dict(data)

    # -- interop ------------------------------------------------------------------------
    @classmethod
    def from_ultralytics(cls, results: Any, keypoint_names: Optional[Sequence[str]] = None) -> "Detections":
        """From an ultralytics ``Results`` (or a list holding one): boxes, confidences, classes,
        class names, track ids (after ``model.track``), instance masks (scaled to the original
        image like ultralytics' own plotting does) and pose keypoints. Oriented boxes (OBB) and
        classification-only results are refused (use ``Classifications.from_ultralytics``)."""
        if isinstance(results, (list, tuple)):
            if len(results) != 1:
                raise ValueError(f"from_ultralytics takes the Results of one image, got {len(results)}")
            results = results[0]
        boxes = getattr(results, "boxes", None)
        if boxes is None:
            if getattr(results, "obb", None) is not None:
                raise ValueError("from_ultralytics: oriented boxes (OBB) are not supported by Detections")
            if getattr(results, "probs", None) is not None:
                raise ValueError("from_ultralytics: these are classification results: use "
                                 "vistream.Classifications.from_ultralytics")
            raise ValueError("from_ultralytics: the results hold no boxes")
        orig_h, orig_w = (int(v) for v in results.orig_shape)
        xyxy = _to_numpy(boxes.xyxy)
        n = len(xyxy)
        track_ids = getattr(boxes, "id", None)
        mask = None
        masks = getattr(results, "masks", None)
        if masks is not None:
            data = masks.data
            if tuple(data.shape[1:]) != (orig_h, orig_w):
                # masks at the network's letterboxed input size: un-pad and resize as ultralytics does
                from ultralytics.utils import ops

                data = ops.scale_masks(data[None].float(), (orig_h, orig_w))[0] > 0.5
            mask = InstanceMasks.from_dense(np.asarray(_to_numpy(data)) > 0.5 if _to_numpy(data).dtype != bool
                                            else _to_numpy(data))
        keypoints = None
        points = getattr(results, "keypoints", None)
        if points is not None and getattr(points, "data", None) is not None:
            values = np.asarray(_to_numpy(points.data), np.float32)
            if values.ndim == 3 and values.shape[0] == n:
                if values.shape[2] == 2:  # no visibility scores: every point counts as seen
                    values = np.concatenate([values, np.ones(values.shape[:2] + (1,), np.float32)], axis=2)
                keypoints = values
        names = getattr(results, "names", None)
        return cls(xyxy=xyxy, confidence=_to_numpy(boxes.conf), class_id=_to_numpy(boxes.cls).astype(np.int64),
                   tracker_id=None if track_ids is None else _to_numpy(track_ids).astype(np.int64),
                   mask=mask, keypoints=keypoints,
                   keypoint_names=keypoint_names if keypoints is not None else None,
                   class_names=dict(names) if names else None)

    @classmethod
    def from_supervision(cls, detections: Any) -> "Detections":
        """From a ``supervision.Detections``: boxes, masks, confidence, class ids, tracker ids and
        ``data`` (its ``class_name`` entry becomes ``class_names``). A ``supervision.KeyPoints``
        works too: boxes around each skeleton, scores per keypoint."""
        if hasattr(detections, "xy") and not hasattr(detections, "xyxy"):
            return cls._from_supervision_keypoints(detections)
        data = dict(getattr(detections, "data", {}) or {})
        class_names = None
        names = data.pop("class_name", None)
        if names is not None and detections.class_id is not None:
            class_names = {int(c): str(name) for c, name in zip(detections.class_id, names)}
        return cls(xyxy=detections.xyxy, confidence=detections.confidence, class_id=detections.class_id,
                   tracker_id=detections.tracker_id, mask=detections.mask, data=data, class_names=class_names)

    @classmethod
    def _from_supervision_keypoints(cls, points: Any) -> "Detections":
        xy = np.asarray(points.xy, np.float32)
        n, k = xy.shape[:2]
        # supervision 0.29 renamed KeyPoints.confidence to keypoint_confidence (the old name warns)
        scores = getattr(points, "keypoint_confidence", None) if hasattr(type(points), "__dataclass_fields__") and \
            "keypoint_confidence" in type(points).__dataclass_fields__ else getattr(points, "confidence", None)
        scores = np.ones((n, k), np.float32) if scores is None else np.asarray(scores, np.float32)
        keypoints = np.concatenate([xy, scores[:, :, None]], axis=2)
        xyxy = np.zeros((n, 4), np.float32)
        for i in range(n):
            seen = xy[i][(scores[i] > 0) & np.isfinite(xy[i]).all(axis=1) & (xy[i] != 0).any(axis=1)]
            if len(seen):
                xyxy[i] = (*seen.min(axis=0), *seen.max(axis=0))
        data = dict(getattr(points, "data", {}) or {})
        names = data.pop("class_name", None)
        class_names = (None if names is None or points.class_id is None
                       else {int(c): str(name) for c, name in zip(points.class_id, names)})
        return cls(xyxy=xyxy, confidence=scores.mean(axis=1) if k else None, class_id=points.class_id,
                   keypoints=keypoints, data=data, class_names=class_names)

    def to_supervision(self) -> Any:
        """A ``supervision.Detections`` with the same boxes, scores, ids, (full-size) masks and
        data; class names go to ``data["class_name"]`` as supervision's own converters do."""
        import supervision as sv

        data = {key: np.asarray(value) for key, value in self.data.items()}
        if self.class_names is not None and "class_name" not in data:
            data["class_name"] = np.array([str(name) for name in self.class_name])
        mask = None if self._masks is None else self._masks.to_dense()
        return sv.Detections(xyxy=self.xyxy.copy(), mask=mask, confidence=self.confidence.copy(),
                             class_id=self.class_id.copy(),
                             tracker_id=None if self.tracker_id is None else self.tracker_id.copy(), data=data)

    @classmethod
    def from_mmdet(cls, result: Any, class_names: Optional[ClassNames] = None,
                   score_threshold: float = 0.0) -> "Detections":
        """From mmdetection-style predictions: a dict ``{"bboxes": (N, 4) xyxy, "scores": (N,),
        "labels": (N,), "masks"?: (N, H, W) or COCO RLE list}`` (numpy or torch), or an object
        with those attributes (mmdet 3's ``DetDataSample.pred_instances``; a ``DetDataSample``
        itself is unwrapped). Detections scoring below ``score_threshold`` are dropped."""
        instances = getattr(result, "pred_instances", result)
        def get(key: str) -> Any:
            if isinstance(instances, Mapping):
                return instances.get(key)
            return getattr(instances, key, None) if key in getattr(instances, "keys", lambda: [key])() else None
        bboxes = get("bboxes")
        if bboxes is None:
            raise ValueError("from_mmdet: no 'bboxes' in the result (expected keys bboxes, scores, labels, masks)")
        xyxy = _as_array(bboxes, np.float32, "bboxes").reshape(-1, 4)
        scores, labels, masks = get("scores"), get("labels"), get("masks")
        detections = cls(xyxy=xyxy, confidence=None if scores is None else _to_numpy(scores),
                         class_id=None if labels is None else _to_numpy(labels), mask=masks,
                         class_names=class_names)
        if score_threshold > 0:
            detections = detections[detections.confidence >= score_threshold]
        return detections


def as_detections(value: Any, owner: str = "tracker") -> Detections:
    """What trackers accept as one frame's detections: ``Detections``, None (no detections), or
    an (N, 5) ``[x1, y1, x2, y2, score]`` / (N, 6) ``[..., class_id]`` array (numpy, torch or
    nested lists). Anything else raises TypeError/ValueError naming ``owner``."""
    if isinstance(value, Detections):
        return value
    if value is None:
        return Detections.empty()
    if isinstance(value, (np.ndarray, list, tuple)) or type(value).__module__.startswith("torch"):
        try:
            return Detections.from_array(value)
        except ValueError as error:
            raise ValueError(f"{owner}: {error}") from None
    raise TypeError(f"{owner}: expected vistream.Detections or an (N, 5)/(N, 6) array, got {type(value).__name__}")
