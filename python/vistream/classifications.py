"""``Classifications``: top-k classes with scores, for a whole frame or for each box."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

ClassNames = Union[Mapping[int, str], Sequence[str]]


def class_names_dict(names: Optional[ClassNames], owner: str) -> Optional[Dict[int, str]]:
    """``{id: name}`` from a mapping or a list indexed by id (None stays None)."""
    if names is None:
        return None
    if isinstance(names, (str, bytes)):
        raise TypeError(f"{owner}.class_names must be a dict {{id: name}} or a list of names, got a string")
    try:
        items = names.items() if isinstance(names, Mapping) else enumerate(names)
        return {int(key): str(value) for key, value in items}
    except (TypeError, ValueError) as error:
        raise TypeError(f"{owner}.class_names must be a dict {{id: name}} or a list of names: {error}") from None


def float32_list(values: np.ndarray) -> List[Optional[float]]:
    """JSON-ready floats that read back to the same float32 values (the shortest decimal that
    does); NaN becomes None (JSON has no NaN)."""
    flat = np.asarray(values, np.float32).reshape(-1)
    return [float(text) if text != "nan" else None for text in flat.astype(str).tolist()]


def float32_array(values: Any) -> np.ndarray:
    """Inverse of :func:`float32_list` (None → NaN)."""
    return np.array([math.nan if v is None else v for v in values], np.float32)


class Classifications:
    """Top-k class ids and scores of M items: M = 1 for a whole-frame classifier, or one row
    per box when attached to ``Detections`` (``detections.classifications``).

    Args:
        class_id: (M, k) int64 class ids, best first ((k,) means M = 1).
        confidence: (M, k) float32 scores of those classes (same shape).
        class_names: ``{id: name}`` or a list indexed by id.

    Example::

        c = Classifications.from_scores(softmax_scores, k=5, class_names=imagenet_names)
        c.top1, c.top1_name[0], c.confidence[0]
    """

    __slots__ = ("class_id", "confidence", "class_names")

    def __init__(self, class_id: Any, confidence: Any = None, class_names: Optional[ClassNames] = None) -> None:
        try:
            ids = np.array(class_id, np.int64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"Classifications.class_id: cannot convert to int64: {error}") from None
        if ids.ndim == 1:
            ids = ids.reshape(1, -1)
        if ids.ndim != 2:
            raise ValueError(f"Classifications.class_id must have shape (M, k) or (k,), got {ids.shape}")
        if confidence is None:
            scores = np.ones(ids.shape, np.float32)
        else:
            try:
                scores = np.array(confidence, np.float32)
            except (TypeError, ValueError) as error:
                raise ValueError(f"Classifications.confidence: cannot convert to float32: {error}") from None
            if scores.ndim == 1 and ids.shape[0] == 1:
                scores = scores.reshape(1, -1)
            if scores.shape != ids.shape:
                raise ValueError(f"Classifications.confidence must have the shape of class_id {ids.shape}, "
                                 f"got {scores.shape}")
        #: (M, k) int64 class ids, best first
        self.class_id: np.ndarray = ids
        #: (M, k) float32 scores
        self.confidence: np.ndarray = scores
        #: ``{id: name}`` or None
        self.class_names: Optional[Dict[int, str]] = class_names_dict(class_names, "Classifications")

    @classmethod
    def from_scores(cls, scores: Any, k: int = 5, class_names: Optional[ClassNames] = None) -> "Classifications":
        """The k best classes of (C,) or (M, C) scores (e.g. softmax probabilities)."""
        array = np.asarray(scores, np.float32)
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.shape[1] == 0:
            raise ValueError(f"scores must have shape (C,) or (M, C), got {np.shape(scores)}")
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        k = min(int(k), array.shape[1])
        # stable sort on -score: ties keep the lower class id first
        order = np.argsort(-array, axis=1, kind="stable")[:, :k]
        return cls(order, np.take_along_axis(array, order, axis=1), class_names)

    @classmethod
    def from_ultralytics(cls, results: Any, k: int = 5) -> "Classifications":
        """From an ultralytics classification ``Results`` (or a list holding one): its
        probabilities' top-k, with the model's class names."""
        if isinstance(results, (list, tuple)):
            if len(results) != 1:
                raise ValueError(f"from_ultralytics takes the Results of one image, got {len(results)}")
            results = results[0]
        probs = getattr(results, "probs", None)
        if probs is None:
            raise ValueError("from_ultralytics: the results hold no class probabilities (use "
                             "vistream.Detections.from_ultralytics for boxes, masks and keypoints)")
        data = getattr(probs, "data", probs)
        if hasattr(data, "detach"):
            data = data.detach().cpu().numpy()
        names = getattr(results, "names", None)
        return cls.from_scores(np.asarray(data, np.float32), k=k, class_names=dict(names) if names else None)

    @classmethod
    def empty(cls, k: int = 1) -> "Classifications":
        """No items (to attach to empty Detections)."""
        return cls(np.zeros((0, k), np.int64), np.zeros((0, k), np.float32))

    # -- reading ------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.class_id.shape[0])

    def __iter__(self) -> Iterator["Classifications"]:
        for i in range(len(self)):
            yield self[i]

    @property
    def k(self) -> int:
        """How many classes each item carries."""
        return int(self.class_id.shape[1])

    @property
    def top1(self) -> np.ndarray:
        """(M,) best class id of each item."""
        return self.class_id[:, 0] if self.k else np.zeros(len(self), np.int64)

    @property
    def top1_confidence(self) -> np.ndarray:
        """(M,) score of the best class."""
        return self.confidence[:, 0] if self.k else np.zeros(len(self), np.float32)

    def name_of(self, class_id: int) -> str:
        """The name of a class id (its number as text when no name is known)."""
        if self.class_names is not None and int(class_id) in self.class_names:
            return self.class_names[int(class_id)]
        return str(int(class_id))

    @property
    def top1_name(self) -> np.ndarray:
        """(M,) name of the best class of each item."""
        return np.array([self.name_of(c) for c in self.top1], dtype=object)

    @property
    def names(self) -> List[List[str]]:
        """(M, k) names of the classes, as lists."""
        return [[self.name_of(c) for c in row] for row in self.class_id]

    def __getitem__(self, index) -> "Classifications":
        """Index, slice, integer array or boolean mask → a new Classifications."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        if isinstance(index, np.ndarray) and index.dtype == bool and index.shape != (len(self),):
            raise IndexError(f"boolean mask of shape {index.shape} for {len(self)} classifications")
        return Classifications(self.class_id[index].reshape(-1, self.k),
                               self.confidence[index].reshape(-1, self.k), self.class_names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Classifications):
            return NotImplemented
        return (np.array_equal(self.class_id, other.class_id)
                and np.array_equal(self.confidence, other.confidence, equal_nan=True)
                and (self.class_names or {}) == (other.class_names or {}))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Classifications(n={len(self)}, k={self.k}, top1={self.top1.tolist()})"

    # -- export -------------------------------------------------------------------------
    def record(self, i: int) -> Dict[str, Any]:
        """Item ``i`` as JSON-ready ``{"class_id": [...], "confidence": [...]}``."""
        return {"class_id": self.class_id[i].tolist(), "confidence": float32_list(self.confidence[i])}

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict: ``{"class_id": [[...]], "confidence": [[...]], "class_names"?: {...}}``."""
        out: Dict[str, Any] = {"k": self.k, "class_id": self.class_id.tolist(),
                               "confidence": [float32_list(row) for row in self.confidence]}
        if self.class_names is not None:
            out["class_names"] = {str(key): value for key, value in self.class_names.items()}
        return out

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())``; :meth:`from_json` reads it back exactly."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Classifications":
        """Inverse of :meth:`to_dict`."""
        try:
            rows = data["confidence"]
            ids = np.array(data["class_id"], np.int64)
            k = int(data.get("k", ids.shape[1] if ids.ndim == 2 else 0))
            ids = ids.reshape(len(rows), k)
            scores = np.array([float32_array(row) for row in rows], np.float32).reshape(len(rows), k)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a Classifications dict ({{'class_id', 'confidence'}}): {error!r}") from None
        names = data.get("class_names")
        return cls(ids, scores, None if names is None else {int(a): b for a, b in names.items()})

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Classifications":
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))
