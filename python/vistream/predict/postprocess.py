"""Postprocessing: a detection model's raw outputs to boxes, scores and classes in input pixels.

Ready decoders for the common output layouts, chosen by name (``layout="yolov8"``) or recognised
from the model's output shapes and names (``detect_layout``):

=========  ==================================================  =====================================
layout     outputs                                             decoding
=========  ==================================================  =====================================
yolov8     (1, 4+C, N) cx cy w h + class scores (v8/v11/v9)    best class, threshold, per-class NMS
yolov5     (1, N, 5+C) cx cy w h, objectness, class probs      score = obj x class, NMS
yolox      (1, N, 5+C) as yolov5 (vistream's YOLOX export)     as yolov5; YOLOX preprocessing
ssd        boxes (1, N, 4) x1 y1 x2 y2 + scores (1, N, C)      best class, threshold, NMS
ssd_nms    boxes (1, K, 4) + scores (1, K) + labels (1, K)     threshold only (the model did NMS)
detr       logits (1, Q, C+1) + boxes (1, Q, 4) cx cy w h 0-1  softmax, drop "no object", threshold
end2end    (1, K, 6) x1 y1 x2 y2 score class (NMS in graph)    threshold only
=========  ==================================================  =====================================

A decoder returns ``RawDetections`` (numpy, model-input pixels) plus the kept rows' indices, which
the segmenter uses to pick mask coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import VistreamError

__all__ = ["RawDetections", "LayoutError", "LAYOUTS", "detect_layout", "decode", "nms", "xywh_to_xyxy"]

LAYOUTS = ("yolov8", "yolov5", "yolox", "ssd", "ssd_nms", "detr", "end2end")


class LayoutError(VistreamError, ValueError):
    """The model's outputs match no known layout, or more than one: pass ``layout=`` (or ``postprocess=``)."""


@dataclass
class RawDetections:
    """Detections in model-input pixels before mapping back to the frame.

    Attributes:
        xyxy: (N, 4) float32 boxes.
        confidence: (N,) float32.
        class_id: (N,) int64.
        rows: (N,) int64 index of each detection's row in the model output (for mask
            coefficients or keypoints stored beside the box).
        extra: (N, E) float32 columns after the class scores (mask coefficients, keypoints), or None.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    rows: np.ndarray
    extra: Optional[np.ndarray] = None

    @classmethod
    def empty(cls, extra_columns: int = 0) -> "RawDetections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                   np.zeros(0, np.int64), np.zeros((0, extra_columns), np.float32) if extra_columns else None)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) centre x, centre y, width, height → x1 y1 x2 y2."""
    boxes = np.asarray(boxes, np.float32)
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, class_id: Optional[np.ndarray] = None,
        max_det: int = 300) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first.

    With ``class_id`` boxes of different classes never suppress each other (the boxes are shifted
    apart per class, as ultralytics and torchvision's ``batched_nms`` do).
    """
    if len(xyxy) == 0:
        return np.zeros(0, np.int64)
    boxes = np.asarray(xyxy, np.float32)
    if class_id is not None:
        boxes = boxes + (np.asarray(class_id, np.float32) * 7680.0)[:, None]
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep: List[int] = []
    while order.size and len(keep) < max_det:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = w * h
        iou = inter / (areas[best] + areas[rest] - inter)
        order = rest[~(iou > iou_threshold)]
    return np.asarray(keep, np.int64)


def _select(xyxy, scores_per_class, conf, iou, max_det, agnostic, extra=None, objectness=None,
            max_candidates: int = 30000) -> RawDetections:
    """Best class per row, threshold, NMS: the shared tail of the YOLO/SSD decoders."""
    if objectness is not None:
        scores_per_class = scores_per_class * objectness[:, None]
    class_id = scores_per_class.argmax(1) if scores_per_class.shape[1] else np.zeros(len(xyxy), np.int64)
    confidence = scores_per_class[np.arange(len(class_id)), class_id]
    rows = np.nonzero(confidence > conf)[0]
    if rows.size > max_candidates:
        rows = rows[np.argsort(-confidence[rows], kind="stable")[:max_candidates]]
    keep = rows[nms(xyxy[rows], confidence[rows], iou, None if agnostic else class_id[rows], max_det)]
    return RawDetections(np.ascontiguousarray(xyxy[keep], np.float32), confidence[keep].astype(np.float32),
                         class_id[keep].astype(np.int64), keep.astype(np.int64),
                         None if extra is None else np.ascontiguousarray(extra[keep], np.float32))


def decode_yolov8(outputs: Sequence[np.ndarray], conf: float, iou: float, max_det: int = 300,
                  agnostic: bool = False, num_classes: Optional[int] = None) -> RawDetections:
    """(1, 4+C[+E], N): rows of cx cy w h, C class scores, E extra columns (mask coefficients)."""
    pred = np.asarray(outputs[0], np.float32)[0].T  # (N, 4+C+E)
    nc = num_classes if num_classes is not None else pred.shape[1] - 4
    extra = pred[:, 4 + nc:] if pred.shape[1] > 4 + nc else None
    return _select(xywh_to_xyxy(pred[:, :4]), pred[:, 4:4 + nc], conf, iou, max_det, agnostic, extra)


def decode_yolov5(outputs: Sequence[np.ndarray], conf: float, iou: float, max_det: int = 300,
                  agnostic: bool = False, num_classes: Optional[int] = None) -> RawDetections:
    """(1, N, 5+C[+E]): cx cy w h, objectness, C class probabilities (score = obj x class)."""
    pred = np.asarray(outputs[0], np.float32)[0]
    nc = num_classes if num_classes is not None else pred.shape[1] - 5
    extra = pred[:, 5 + nc:] if pred.shape[1] > 5 + nc else None
    candidates = np.nonzero(pred[:, 4] > conf)[0]  # cheap pre-filter: score <= objectness
    raw = _select(xywh_to_xyxy(pred[candidates, :4]), pred[candidates, 5:5 + nc], conf, iou, max_det, agnostic,
                  None if extra is None else extra[candidates], objectness=pred[candidates, 4])
    raw.rows = candidates[raw.rows]
    return raw


def decode_ssd(outputs: Sequence[np.ndarray], conf: float, iou: float, max_det: int = 300,
               agnostic: bool = False, background_class: Optional[int] = None) -> RawDetections:
    """boxes (1, N, 4) x1 y1 x2 y2 + scores (1, N, C); a ``background_class`` column is ignored."""
    boxes, scores = (np.asarray(o, np.float32)[0] for o in outputs[:2])
    if background_class is not None:
        scores = scores.copy()
        scores[:, background_class] = 0
    return _select(boxes, scores, conf, iou, max_det, agnostic)


def decode_ssd_nms(outputs: Sequence[np.ndarray], conf: float, iou: float, max_det: int = 300,
                   agnostic: bool = False) -> RawDetections:
    """boxes (1, K, 4) + scores (1, K) + labels (1, K): the model already ran NMS."""
    boxes = np.asarray(outputs[0], np.float32).reshape(-1, 4)
    scores = np.asarray(outputs[1], np.float32).reshape(-1)
    labels = np.asarray(outputs[2]).reshape(-1).astype(np.int64)
    rows = np.nonzero(scores > conf)[0][:max_det]
    return RawDetections(boxes[rows], scores[rows], labels[rows], rows.astype(np.int64))


def decode_end2end(outputs: Sequence[np.ndarray], conf: float, iou: float, max_det: int = 300,
                   agnostic: bool = False) -> RawDetections:
    """(1, K, 6+E): x1 y1 x2 y2 score class (YOLOv10/YOLO26 and ``nms=True`` exports)."""
    pred = np.asarray(outputs[0], np.float32)[0]
    rows = np.nonzero(pred[:, 4] > conf)[0][:max_det]
    return RawDetections(pred[rows, :4], pred[rows, 4], pred[rows, 5].astype(np.int64), rows.astype(np.int64),
                         pred[rows, 6:] if pred.shape[1] > 6 else None)


def decode_detr(outputs: Sequence[np.ndarray], conf: float, iou: float, max_det: int = 300,
                agnostic: bool = False, input_hw: Tuple[int, int] = (1, 1)) -> RawDetections:
    """logits (1, Q, C+1) with "no object" last + boxes (1, Q, 4) normalised cx cy w h (no NMS)."""
    logits, boxes = (np.asarray(o, np.float32)[0] for o in outputs[:2])
    logits = logits - logits.max(1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(1, keepdims=True)
    probs = probs[:, :-1]
    class_id = probs.argmax(1)
    confidence = probs[np.arange(len(class_id)), class_id]
    rows = np.nonzero(confidence > conf)[0]
    rows = rows[np.argsort(-confidence[rows], kind="stable")][:max_det]
    h, w = input_hw
    xyxy = xywh_to_xyxy(boxes[rows]) * np.array([w, h, w, h], np.float32)
    return RawDetections(xyxy.astype(np.float32), confidence[rows].astype(np.float32), class_id[rows].astype(np.int64),
                         rows.astype(np.int64))


def _dims(shape) -> List[Optional[int]]:
    return [int(d) if isinstance(d, (int, np.integer)) and d > 0 else None for d in shape]


def detect_layout(output_names: Sequence[str], output_shapes: Sequence[Sequence], metadata: Optional[Dict] = None,
                  segmentation: bool = False) -> str:
    """The layout of a detection model's outputs, from their shapes and names (and metadata).

    Raises ``LayoutError`` naming the outputs when no layout fits or several do, so the user can
    pass ``layout=`` explicitly. ``segmentation=True`` expects YOLOv8-seg outputs (predictions and
    (1, M, h, w) prototypes).
    """
    metadata = metadata or {}
    names = [str(n).lower() for n in output_names]
    shapes = [_dims(s) for s in output_shapes]
    described = ", ".join(f"{n}{tuple(s)}" for n, s in zip(output_names, output_shapes))

    def fail(reason: str) -> LayoutError:
        return LayoutError(f"cannot tell the output layout of this model ({reason}); outputs: {described}. "
                           f"Pass layout= one of {', '.join(LAYOUTS)} (or your own postprocess=)")

    if segmentation:
        if len(shapes) == 2 and len(shapes[0]) == 3 and len(shapes[1]) == 4:
            return "yolov8"
        raise fail("a segmenter expects YOLOv8-seg outputs: predictions (1, 4+C+M, N) and prototypes (1, M, h, w)")
    if str(metadata.get("vistream.model", "")).startswith("yolox"):
        return "yolox"
    if len(shapes) == 1 and len(shapes[0]) == 3:
        channels, rows = shapes[0][1], shapes[0][2]
        classes = _class_count(metadata)
        if classes is not None and channels == 4 + classes:  # ultralytics' names say how many classes
            return "yolov8"
        if classes is not None and rows == 5 + classes:
            return "yolov5"
        if channels is not None and rows is not None:
            if rows == 6 and channels > rows:
                # x1 y1 x2 y2 score class (end-to-end) and a one-class YOLOv5 look the same
                if str(metadata.get("end2end", "")).lower() == "true":
                    return "end2end"
                raise fail("6 values per row: an end-to-end (NMS-in-graph) model or a one-class YOLOv5")
            if channels < rows:
                return "yolov8"
            if channels > rows:
                return "yolov5"
            raise fail("square output")
        if channels is not None and rows is None:
            return "yolov8"  # (1, 4+C, anchors): the anchor count is the dynamic axis
        if rows is not None and channels is None:
            return "yolov5"
        raise fail("both output dimensions are dynamic")
    if len(shapes) in (2, 3):
        box_index = [i for i, s in enumerate(shapes) if s and s[-1] == 4 and len(s) == 3]
        if len(box_index) != 1:
            raise fail("expected one (1, N, 4) box output beside the scores")
        if any("logit" in n for n in names):
            return "detr" if len(shapes) == 2 else _raise(fail("logits next to more than boxes"))
        if len(shapes) == 3:
            return "ssd_nms"
        return "ssd"
    raise fail(f"{len(shapes)} outputs")


def _class_count(metadata: Dict) -> Optional[int]:
    text = metadata.get("names") or metadata.get("vistream.num_classes")
    if not text:
        return None
    try:
        import ast

        value = ast.literal_eval(str(text))
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, (dict, list, tuple)):
        return len(value)
    return int(value) if isinstance(value, int) else None


def _raise(error: Exception):
    raise error


Decoder = Callable[..., RawDetections]
DECODERS: Dict[str, Decoder] = {"yolov8": decode_yolov8, "yolov5": decode_yolov5, "yolox": decode_yolov5,
                                "ssd": decode_ssd, "ssd_nms": decode_ssd_nms, "detr": decode_detr,
                                "end2end": decode_end2end}


def order_outputs(layout: str, output_names: Sequence[str], outputs: Sequence) -> List:
    """The outputs in the order the layout's decoder takes them (boxes first for SSD/DETR...)."""
    if layout in ("ssd", "ssd_nms", "detr"):
        shapes = [np.shape(o) for o in outputs]
        names = [str(n).lower() for n in output_names]
        box = next(i for i, s in enumerate(shapes) if len(s) == 3 and s[-1] == 4)
        others = [i for i in range(len(outputs)) if i != box]
        if layout == "detr":
            return [outputs[others[0]], outputs[box]]
        if layout == "ssd_nms":
            integer = [i for i in others if np.issubdtype(np.asarray(outputs[i]).dtype, np.integer)]
            label = next((i for i in others if "label" in names[i] or "class" in names[i]),
                         integer[0] if integer else others[-1])
            score = next(i for i in others if i != label)
            return [outputs[box], outputs[score], outputs[label]]
        return [outputs[box], outputs[others[0]]]
    return list(outputs)


def decode(layout: str, outputs: Sequence, conf: float, iou: float, max_det: int = 300, agnostic: bool = False,
           output_names: Sequence[str] = (), input_hw: Tuple[int, int] = (1, 1),
           num_classes: Optional[int] = None) -> RawDetections:
    """Runs the named layout's decoder on a model's outputs (numpy arrays, any order for SSD/DETR)."""
    if layout not in DECODERS:
        raise ValueError(f"unknown layout {layout!r}; one of {', '.join(LAYOUTS)}")
    outputs = order_outputs(layout, output_names or [f"output{i}" for i in range(len(outputs))], outputs)
    if layout == "detr":
        return decode_detr(outputs, conf, iou, max_det, agnostic, input_hw=input_hw)
    if layout in ("yolov8", "yolov5", "yolox"):
        return DECODERS[layout](outputs, conf, iou, max_det, agnostic, num_classes=num_classes)
    return DECODERS[layout](outputs, conf, iou, max_det, agnostic)
