"""Generic predictors: any ONNX file or torch module as a detector, segmenter or classifier.

Each predictor is ``runtime`` + ``preprocess`` + ``postprocess``:

- the runtime runs the network (``OnnxRuntime``, ``TorchRuntime``, ``TensorRTRuntime``),
- ``preprocess(frame) -> (batch, ImageTransform)`` makes the model input (letterbox, resize,
  ImageNet crop) and remembers how to map results back to source pixels,
- ``postprocess(outputs, transform) -> result`` decodes the outputs (a named layout, detected
  from the model's outputs unless given).

Example::

    detector = vistream.OnnxDetector("yolov8n.onnx", conf=0.3)          # layout found: yolov8
    detections = detector(frame)                                         # source pixels
    segmenter = vistream.OnnxSegmenter("yolov8n-seg.onnx")
    classifier = vistream.OnnxClassifier("resnet18.onnx", top_k=5)
    torch_detector = vistream.TorchDetector(module, layout="yolov8", imgsz=640, precision="bf16")
"""

from __future__ import annotations

import ast
import math
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..classifications import Classifications
from ..detections import Detections
from ..masks import InstanceMasks
from . import postprocess as post
from .preprocess import ImageNetPreprocess, ImageTransform, Letterbox, Resize, IMAGENET_MEAN, IMAGENET_STD
from ..tunables import Tunable
from .runtime import OnnxRuntime, Runtime, TensorRTRuntime, TorchRuntime

__all__ = ["OnnxDetector", "TorchDetector", "OnnxSegmenter", "TorchSegmenter", "OnnxClassifier", "TorchClassifier",
           "ModelDetector", "ModelSegmenter", "ModelClassifier", "default_preprocess", "class_names_from_metadata",
           "masks_from_prototypes"]

Preprocess = Callable[[Any], Tuple[Any, ImageTransform]]
Size = Union[int, Tuple[int, int]]


def class_names_from_metadata(metadata: Dict[str, str]) -> Optional[Dict[int, str]]:
    """Class names stored in a model's metadata (ultralytics' ``names`` dict), if any."""
    text = metadata.get("names") or metadata.get("vistream.class_names")
    if not text:
        return None
    try:
        names = ast.literal_eval(text)  # ultralytics writes str(dict); never eval arbitrary code
    except (ValueError, SyntaxError):
        return None
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    return {int(k): str(v) for k, v in names.items()} if isinstance(names, dict) else None


def default_preprocess(layout: str, input_hw: Tuple[int, int], metadata: Optional[Dict[str, str]] = None) -> Preprocess:
    """The preprocessing a model of this layout was trained with (override with ``preprocess=``)."""
    if layout == "yolox":
        if str((metadata or {}).get("vistream.model", "")).endswith("_mix_det"):
            # ByteTrack's MOT models: RGB, 0-1, ImageNet mean/std, YOLOX' top-left letterbox
            return Letterbox(input_hw, center=False, rgb=True, scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD)
        return Letterbox(input_hw, center=False, rgb=False, scale=1.0)  # BGR 0-255, padded right/bottom
    if layout in ("ssd", "ssd_nms"):
        return Resize(input_hw, rgb=True, scale=1 / 255)
    if layout == "detr":
        return Resize(input_hw, rgb=True, scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    return Letterbox(input_hw, center=True, rgb=True, scale=1 / 255)  # ultralytics / YOLOv5 / v8 / v11


def _input_hw(runtime: Runtime, imgsz: Optional[Size], default: int = 640) -> Tuple[int, int]:
    fixed = runtime.input_hw
    if imgsz is not None:
        hw = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))
        if fixed is not None and fixed != hw:
            raise ValueError(f"imgsz={imgsz} but the model's input is fixed at {fixed[0]}x{fixed[1]}")
        return hw
    if fixed is not None:
        return fixed
    meta = runtime.metadata.get("imgsz") or runtime.metadata.get("vistream.input_size")
    if meta:
        values = [int(v) for v in str(meta).strip("[]() ").replace(",", " ").split()]
        return (values[0], values[-1])
    return (default, default)


def _make_detections(raw: post.RawDetections, transform: ImageTransform,
                     class_names: Optional[Dict[int, str]]) -> Detections:
    xyxy = transform.boxes_to_source(raw.xyxy) if len(raw) else np.zeros((0, 4), np.float32)
    return Detections(xyxy=xyxy, confidence=raw.confidence, class_id=raw.class_id, class_names=class_names)


def _attach_masks(detections: Detections, crops: List[np.ndarray], origins: List[Tuple[int, int]],
                  frame_hw: Tuple[int, int]) -> Detections:
    """Puts per-box mask crops ((y, x) origins) on the detections, stored compactly (no full-frame arrays)."""
    detections.mask = InstanceMasks.from_crops(crops, origins, frame_hw)
    return detections


class ModelDetector:
    """A detector made of a runtime, a preprocess and a postprocess (see the module doc).

    Args:
        runtime: an ``OnnxRuntime``, ``TorchRuntime``, ``TensorRTRuntime`` or anything with their
            interface.
        layout: "auto" (from the outputs' shapes/names/metadata) or one of ``postprocess.LAYOUTS``.
        preprocess: ``frame -> (batch, ImageTransform)``; default: the layout's (``default_preprocess``).
        postprocess: ``(outputs, transform) -> Detections`` replacing the layout decoder entirely.
        conf: minimum score; iou: NMS IoU threshold; max_det: most detections per frame.
        classes: keep only these class ids; agnostic: NMS across classes.
        class_names: id → name (default: the model's ``names`` metadata, as ultralytics writes it).
        imgsz: input (H, W) for models with a dynamic input size (default: the model's own size).
    """

    task = "detect"

    #: live parameters (``Pipeline.set_tunable("detector", ...)``)
    tunables = (
        Tunable("conf", 0.0, 1.0, 0.01, doc="minimum score"),
        Tunable("iou", 0.05, 1.0, 0.01, doc="IoU threshold of non-maximum suppression"),
    )

    def __init__(self, runtime: Runtime, *, layout: str = "auto", preprocess: Optional[Preprocess] = None,
                 postprocess: Optional[Callable[[List[Any], ImageTransform], Any]] = None, conf: float = 0.25,
                 iou: float = 0.45, max_det: int = 300, classes: Optional[Sequence[int]] = None,
                 agnostic: bool = False, class_names: Optional[Dict[int, str]] = None, imgsz: Optional[Size] = None):
        if not 0 <= conf <= 1 or not 0 <= iou <= 1:
            raise ValueError(f"conf and iou must be within 0..1, got conf={conf}, iou={iou}")
        self.runtime = runtime
        self.input_hw = _input_hw(runtime, imgsz)
        self.conf, self.iou, self.max_det, self.agnostic = float(conf), float(iou), int(max_det), bool(agnostic)
        self.classes = None if classes is None else np.asarray(list(classes), np.int64)
        self.class_names = class_names if class_names is not None else class_names_from_metadata(runtime.metadata)
        self._custom_postprocess = postprocess
        self.layout = self._resolve_layout(layout) if postprocess is None else layout
        self.preprocess: Preprocess = preprocess or default_preprocess(
            self.layout if self.layout in post.LAYOUTS else "yolov8", self.input_hw, runtime.metadata)

    def _resolve_layout(self, layout: str) -> str:
        if layout != "auto":
            if layout not in post.LAYOUTS:
                raise ValueError(f"unknown layout {layout!r}; one of {', '.join(post.LAYOUTS)}")
            return layout
        if not self.runtime.output_shapes:  # a torch module: learn its outputs from one dummy run
            self.runtime(np.zeros((1, 3, *self.input_hw), np.float32))
        return post.detect_layout(self.runtime.output_names, self.runtime.output_shapes, self.runtime.metadata,
                                  segmentation=self.task == "segment")

    def infer(self, frame) -> Tuple[List[Any], ImageTransform]:
        """Preprocess and run the model: the raw outputs and the frame's transform."""
        batch, transform = self.preprocess(frame)
        return self.runtime(batch), transform

    def _decode(self, outputs: List[Any], transform: ImageTransform,
                num_classes: Optional[int] = None) -> post.RawDetections:
        outputs = [o.detach().float().cpu().numpy() if hasattr(o, "detach") else np.asarray(o) for o in outputs]
        raw = post.decode(self.layout, outputs, self.conf, self.iou, self.max_det, self.agnostic,
                          output_names=self.runtime.output_names, input_hw=transform.input_hw,
                          num_classes=num_classes)
        if self.layout in ("ssd", "ssd_nms") and len(raw) and float(raw.xyxy.max()) <= 2.0:
            # SSD exports differ: normalised 0..1 corners are scaled to input pixels
            h, w = transform.input_hw
            raw.xyxy = raw.xyxy * np.array([w, h, w, h], np.float32)
        if self.classes is not None and len(raw):
            keep = np.isin(raw.class_id, self.classes)
            raw = post.RawDetections(raw.xyxy[keep], raw.confidence[keep], raw.class_id[keep], raw.rows[keep],
                                     None if raw.extra is None else raw.extra[keep])
        return raw

    def __call__(self, frame) -> Detections:
        """Detections in the frame's pixels (a BGR HxWx3 array or a vistream Frame)."""
        outputs, transform = self.infer(frame)
        if self._custom_postprocess is not None:
            return self._custom_postprocess(outputs, transform)
        raw = self._decode(outputs, transform)
        return _make_detections(raw, transform, self.class_names)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(runtime={self.runtime!r}, layout={self.layout!r}, "
                f"input_hw={self.input_hw}, conf={self.conf})")

    # Layouts whose every output is (batch, ...): their outputs can be split per image.
    _BATCHED_LAYOUTS = ("yolov8", "yolov5", "yolox")

    def _runs_batches(self) -> bool:
        """Whether one network call may take several images: a torch module always can, an ONNX
        or TensorRT graph when its batch dimension is symbolic."""
        if self._custom_postprocess is not None or self.layout not in self._BATCHED_LAYOUTS:
            return False
        if self.runtime.name == "torch":
            return True
        shape = self.runtime.input_shape
        return bool(shape) and not (isinstance(shape[0], int) and shape[0] > 0)

    def batch(self, frames: Sequence[Any]) -> List[Detections]:
        """Detections for several images (BGR arrays or frames with ``.array``, any sizes), in order.

        One network call for all of them when the model takes a batch (a torch module, or an
        ONNX/TensorRT graph whose batch dimension is dynamic, with a yolov8/yolov5/yolox layout);
        otherwise one call per image. Either way each result equals ``self(frame)``.
        ``MultiPlayer`` calls this once per batch.
        """
        frames = list(frames)
        if len(frames) <= 1 or not self._runs_batches():
            return [self(frame) for frame in frames]
        inputs, transforms = zip(*(self.preprocess(frame) for frame in frames))
        outputs = self.runtime(np.concatenate([np.asarray(x) for x in inputs]))
        results = []
        for row, transform in enumerate(transforms):
            raw = self._decode([output[row:row + 1] for output in outputs], transform)
            results.append(_make_detections(raw, transform, self.class_names))
        return results


class ModelSegmenter(ModelDetector):
    """YOLOv8/v11-seg instance segmentation: boxes plus masks from prototype masks.

    The model outputs predictions (1, 4+C+M, N) and prototypes (1, M, h, w). Each kept box's mask
    is ``sigmoid(coefficients @ prototypes) > 0.5``, resampled to source pixels like ultralytics'
    ``retina_masks`` but only inside its box, and stored as a crop (``InstanceMasks.from_crops``).
    Detections whose mask is empty are dropped (as ultralytics does).
    """

    task = "segment"

    def _runs_batches(self) -> bool:
        return False  # masks come from per-image prototypes: ``batch`` runs image by image

    def __call__(self, frame) -> Detections:
        outputs, transform = self.infer(frame)
        if self._custom_postprocess is not None:
            return self._custom_postprocess(outputs, transform)
        protos = np.asarray(outputs[1].detach().float().cpu().numpy() if hasattr(outputs[1], "detach")
                            else outputs[1], np.float32)[0]
        num_masks = protos.shape[0]
        num_classes = int(np.shape(outputs[0])[1]) - 4 - num_masks
        raw = self._decode(outputs[:1], transform, num_classes=num_classes)
        detections = _make_detections(raw, transform, self.class_names)
        crops, origins = masks_from_prototypes(
            protos, raw.extra if raw.extra is not None else np.zeros((0, num_masks)), detections.xyxy, transform)
        detections = _attach_masks(detections, crops, origins, transform.source_hw)
        keep = np.array([crop.any() for crop in crops], bool)
        return detections if keep.all() else detections[keep]


def _whole_pixel_factor(values: Sequence[float]) -> int:
    """The smallest upsampling (1, 2, 4, 8) that puts every value on a whole prototype pixel."""
    for factor in (1, 2, 4, 8):
        if all(abs(v * factor - round(v * factor)) < 1e-6 for v in values):
            return factor
    return 8


def masks_from_prototypes(protos: np.ndarray, coefficients: np.ndarray, boxes: np.ndarray,
                          transform: ImageTransform) -> Tuple[List[np.ndarray], List[Tuple[int, int]]]:
    """Instance masks in source pixels, each cropped to its box: (crops, (y, x) origins).

    Args:
        protos: (M, h, w) prototype masks of the model input (letterboxed) image.
        coefficients: (N, M) mask coefficients of the kept detections.
        boxes: (N, 4) boxes in source pixels (a pixel column c is inside when x1 <= c < x2).
        transform: the frame → model input mapping.

    The resampling is ultralytics' (``retina_masks``): the mask logits are upsampled bilinearly by
    the smallest factor that puts the letterbox padding on whole pixels, the frame's part is cut
    out and resampled bilinearly to the frame, and ``logit > 0`` (sigmoid > 0.5) is the mask - but
    only the pixels inside each box are computed, so a mask costs its box's area, not the frame's.
    """
    num_masks, mh, mw = protos.shape
    logits = (np.asarray(coefficients, np.float32) @ protos.reshape(num_masks, -1)).reshape(-1, mh, mw)
    in_h, in_w = transform.input_hw
    frame_h, frame_w = transform.source_hw
    stride_y, stride_x = in_h / mh, in_w / mw
    # the frame's content inside the prototype grid, in prototype pixels
    top, left = transform.pad_y / stride_y, transform.pad_x / stride_x
    content_h, content_w = frame_h * transform.gain_y / stride_y, frame_w * transform.gain_x / stride_x
    factor = _whole_pixel_factor((top, left, content_h, content_w))
    top, left = int(round(top * factor)), int(round(left * factor))
    bottom, right = top + max(int(round(content_h * factor)), 1), left + max(int(round(content_w * factor)), 1)
    scale_y, scale_x = (bottom - top) / frame_h, (right - left) / frame_w
    crops, origins = [], []
    for logit, (x1, y1, x2, y2) in zip(logits, np.asarray(boxes, np.float32)):
        c0, c1 = min(max(math.ceil(x1), 0), frame_w), min(max(math.ceil(x2), 0), frame_w)
        r0, r1 = min(max(math.ceil(y1), 0), frame_h), min(max(math.ceil(y2), 0), frame_h)
        origins.append((r0, c0))
        if c1 <= c0 or r1 <= r0:
            crops.append(np.zeros((max(r1 - r0, 0), max(c1 - c0, 0)), bool))
            continue
        if factor > 1:
            logit = cv2.resize(logit, (mw * factor, mh * factor), interpolation=cv2.INTER_LINEAR)
        content = np.ascontiguousarray(logit[top:bottom, left:right])
        # output pixel (c, r) of the box samples the content at ((c + .5) * scale - .5), edges clamped
        matrix = np.array([[scale_x, 0, scale_x * (c0 + 0.5) - 0.5], [0, scale_y, scale_y * (r0 + 0.5) - 0.5]])
        sampled = cv2.warpAffine(content, matrix, (c1 - c0, r1 - r0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
        crops.append(sampled > 0)  # sigmoid(x) > 0.5
    return crops, origins


def _make_classification(probabilities: np.ndarray, top_k: int,
                         class_names: Optional[Dict[int, str]]) -> Classifications:
    """The top-k classes of one image as a one-row ``Classifications``."""
    return Classifications.from_scores(probabilities[None], k=min(top_k, probabilities.shape[-1]),
                                       class_names=class_names)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


class ModelClassifier:
    """An image classifier: (1, C) logits or probabilities → top-k classes.

    Args:
        runtime: the model's runtime.
        preprocess: default ``ImageNetPreprocess`` at the model's input size (short side to
            size/0.875, centre crop, RGB, ImageNet mean/std).
        top_k: classes returned per image.
        apply_softmax: "auto" (softmax unless the outputs already are probabilities: non-negative
            rows summing to 1), True or False.
        class_names: id → name (default: the model's ``names`` metadata).
        imgsz: input size for models with a dynamic input (default 224).
    """

    task = "classify"

    def __init__(self, runtime: Runtime, *, preprocess: Optional[Preprocess] = None, top_k: int = 5,
                 apply_softmax: Union[str, bool] = "auto", class_names: Optional[Dict[int, str]] = None,
                 imgsz: Optional[Size] = None):
        self.runtime = runtime
        self.input_hw = _input_hw(runtime, imgsz, default=224)
        self.preprocess: Preprocess = preprocess or ImageNetPreprocess(self.input_hw)
        self.top_k, self.apply_softmax = int(top_k), apply_softmax
        self.class_names = class_names if class_names is not None else class_names_from_metadata(runtime.metadata)

    def probabilities(self, frame) -> np.ndarray:
        """(C,) class probabilities of one frame."""
        batch, _ = self.preprocess(frame)
        output = self.runtime(batch)[0]
        output = np.asarray(output.detach().float().cpu().numpy() if hasattr(output, "detach") else output,
                            np.float32).reshape(-1)
        already = bool(output.min() >= 0 and abs(float(output.sum()) - 1) < 1e-3)
        if self.apply_softmax is True or (self.apply_softmax == "auto" and not already):
            output = softmax(output)
        return output

    def __call__(self, frame) -> Classifications:
        """The top-k classes of the frame (best first), as a one-row ``Classifications``."""
        return _make_classification(self.probabilities(frame), self.top_k, self.class_names)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(runtime={self.runtime!r}, input_hw={self.input_hw}, top_k={self.top_k})"


def _onnx_or_engine(path, device, providers) -> Runtime:
    if str(path).endswith((".engine", ".plan", ".trt")):
        return TensorRTRuntime(path, device if str(device).startswith("cuda") else "cuda")
    return OnnxRuntime(path, device, providers)


class OnnxDetector(ModelDetector):
    """An ONNX (or TensorRT ``.engine``) object detector; see ``ModelDetector`` for the options.

    Args:
        path: the model file. ``.onnx`` runs on ONNX Runtime (TensorRT EP > CUDA EP > CPU by
            ``device``, or ``providers=``); ``.engine``/``.plan`` on TensorRT.

    Example::

        detector = OnnxDetector("yolov8n.onnx", conf=0.3)
        detections = detector(frame)
    """

    def __init__(self, path: Union[str, os.PathLike], *, device: Any = "cpu", providers: Optional[Sequence[str]] = None,
                 **options):
        super().__init__(_onnx_or_engine(path, device, providers), **options)


class OnnxSegmenter(ModelSegmenter):
    """A YOLOv8/v11-seg ONNX (or TensorRT) instance segmenter; options as ``OnnxDetector``."""

    def __init__(self, path: Union[str, os.PathLike], *, device: Any = "cpu", providers: Optional[Sequence[str]] = None,
                 **options):
        super().__init__(_onnx_or_engine(path, device, providers), **options)


class OnnxClassifier(ModelClassifier):
    """An ONNX (or TensorRT) image classifier; options as ``ModelClassifier``."""

    def __init__(self, path: Union[str, os.PathLike], *, device: Any = "cpu", providers: Optional[Sequence[str]] = None,
                 **options):
        super().__init__(_onnx_or_engine(path, device, providers), **options)


class TorchDetector(ModelDetector):
    """A torch module as a detector. The module takes the preprocessed (1, 3, H, W) batch and returns
    the same tensors its ONNX export would (e.g. ultralytics' eval output ``(1, 4+C, N)``).

    Args:
        module: the ``nn.Module``.
        device / precision: where and in which dtype it runs ("fp32", "fp16", "bf16").
        imgsz: the input size (default 640).
        metadata: e.g. {"names": "{0: 'person'}"} for class names.
        other options: as ``ModelDetector`` (layout "auto" runs the module once to see its outputs).
    """

    def __init__(self, module: Any, *, device: Any = "cpu", precision: str = "fp32", imgsz: Size = 640,
                 metadata: Optional[Dict[str, str]] = None, **options):
        super().__init__(TorchRuntime(module, device, precision, imgsz, metadata=metadata), imgsz=imgsz, **options)


class TorchSegmenter(ModelSegmenter):
    """A torch module returning YOLOv8-seg style (predictions, prototypes); options as ``TorchDetector``."""

    def __init__(self, module: Any, *, device: Any = "cpu", precision: str = "fp32", imgsz: Size = 640,
                 metadata: Optional[Dict[str, str]] = None, **options):
        super().__init__(TorchRuntime(module, device, precision, imgsz, metadata=metadata), imgsz=imgsz, **options)


class TorchClassifier(ModelClassifier):
    """A torch classification module (e.g. timm or torchvision); options as ``ModelClassifier``."""

    def __init__(self, module: Any, *, device: Any = "cpu", precision: str = "fp32", imgsz: Size = 224,
                 metadata: Optional[Dict[str, str]] = None, **options):
        super().__init__(TorchRuntime(module, device, precision, imgsz, metadata=metadata), imgsz=imgsz, **options)
