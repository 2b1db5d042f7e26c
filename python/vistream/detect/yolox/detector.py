"""``YOLOX`` detector: ``detector(bgr_image) -> Detections``."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

if TYPE_CHECKING:  # torch is optional: imported when a YOLOX is built
    import torch

from ...detections import Detections
from ...errors import CheckpointMismatchError, MissingDependencyError, UntrustedCheckpointError
from ...tunables import Tunable
from .specs import DEFAULT_MODEL, MODEL_SPECS, canonical_name, checkpoint_architecture, choose_variant, \
    resolve_num_classes

__all__ = ["YOLOX", "COCO_CLASSES", "UntrustedCheckpointError", "CheckpointMismatchError", "letterbox",
           "letterbox_tensor", "resize_like_opencv", "postprocess", "require_torch"]

# What works from a source checkout (scripts/setup.sh pins these), and the extra for an installed package.
TORCH_INSTALL_HINT = ('.venv/bin/python -m pip install torch==2.14.1 torchvision==0.29.1 (in a vistream checkout), '
                      'or pip install "vistream[yolox]"')


def require_torch():
    """Imports torch and torchvision (YOLOX needs both), or raises ``MissingDependencyError`` saying how to install."""
    try:
        import torch
        import torchvision  # noqa: F401  (NMS)
    except ImportError as error:
        raise MissingDependencyError(f"YOLOX needs torch and torchvision ({error}); install them: "
                                     f"{TORCH_INSTALL_HINT}") from error
    return torch

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


def letterbox_tensor(image: "torch.Tensor", size: Tuple[int, int],
                     pad_value: int = 114) -> Tuple["torch.Tensor", float]:
    """:func:`letterbox` in torch, on the image's own device (a CUDA frame stays on the GPU).

    ``image`` is an (H, W, 3) uint8 tensor (any strides, e.g. ``torch.from_dlpack(frame)``).
    Returns ((1, 3, h, w) float32 tensor of whole numbers 0..255, ratio): :func:`letterbox`'s
    canvas, channels first, pixel for pixel (the resize is :func:`resize_like_opencv`).
    """
    import torch

    h, w = int(image.shape[0]), int(image.shape[1])
    ratio = min(size[0] / h, size[1] / w)
    new_w, new_h = int(w * ratio), int(h * ratio)
    resized = resize_like_opencv(image, new_h, new_w) if (new_w, new_h) != (w, h) else image
    canvas = torch.full((1, 3, size[0], size[1]), float(pad_value), dtype=torch.float32, device=image.device)
    canvas[0, :, :new_h, :new_w] = resized.permute(2, 0, 1)
    return canvas, ratio


def resize_like_opencv(image: "torch.Tensor", height: int, width: int) -> "torch.Tensor":
    """``cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)`` for (H, W, C) uint8
    tensors, with OpenCV's integer arithmetic, so CPU and GPU frames letterbox to the same bytes
    as the numpy path (checked bit-exact against OpenCV 4.14 on x86, up- and downscaling).

    OpenCV resizes 8-bit images in fixed point: 11-bit weights (``round(w * 2048)``), an exact
    horizontal pass, then its SIMD vertical pass, ``((h0 >> 4) * b0 >> 16) + ((h1 >> 4) * b1 >> 16)``
    rounded by ``(+ 2) >> 2``. Columns past the edges are clamped with their weight reset (the
    edge pixel counts fully); rows keep their weights and clamp the row index.
    """
    import torch

    source_h, source_w = int(image.shape[0]), int(image.shape[1])
    x_low, x_high, a_low, a_high = _linear_taps(source_w, width, image.device, clamp_weights=True)
    y_low, y_high, b_low, b_high = _linear_taps(source_h, height, image.device, clamp_weights=False)
    pixels = image.to(torch.int32)
    # in-place steps: at 1280x720 -> 1422x800 each temporary is 13 MB
    across = pixels.index_select(1, x_low).mul_(a_low[None, :, None])
    across.add_(pixels.index_select(1, x_high).mul_(a_high[None, :, None])).bitwise_right_shift_(4)
    out = across.index_select(0, y_low).mul_(b_low[:, None, None]).bitwise_right_shift_(16)
    out.add_(across.index_select(0, y_high).mul_(b_high[:, None, None]).bitwise_right_shift_(16))
    return out.add_(2).bitwise_right_shift_(2).clamp_(0, 255).to(torch.uint8)


def _linear_taps(source: int, target: int, device, clamp_weights: bool):
    """OpenCV's INTER_LINEAR taps along one axis: (low index, high index, low weight, high weight),
    weights in 1/2048ths (int32 tensors on ``device``)."""
    import torch

    scale = 1.0 / (target / source)  # as OpenCV: the inverse of dsize/ssize, in double
    position = ((torch.arange(target, dtype=torch.float64, device=device) + 0.5) * scale - 0.5).to(torch.float32)
    low = torch.floor(position)
    fraction = position - low
    low = low.to(torch.int64)
    if clamp_weights:
        outside = (low < 0) | (low >= source - 1)
        fraction = torch.where(outside, torch.zeros_like(fraction), fraction)
        low = low.clamp(0, source - 1)
    # float -> short rounds half to even in OpenCV (cvRound), as torch.round does
    low_weight = torch.round((1.0 - fraction) * 2048.0).to(torch.int32)
    high_weight = torch.round(fraction * 2048.0).to(torch.int32)
    return low.clamp(0, source - 1), (low + 1).clamp(0, source - 1), low_weight, high_weight


def postprocess(pred: "torch.Tensor", conf: float = 0.25, iou: float = 0.45,
                class_agnostic: bool = False, classes: Optional[Sequence[int]] = None) -> "torch.Tensor":
    """One image's decoded output (A, 5 + C) -> (K, 6) tensor of x1, y1, x2, y2, score, class."""
    import torch
    import torchvision

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


class YOLOX:
    """YOLOX object detector (Megvii YOLOX / ByteTrack architectures) on PyTorch, ONNX Runtime or TensorRT.

    Every backend receives the same letterboxed tensor and returns the same decoded (1, A, 5 + C)
    output, so thresholds, NMS and the mapping back to image coordinates are shared.

    Args:
        model: one of ``yolox_nano``, ``yolox_tiny``, ``yolox_s``, ``yolox_m``, ``yolox_l``, ``yolox_x``,
            or the single-class ByteTrack person detectors ``yolox_{m,l,x}_mix_det`` (ByteTrack's
            preprocessing and 800x1440 input). None (default): the checkpoint's tensors decide (a 1-class
            m/l/x network is a ``*_mix_det``); with ``ckpt_file="auto"`` or no checkpoint it is
            ``yolox_m_mix_det``, ByteTrack's MOT17 pedestrian detector.
        ckpt_file: None (random weights), "auto" (the official weights of ``model`` through
            ``vistream.hub``), an http(s) URL, or a local ``.pth`` / ``.pth.tar`` (a state_dict or a dict with
            a ``"model"`` key, as saved by the official repositories).
        device: torch device string.
        fp16: half precision (torch backend on CUDA only). On CPU a warning is issued and fp32 is used:
            bfloat16 measured 2.5-5x slower than fp32 (yolox_s / yolox_m at 640, torch 2.14) on an AVX-512
            CPU without AMX / AVX512-BF16, where oneDNN emulates it; ``bf16=True`` forces it.
        bf16: bfloat16 weights and activations (torch backend, CPU or CUDA). Only worth it on CPUs with AMX
            or AVX512-BF16 (e.g. Xeon Sapphire Rapids); boxes stay within ~0.5% of fp32.
        input_size: network input (h, w) or int; defaults to the model's test size (with ``onnx_file`` /
            ``trt_file``: to the file's fixed input size).
        conf: score threshold on objectness * class probability.
        nms: IoU threshold for non-maximum suppression.
        classes: optional iterable of class ids to keep (0 is "person" for COCO and mix_det models alike).
        num_classes: classes of the head; None takes them from the checkpoint (else the model's default:
            80, or 1 for mix_det). A value the checkpoint contradicts raises ``CheckpointMismatchError``.
        class_agnostic: suppress overlapping boxes across classes.
        onnx_file: run this ONNX file (see ``export_onnx``) with ONNX Runtime instead of torch: the TensorRT
            or CUDA execution provider when ``device`` is cuda and the provider is installed, else the CPU one.
            If the file does not exist and ``ckpt_file`` is given, the checkpoint is exported there first
            and reused afterwards (a cache: delete the file to export again, e.g. after changing weights).
            Needs ``pip install onnxruntime`` (``onnxruntime-gpu`` for CUDA).
        trt_file: run this serialized TensorRT engine (built for this GPU and TensorRT version) on CUDA.
            Needs ``pip install tensorrt`` (10+) and an NVIDIA GPU; ``ckpt_file`` is ignored.
        trust_checkpoint: allow ``ckpt_file`` to unpickle arbitrary Python objects (which can run code from
            the file). Only needed for checkpoints that hold more than tensors and whose sha256 is not pinned
            (by the weights manifest, or recorded by the hub when it downloaded them); otherwise such files
            raise ``UntrustedCheckpointError``.

    Raises:
        MissingDependencyError: torch or torchvision is not installed (the message says how to install).
        CheckpointMismatchError: the checkpoint's architecture is not ``model``'s.
        UntrustedCheckpointError: the checkpoint needs full unpickling and nothing vouches for it.

    Example::

        detector = YOLOX(ckpt_file="auto")                    # ByteTrack's MOT17 yolox_m person detector
        coco = YOLOX("yolox_s", ckpt_file="auto")             # COCO, 80 classes
        detections = detector(frame_bgr)
        onnx_detector = YOLOX(ckpt_file="auto", onnx_file="bytetrack_m.onnx")  # exported once
    """

    #: live parameters (``Pipeline.set_tunable("detector", ...)``)
    tunables = (
        Tunable("conf", 0.01, 1.0, 0.01, doc="minimum score (objectness x class probability)"),
        Tunable("nms", 0.05, 1.0, 0.01, doc="IoU threshold of non-maximum suppression"),
    )

    def __init__(self, model: Optional[str] = None, ckpt_file: Optional[str] = None, device: str = "cpu",
                 fp16: bool = False, input_size: Union[None, int, Tuple[int, int]] = None,
                 conf: float = 0.25, nms: float = 0.45, classes: Optional[Iterable[int]] = None,
                 num_classes: Optional[int] = None, class_agnostic: bool = False, onnx_file: Optional[str] = None,
                 trt_file: Optional[str] = None, bf16: bool = False, trust_checkpoint: bool = False):
        torch = require_torch()
        if model is not None:
            canonical_name(model)  # an unknown name fails before any download
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        if input_size is not None and (int(input_size[0]) % 32 or int(input_size[1]) % 32):
            raise ValueError(f"input_size must be multiples of 32, got {tuple(input_size)}")
        self.conf = float(conf)
        self.nms = float(nms)
        self.classes = None if classes is None else [int(c) for c in classes]
        self.class_agnostic = bool(class_agnostic)
        self.device = torch.device(device)
        if onnx_file is not None and trt_file is not None:
            raise ValueError("pass either onnx_file or trt_file, not both")
        if fp16 and bf16:
            raise ValueError("pass either fp16 or bf16, not both")
        self.backend = "tensorrt" if trt_file is not None else "onnxruntime" if onnx_file is not None else "torch"
        if self.backend != "torch" and (fp16 or bf16):
            warnings.warn(f"YOLOX: fp16/bf16 apply to the torch backend; the {self.backend} model runs at the "
                          "precision it was exported / built with", RuntimeWarning, stacklevel=2)
            fp16 = bf16 = False
        if fp16 and self.device.type != "cuda":
            # bf16 is not substituted: measured 2.5-5x slower than fp32 on CPUs without AMX/AVX512-BF16
            warnings.warn(f"YOLOX: fp16 is only supported on CUDA; using fp32 on {self.device.type} (bfloat16 "
                          "was measured 2.5-5x slower than fp32 on CPUs without AMX/AVX512-BF16; pass bf16=True "
                          "to use it anyway)", RuntimeWarning, stacklevel=2)
            fp16 = False
        self.fp16 = bool(fp16)
        self.bf16 = bool(bf16)

        if self.backend == "onnxruntime":
            from .onnx_backend import require_onnxruntime

            require_onnxruntime()  # fail before a possibly long download or export
            if not os.path.isfile(onnx_file) and ckpt_file is None:
                raise FileNotFoundError(f"ONNX model not found: {onnx_file} (pass ckpt_file=... to export "
                                        "the checkpoint there on first use)")
        # The torch network is needed to run it, or to export a missing ONNX file from the checkpoint.
        needs_network = self.backend == "torch" or (self.backend == "onnxruntime" and not os.path.isfile(onnx_file))
        state_dict = None
        if needs_network and ckpt_file is not None:
            from .checkpoint import load_state_dict

            state_dict, source = load_state_dict(ckpt_file, canonical_name(model or DEFAULT_MODEL), trust_checkpoint)
            found = checkpoint_architecture({k: tuple(v.shape) for k, v in state_dict.items()})
            name, num_classes = choose_variant(model, num_classes, found, source)
            self._warn_if_mot_checkpoint_as_coco(name, num_classes, model)
            self._set_variant(name, num_classes, input_size)
        elif needs_network or model is not None:
            name = canonical_name(model or DEFAULT_MODEL)
            self._set_variant(name, resolve_num_classes(name, num_classes), input_size)

        if self.backend == "tensorrt":
            from .tensorrt_backend import TensorRTModel

            self.model = TensorRTModel(str(trt_file), self.device)  # checks tensorrt + CUDA first
        elif self.backend == "onnxruntime":
            from .onnx_backend import OnnxRuntimeModel

            if not os.path.isfile(onnx_file):
                from .export import export_onnx

                self.model = self._torch_network(state_dict)
                export_onnx(self, onnx_file)
            self.model = OnnxRuntimeModel(str(onnx_file), self.device)
        else:
            net = self._torch_network(state_dict).to(self.device)
            if self.fp16:
                net.half()
            elif self.bf16:
                net.to(torch.bfloat16)
            self.model = net
        if self.backend != "torch":
            if not hasattr(self, "name"):  # model=None with a ready ONNX file / engine: the file decides
                self._adopt_file_variant(num_classes, input_size)
            self._adopt_file_shape(input_size is not None)

    def _set_variant(self, name: str, num_classes: int, input_size) -> None:
        self.name = name
        self.num_classes = int(num_classes)
        self.is_mot = name.endswith("_mix_det")
        size = input_size if input_size is not None else MODEL_SPECS[name][4]
        self.input_size = (int(size[0]), int(size[1]))
        if self.is_mot:
            self.class_names = ("person",)
        elif self.num_classes == len(COCO_CLASSES):
            self.class_names = COCO_CLASSES
        else:
            self.class_names = tuple(str(i) for i in range(self.num_classes))

    @staticmethod
    def _warn_if_mot_checkpoint_as_coco(name: str, num_classes: int, model: Optional[str]) -> None:
        mot_variant = f"{name}_mix_det"
        if model is not None and num_classes == 1 and mot_variant in MODEL_SPECS:
            warnings.warn(f"YOLOX: model={model!r} with a 1-class checkpoint runs with COCO YOLOX's preprocessing "
                          f"and {MODEL_SPECS[name][4][0]}x{MODEL_SPECS[name][4][1]} input; if it is a ByteTrack "
                          f"checkpoint, pass model={mot_variant!r} (or omit model)", RuntimeWarning, stacklevel=3)

    def _adopt_file_variant(self, num_classes: Optional[int], input_size) -> None:
        """Names the variant of a ready ONNX file / TensorRT engine: its metadata, else its class count."""
        metadata = getattr(self.model, "metadata", None) or {}
        outputs = getattr(self.model, "num_outputs", None)
        name = metadata.get("vistream.model")
        if name not in MODEL_SPECS:
            # no metadata (exported elsewhere): a 1-class network is taken for ByteTrack's person detector
            name = DEFAULT_MODEL if outputs == 6 else "yolox_s"
        if num_classes is None:
            num_classes = (outputs - 5) if outputs is not None else resolve_num_classes(name, None)
        self._set_variant(name, num_classes, input_size)

    def _torch_network(self, state_dict=None) -> "torch.nn.Module":
        """The CPU fp32 eval-mode network, with ``state_dict`` loaded when given."""
        from .network import build_model

        net = build_model(self.name, self.num_classes)
        if state_dict is not None:
            _load_strict(net, state_dict, self.name)
        return net.eval()

    def _adopt_file_shape(self, explicit_size: bool) -> None:
        """Takes the ONNX model's / engine's fixed input size; rejects sizes or class counts that disagree."""
        file_hw = getattr(self.model, "input_hw", None)
        if file_hw is not None and tuple(file_hw) != self.input_size:
            if explicit_size:
                raise ValueError(f"input_size {self.input_size} differs from the {self.backend} model's fixed "
                                 f"input {tuple(file_hw)}; re-export it or omit input_size")
            self.input_size = (int(file_hw[0]), int(file_hw[1]))
        outputs = getattr(self.model, "num_outputs", None)
        if outputs is not None and outputs != 5 + self.num_classes:
            raise ValueError(f"the {self.backend} model predicts {outputs - 5} classes, but {self.name} with "
                             f"num_classes={self.num_classes} expects {self.num_classes}")

    @staticmethod
    def load_checkpoint(net: "torch.nn.Module", ckpt_file, trust_checkpoint: bool = False) -> None:
        """Loads a local file, an http(s) URL or a model name of the weights hub into ``net`` (strict).

        Files holding more than tensors load only when their sha256 is pinned (see ``vistream.hub``)
        or with ``trust_checkpoint``. A checkpoint of another architecture raises ``CheckpointMismatchError``.
        """
        from .checkpoint import load_state_dict

        state_dict, source = load_state_dict(ckpt_file, DEFAULT_MODEL, trust_checkpoint)
        _load_strict(net, state_dict, source)

    def preprocess(self, image: Union[np.ndarray, "torch.Tensor"]) -> Tuple["torch.Tensor", float]:
        """The network input (1, 3, h, w) for a BGR (H, W, 3) image, and the letterbox ratio.

        A numpy image is letterboxed with OpenCV on the CPU; a torch tensor in torch on its own
        device (a CUDA frame never visits host memory), then moved to the model's device.
        """
        import torch

        if isinstance(image, torch.Tensor):
            return self._preprocess_tensor(image)
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
        tensor = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
        if self.backend == "torch":
            tensor = tensor.to(self.device)
            if self.fp16:
                tensor = tensor.half()
            elif self.bf16:
                tensor = tensor.to(torch.bfloat16)
        # ONNX Runtime / TensorRT models place and cast their input themselves
        return tensor, ratio

    def _preprocess_tensor(self, image: "torch.Tensor") -> Tuple["torch.Tensor", float]:
        import torch

        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"YOLOX expects a BGR (H, W, 3) tensor, got shape {tuple(image.shape)}")
        if image.dtype != torch.uint8:
            image = image.clamp(0, 255).to(torch.uint8)
        canvas, ratio = letterbox_tensor(image, self.input_size)
        if self.is_mot:
            mean = torch.tensor(_MOT_MEAN, device=canvas.device).view(1, 3, 1, 1)
            std = torch.tensor(_MOT_STD, device=canvas.device).view(1, 3, 1, 1)
            canvas = (canvas.flip(1) / 255.0 - mean) / std  # BGR -> RGB, then ByteTrack's normalisation
        if self.backend == "torch":
            dtype = torch.float16 if self.fp16 else torch.bfloat16 if self.bf16 else torch.float32
            canvas = canvas.to(self.device, dtype)
        # ONNX Runtime / TensorRT models place and cast their input themselves (ONNX Runtime binds a
        # CUDA tensor where it lies)
        return canvas, ratio

    def to_detections(self, result: "torch.Tensor", ratio: float, image_shape) -> Detections:
        result = result.detach().float().cpu().numpy()
        h, w = image_shape[:2]
        xyxy = result[:, :4] / ratio
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
        class_id = result[:, 5].astype(np.int64)
        names = np.array([self.class_names[c] for c in class_id], dtype=object) if len(class_id) else \
            np.zeros(0, dtype=object)
        return Detections(xyxy=xyxy, confidence=result[:, 4], class_id=class_id, data={"class_name": names})

    #: what ``Pipeline`` may hand it: numpy images, or torch tensors on any device (preprocessed there)
    accepts = frozenset({"numpy", "torch"})

    def __call__(self, image: Union[np.ndarray, "torch.Tensor"]) -> Detections:
        """Detect on a BGR (H, W, 3) uint8 image: a numpy array or a torch tensor on any device.

        Both give the same network input byte for byte (the tensor path resizes with OpenCV's
        integer arithmetic), hence the same detections; a tensor is preprocessed where it lies.
        """
        import torch

        with torch.inference_mode():
            tensor, ratio = self.preprocess(image)
            raw = self.model(tensor)[0]
            result = postprocess(raw, self.conf, self.nms, self.class_agnostic, self.classes)
            return self.to_detections(result, ratio, image.shape)

    def batch(self, images: Sequence[Any]) -> List[Detections]:
        """Detections for several BGR images (arrays, tensors or frames with ``.array``; any sizes).

        The torch backend runs them as one batch through the network (one call, as
        ``MultiPlayer`` wants); ONNX files and TensorRT engines are exported with a fixed batch
        of one and run image by image. Each result is what ``self(image)`` gives.
        """
        import torch

        images = [getattr(image, "array", image) for image in images]
        if len(images) <= 1 or self.backend != "torch":
            return [self(image) for image in images]
        with torch.inference_mode():
            prepared = [self.preprocess(image) for image in images]
            raw = self.model(torch.cat([tensor for tensor, _ in prepared]))
            results = []
            for row, ((_, ratio), image) in enumerate(zip(prepared, images)):
                result = postprocess(raw[row], self.conf, self.nms, self.class_agnostic, self.classes)
                results.append(self.to_detections(result, ratio, image.shape))
            return results

    def __repr__(self) -> str:
        precision = "fp16" if self.fp16 else "bf16" if self.bf16 else "fp32"
        return (f"YOLOX(model={self.name!r}, backend={self.backend!r}, input_size={self.input_size}, "
                f"device={str(self.device)!r}, precision={precision!r}, conf={self.conf}, nms={self.nms})")


def _load_strict(net: "torch.nn.Module", state_dict: dict, source: str) -> None:
    """``load_state_dict(strict=True)``, with a mismatch reported as one line naming both architectures."""
    from .specs import architecture_of, describe

    found = checkpoint_architecture({k: tuple(v.shape) for k, v in state_dict.items()})
    head = getattr(net, "head", None)
    expected = None
    if head is not None and hasattr(net.backbone, "backbone"):
        expected = checkpoint_architecture({k: tuple(v.shape) for k, v in net.state_dict().items()})
    if found is not None and expected is not None and found != expected:
        def name_of(arch):
            names = [n for n in MODEL_SPECS if architecture_of(n, arch.num_classes)[:3] == arch[:3]]
            return names[0] if names else None
        raise CheckpointMismatchError(f"{source}: checkpoint is {describe(name_of(found), found)} but the network "
                                      f"is {describe(name_of(expected), expected)}")
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise CheckpointMismatchError(f"{source}: the checkpoint's tensors do not fit the network "
                                      f"({' '.join(line.strip() for line in first[:3])})") from None
