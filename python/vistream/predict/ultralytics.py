"""``UltralyticsPredictor``: an ultralytics YOLO model (detect, segment, classify, pose) as a vistream predictor.

Example::

    predictor = vistream.UltralyticsPredictor("yolov8n-seg.pt", conf=0.3)   # or a YOLO object
    detections = predictor(frame)      # Detections with masks in source pixels
    classes = vistream.UltralyticsPredictor("yolov8n-cls.pt")(frame)        # top-k (TopK)
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Union

import numpy as np

from ..detections import Detections
from ..errors import MissingDependencyError
from .predictors import _make_classification
from .preprocess import as_image

__all__ = ["UltralyticsPredictor", "detections_from_ultralytics"]


def _require_ultralytics():
    try:
        import ultralytics
    except ImportError as error:
        raise MissingDependencyError("UltralyticsPredictor needs the ultralytics package: pip install ultralytics") \
            from error
    return ultralytics


def _numpy(value) -> Optional[np.ndarray]:
    if value is None:
        return None
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def detections_from_ultralytics(result: Any) -> Detections:
    """One ultralytics ``Results`` (detect/segment/pose) → ``Detections`` in source pixels.

    Masks must be in source pixels (``retina_masks=True``, which ``UltralyticsPredictor`` sets);
    masks at the letterboxed input size are refused rather than silently misplaced.
    """
    boxes = result.boxes
    names = getattr(result, "names", None) or {}
    if boxes is None:
        return Detections.empty()
    xyxy, confidence = _numpy(boxes.xyxy), _numpy(boxes.conf)
    class_id = _numpy(boxes.cls).astype(np.int64)
    tracker_id = _numpy(boxes.id).astype(np.int64) if getattr(boxes, "id", None) is not None else None
    mask = None
    if getattr(result, "masks", None) is not None:
        mask = _numpy(result.masks.data).astype(bool)
        if mask.shape[1:] != tuple(result.orig_shape[:2]):
            raise ValueError(f"ultralytics masks are {mask.shape[1:]} (the model input), not the frame's "
                             f"{tuple(result.orig_shape[:2])}: predict with retina_masks=True")
    keypoints = None
    if getattr(result, "keypoints", None) is not None:
        points = _numpy(result.keypoints.data).astype(np.float32)
        if points.shape[-1] == 2:  # no visibility scores: treat every point as seen
            points = np.concatenate([points, np.ones(points.shape[:-1] + (1,), np.float32)], -1)
        keypoints = points
    data = {"class_name": np.array([names.get(int(c), str(int(c))) for c in class_id], dtype=object)} if names else {}
    return Detections(xyxy=xyxy, confidence=confidence, class_id=class_id, tracker_id=tracker_id, mask=mask,
                      keypoints=keypoints, data=data)


class UltralyticsPredictor:
    """Runs an ultralytics model on frames and returns vistream results.

    Args:
        model: a weights file or model yaml (``"yolov8n-seg.pt"``, ``"yolo11n.yaml"``, an exported
            ``.onnx``...) or a ``ultralytics.YOLO`` object. Names ultralytics downloads itself
            (``"yolov8n.pt"`` when absent) need its network access.
        conf / iou / imgsz / device / classes / max_det: ultralytics' predict options.
        **predict_options: any other ``model.predict`` keyword (``half=True``, ``agnostic_nms``...).

    Detect, segment and pose models return ``Detections`` (masks in source pixels, keypoints
    (N, K, 3)); classify models return the top-5 classes (``TopK``). ``task`` says which.
    """

    def __init__(self, model: Union[str, os.PathLike, Any], *, conf: float = 0.25, iou: float = 0.7,
                 imgsz: Union[int, tuple] = 640, device: Optional[str] = None, top_k: int = 5,
                 **predict_options: Any):
        _require_ultralytics()
        if isinstance(model, (str, os.PathLike)):
            from ultralytics import YOLO

            text = os.fspath(model)
            if text.endswith((".pt", ".onnx", ".engine")) and not os.path.exists(text) and os.sep in text:
                raise FileNotFoundError(f"ultralytics model not found: {text}")
            model = YOLO(text)
        if not hasattr(model, "predict"):
            raise TypeError(f"UltralyticsPredictor needs a model path or a ultralytics YOLO object, "
                            f"got {type(model).__name__}")
        self.model = model
        self.task: str = getattr(model, "task", "detect") or "detect"
        self.top_k = int(top_k)
        self.options: Dict[str, Any] = dict(conf=conf, iou=iou, imgsz=imgsz, verbose=False, retina_masks=True)
        if device is not None:
            self.options["device"] = device
        self.options.update(predict_options)

    @property
    def class_names(self) -> Dict[int, str]:
        return dict(getattr(self.model, "names", {}) or {})

    def __call__(self, frame):
        """Detections (detect/segment/pose) or top-k classes (classify) of one BGR frame."""
        image = as_image(frame)
        result = self.model.predict(image, **self.options)[0]
        if self.task == "classify" or getattr(result, "probs", None) is not None:
            probabilities = _numpy(result.probs.data).astype(np.float32).reshape(-1)
            return _make_classification(probabilities, self.top_k, self.class_names)
        return detections_from_ultralytics(result)

    def __repr__(self) -> str:
        return f"UltralyticsPredictor(task={self.task!r}, options={self.options})"
