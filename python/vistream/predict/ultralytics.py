"""``UltralyticsPredictor``: an ultralytics YOLO model (detect, segment, classify, pose) as a vistream predictor.

Example::

    predictor = vistream.UltralyticsPredictor("yolov8n-seg.pt", conf=0.3)   # or a YOLO object
    detections = predictor(frame)      # Detections with masks in source pixels
    classes = vistream.UltralyticsPredictor("yolov8n-cls.pt")(frame)        # Classifications
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Union

from ..classifications import Classifications
from ..detections import Detections
from ..errors import MissingDependencyError
from ..tunables import Tunable
from .preprocess import as_image

__all__ = ["UltralyticsPredictor"]


def _require_ultralytics():
    try:
        import ultralytics
    except ImportError as error:
        raise MissingDependencyError("UltralyticsPredictor needs the ultralytics package: pip install ultralytics") \
            from error
    return ultralytics


class UltralyticsPredictor:
    """Runs an ultralytics model on frames and returns vistream results.

    Args:
        model: a weights file or model yaml (``"yolov8n-seg.pt"``, ``"yolo11n.yaml"``, an exported
            ``.onnx``...) or a ``ultralytics.YOLO`` object. Names ultralytics downloads itself
            (``"yolov8n.pt"`` when absent) need its network access.
        conf / iou / imgsz / device / classes / max_det: ultralytics' predict options.
        **predict_options: any other ``model.predict`` keyword (``half=True``, ``agnostic_nms``...).

    Detect, segment and pose models return ``Detections`` (masks in source pixels, keypoints
    (N, K, 3)); classify models return the top-k classes (``Classifications``, one row). ``task`` says which.
    """

    #: live parameters (``Pipeline.set_tunable("detector", ...)``): ultralytics' predict options
    tunables = (
        Tunable("conf", 0.0, 1.0, 0.01, doc="minimum score"),
        Tunable("iou", 0.05, 1.0, 0.01, doc="IoU threshold of non-maximum suppression"),
    )

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
    def conf(self) -> float:
        """The ``conf`` predict option (settable: used from the next frame)."""
        return float(self.options["conf"])

    @conf.setter
    def conf(self, value: float) -> None:
        self.options["conf"] = float(value)

    @property
    def iou(self) -> float:
        """The ``iou`` predict option (settable: used from the next frame)."""
        return float(self.options["iou"])

    @iou.setter
    def iou(self, value: float) -> None:
        self.options["iou"] = float(value)

    @property
    def class_names(self) -> Dict[int, str]:
        return dict(getattr(self.model, "names", {}) or {})

    def __call__(self, frame) -> Union[Detections, Classifications]:
        """Detections (detect/segment/pose) or top-k classes (classify) of one BGR frame."""
        image = as_image(frame)
        return self._converted(self.model.predict(image, **self.options)[0])

    def batch(self, frames: Sequence[Any]) -> List[Union[Detections, Classifications]]:
        """Results for several BGR frames (arrays or frames with ``.array``), in order.

        Frames of the same size go to ultralytics as one batch (one forward pass); sizes are
        grouped because ultralytics letterboxes a mixed batch to a full square, which would give
        other results than ``self(frame)``. ``MultiPlayer`` calls this once per batch.
        """
        images = [as_image(frame) for frame in frames]
        results: List[Any] = [None] * len(images)
        by_shape: Dict[tuple, List[int]] = {}
        for position, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(position)
        for positions in by_shape.values():
            predicted = self.model.predict([images[p] for p in positions], **self.options)
            if len(predicted) != len(positions):
                raise RuntimeError(f"ultralytics returned {len(predicted)} results for {len(positions)} images")
            for position, result in zip(positions, predicted):
                results[position] = self._converted(result)
        return results

    def _converted(self, result: Any) -> Union[Detections, Classifications]:
        if self.task == "classify" or getattr(result, "probs", None) is not None:
            return Classifications.from_ultralytics(result, k=self.top_k)
        return Detections.from_ultralytics(result)

    def __repr__(self) -> str:
        return f"UltralyticsPredictor(task={self.task!r}, options={self.options})"
