"""``YOLOX`` detector: ``detector(bgr_image) -> Detections``."""

from __future__ import annotations

import os
import warnings
from typing import Iterable, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torchvision

from ...detections import Detections
from .network import MODEL_SPECS, build_model, canonical_name, resolve_num_classes

__all__ = ["YOLOX", "COCO_CLASSES", "letterbox", "postprocess"]

COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave",
    "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)

# ByteTrack's mix_det checkpoints were trained on RGB, /255, ImageNet mean/std inputs.
_MOT_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_MOT_STD = np.array([0.229, 0.224, 0.225], np.float32)


def letterbox(image: np.ndarray, size: Tuple[int, int], pad_value: int = 114) -> Tuple[np.ndarray, float]:
    """Resize keeping aspect ratio into an (h, w) canvas, image at the top-left. Returns (HxWx3 uint8, ratio)."""
    h, w = image.shape[:2]
    ratio = min(size[0] / h, size[1] / w)
    new_w, new_h = int(w * ratio), int(h * ratio)
    canvas = np.full((size[0], size[1], 3), pad_value, dtype=np.uint8)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR) if (new_w, new_h) != (w, h) else image
    canvas[:new_h, :new_w] = resized
    return canvas, ratio


def postprocess(pred: torch.Tensor, conf: float = 0.25, iou: float = 0.45,
                class_agnostic: bool = False, classes: Optional[Sequence[int]] = None) -> torch.Tensor:
    """One image's decoded output (A, 5 + C) -> (K, 6) tensor of x1, y1, x2, y2, score, class."""
    pred = pred.float()
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=1)
    cls_score, cls_id = pred[:, 5:].max(dim=1)
    score = pred[:, 4] * cls_score
    keep = score >= conf
    if classes is not None:
        keep &= torch.isin(cls_id, torch.as_tensor(list(classes), dtype=cls_id.dtype, device=cls_id.device))
    boxes, score, cls_id = boxes[keep], score[keep], cls_id[keep]
    if boxes.shape[0] == 0:
        return pred.new_zeros((0, 6))
    if class_agnostic:
        idx = torchvision.ops.nms(boxes, score, iou)
    else:
        idx = torchvision.ops.batched_nms(boxes, score, cls_id, iou)
    return torch.cat((boxes[idx], score[idx, None], cls_id[idx, None].to(boxes.dtype)), dim=1)


def _extract_state_dict(obj) -> dict:
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    elif isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise ValueError("checkpoint must be a state_dict or a dict with a 'model' key")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


class YOLOX:
    """YOLOX object detector (Megvii YOLOX / ByteTrack architectures) running on PyTorch.

    Args:
        model: one of ``yolox_nano``, ``yolox_tiny``, ``yolox_s``, ``yolox_m``, ``yolox_l``, ``yolox_x``,
            or the single-class ByteTrack person detectors ``yolox_{m,l,x}_mix_det``.
        ckpt_file: None (random weights), "auto" (the official weights of ``model`` through
            ``vistream.hub``), an http(s) URL, or a local ``.pth`` / ``.pth.tar`` (a state_dict or a dict with
            a ``"model"`` key, as saved by the official repositories).
        device: torch device string.
        fp16: half precision (CUDA only; on CPU a warning is issued and fp32 is used).
        input_size: network input (h, w) or int; defaults to the model's test size.
        conf: score threshold on objectness * class probability.
        nms: IoU threshold for non-maximum suppression.
        classes: optional iterable of class ids to keep.
        num_classes: number of classes of the head (the mix_det variants are always 1-class).
        class_agnostic: suppress overlapping boxes across classes.

    Example::

        detector = YOLOX("yolox_s", ckpt_file="yolox_s.pth")
        detections = detector(frame_bgr)
    """

    def __init__(self, model: str = "yolox_s", ckpt_file: Optional[str] = None, device: str = "cpu",
                 fp16: bool = False, input_size: Union[None, int, Tuple[int, int]] = None,
                 conf: float = 0.25, nms: float = 0.45, classes: Optional[Iterable[int]] = None,
                 num_classes: int = 80, class_agnostic: bool = False):
        self.name = canonical_name(model)
        spec = MODEL_SPECS[self.name]
        self.num_classes = resolve_num_classes(self.name, num_classes)
        self.is_mot = self.name.endswith("_mix_det")
        if input_size is None:
            input_size = spec[4]
        elif isinstance(input_size, int):
            input_size = (input_size, input_size)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        if self.input_size[0] % 32 or self.input_size[1] % 32:
            raise ValueError(f"input_size must be multiples of 32, got {self.input_size}")
        self.conf = float(conf)
        self.nms = float(nms)
        self.classes = None if classes is None else [int(c) for c in classes]
        self.class_agnostic = bool(class_agnostic)
        self.device = torch.device(device)
        if fp16 and self.device.type != "cuda":
            warnings.warn("YOLOX: fp16 is only supported on CUDA; using fp32 on "
                          f"{self.device.type}", RuntimeWarning, stacklevel=2)
            fp16 = False
        self.fp16 = bool(fp16)

        if self.is_mot:
            self.class_names = ("person",)
        elif self.num_classes == len(COCO_CLASSES):
            self.class_names = COCO_CLASSES
        else:
            self.class_names = tuple(str(i) for i in range(self.num_classes))

        net = build_model(self.name, self.num_classes)
        if ckpt_file is not None:
            self.load_checkpoint(net, self.name if str(ckpt_file) == "auto" else ckpt_file)
        net.eval().to(self.device)
        if self.fp16:
            net.half()
        self.model = net

    @staticmethod
    def load_checkpoint(net: torch.nn.Module, ckpt_file) -> None:
        """Loads a local file, an http(s) URL or a model name of the weights hub (strict)."""
        from ... import hub

        text = str(ckpt_file)
        if "://" in text or (not os.path.exists(text) and text in hub.manifest()):
            text = str(hub.resolve(text))  # downloaded once into the cache, verified
        if not os.path.isfile(text):
            raise FileNotFoundError(f"YOLOX checkpoint not found: {text}")
        try:
            obj = torch.load(text, map_location="cpu", weights_only=True)
        except Exception:  # older checkpoints may pickle extra objects (e.g. optimizer state, amp)
            obj = torch.load(text, map_location="cpu", weights_only=False)
        net.load_state_dict(_extract_state_dict(obj), strict=True)

    def preprocess(self, image: np.ndarray) -> Tuple[torch.Tensor, float]:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"YOLOX expects a BGR HxWx3 numpy array, got "
                             f"{getattr(image, 'shape', type(image))}")
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        padded, ratio = letterbox(image, self.input_size)
        if self.is_mot:
            x = (padded[:, :, ::-1].astype(np.float32) / 255.0 - _MOT_MEAN) / _MOT_STD
        else:
            x = padded.astype(np.float32)
        tensor = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)
        if self.fp16:
            tensor = tensor.half()
        return tensor, ratio

    def to_detections(self, result: torch.Tensor, ratio: float, image_shape) -> Detections:
        result = result.detach().float().cpu().numpy()
        h, w = image_shape[:2]
        xyxy = result[:, :4] / ratio
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
        class_id = result[:, 5].astype(np.int64)
        names = np.array([self.class_names[c] for c in class_id], dtype=object) if len(class_id) else \
            np.zeros(0, dtype=object)
        return Detections(xyxy=xyxy, confidence=result[:, 4], class_id=class_id, data={"class_name": names})

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> Detections:
        tensor, ratio = self.preprocess(image)
        raw = self.model(tensor)[0]
        result = postprocess(raw, self.conf, self.nms, self.class_agnostic, self.classes)
        return self.to_detections(result, ratio, image.shape)

    def __repr__(self) -> str:
        return (f"YOLOX(model={self.name!r}, input_size={self.input_size}, device={str(self.device)!r}, "
                f"fp16={self.fp16}, conf={self.conf}, nms={self.nms})")
