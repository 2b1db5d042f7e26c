"""``DLCPoseEstimator``: DeepLabCut 3.0 single-animal pose models on video frames.

What happens to a frame (the same steps as DeepLabCut-live's ``DLCLive.get_pose``):

1. region: the static ``cropping`` rectangle, narrowed by **dynamic cropping** to the last pose's
   detected keypoints (score >= threshold) plus a margin; the whole (statically cropped) frame when
   no keypoint of the last pose was detected;
2. ``resize`` (cv2, bilinear), BGR -> RGB, scale to [0, 1], ImageNet normalisation when the config
   says ``normalize_images``, reflect-padding to the config's ``auto_padding`` divisors;
3. the network (torch, ONNX Runtime or ONNX Runtime's TensorRT provider) gives heatmaps and
   location-refinement maps; each keypoint is the heatmap's arg-max cell centre plus its locref
   offset (times ``locref_std``), its score the heatmap value (sigmoid / clipped as configured);
4. coordinates are mapped back through the resize and the crops to **source pixels**.

A model's cost grows with its input area, so a dynamic crop that is a quarter of the frame makes the
network about four times cheaper (BENCHMARKS.md, "pose").
"""

from __future__ import annotations

import json
import threading
import time as _time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ..detections import Detections
from ..errors import HardwareError, MissingDependencyError
from .model import DLCModelFiles, find_model, load_weights, model_summary, read_config_file
from .processor import Processor

__all__ = ["DLCPoseEstimator", "Pose", "decode_heatmaps"]

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
ONNX_CONFIG_KEY = "dlc_pytorch_config"


@dataclass(frozen=True)
class Pose:
    """One frame's pose.

    Attributes:
        keypoints: (K, 3) float32 x, y, likelihood in source pixels (x, y as DeepLabCut returns them,
            also for keypoints below ``pcutoff``).
        bodyparts: the K keypoint names, from the model's config.
        time: the frame's time in seconds (a Frame's ``time``; else what the caller passed; else the
            monotonic clock when the pose was made).
        index: the frame's index (a Frame's ``index``; else a running count from 0).
        crop: the source-pixel region the network saw (x1, y1, x2, y2).
        dynamic_crop: whether that region came from dynamic cropping.
        inference_seconds: time spent preparing, running and decoding the network.
    """

    keypoints: np.ndarray
    bodyparts: Tuple[str, ...]
    time: float
    index: int
    crop: Tuple[int, int, int, int]
    dynamic_crop: bool
    inference_seconds: float

    def likelihood(self, bodypart: Union[str, int]) -> float:
        """The score of one keypoint, by name or index."""
        return float(self.keypoints[self._index(bodypart), 2])

    def xy(self, bodypart: Union[str, int]) -> Tuple[float, float]:
        """The (x, y) of one keypoint, by name or index."""
        row = self.keypoints[self._index(bodypart)]
        return float(row[0]), float(row[1])

    def _index(self, bodypart: Union[str, int]) -> int:
        if isinstance(bodypart, str):
            try:
                return self.bodyparts.index(bodypart)
            except ValueError:
                raise KeyError(f"no bodypart {bodypart!r}; the model has {list(self.bodyparts)}") from None
        return int(bodypart)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-values.astype(np.float32)))).astype(np.float32)


def decode_heatmaps(heatmap: np.ndarray, locref: Optional[np.ndarray], stride: float, *,
                    apply_sigmoid: bool = True, clip_scores: bool = False, locref_std: float = 7.2801) -> np.ndarray:
    """DeepLabCut's single-animal heatmap decoding: (K, h, w) heatmaps [+ (2K, h, w) locref] -> (K, 3).

    Each keypoint is at the centre of its heatmap's arg-max cell (``cell * stride + stride / 2``, in
    network-input pixels) moved by that cell's location-refinement vector (channels 2k, 2k+1 = dx, dy,
    in units of ``locref_std`` pixels); its score is the heatmap value there.
    """
    heatmap = np.asarray(heatmap, np.float32)
    if apply_sigmoid:
        heatmap = _sigmoid(heatmap)
    count, height, width = heatmap.shape
    flat = heatmap.reshape(count, height * width).argmax(axis=1)
    rows, cols = flat // width, flat % width
    joints = np.arange(count)
    scores = heatmap[joints, rows, cols]
    if clip_scores:
        scores = np.clip(scores, 0.0, 1.0)
    x = cols.astype(np.float32) * np.float32(stride) + np.float32(0.5 * stride)
    y = rows.astype(np.float32) * np.float32(stride) + np.float32(0.5 * stride)
    if locref is not None and np.asarray(locref).size:
        offsets = np.asarray(locref, np.float32).reshape(count, 2, height, width)[joints, :, rows, cols]
        offsets = offsets * np.float32(locref_std)
        x = x + offsets[:, 0]
        y = y + offsets[:, 1]
    return np.stack([x, y, scores], axis=1).astype(np.float32)


class _TorchRuntime:
    def __init__(self, config: Dict[str, Any], state: Dict[str, Any], device: str, fp16: bool) -> None:
        import torch

        from .network import DLCNetwork

        self.torch = torch
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise HardwareError(f"device {device!r} asked for, but torch sees no CUDA device")
        network = DLCNetwork(config["model"])
        network.load_dlc_state_dict(state)
        network.eval().to(self.device)
        self.dtype = torch.float16 if fp16 else torch.float32
        self.network = network.to(self.dtype)

    def run(self, batch: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        with torch.inference_mode():
            tensor = torch.from_numpy(batch).to(self.device, self.dtype)
            heatmap, locref = self.network(tensor)
            return heatmap.float().cpu().numpy(), locref.float().cpu().numpy()


def _onnx_providers(runtime: str, device: str, fp16: bool) -> list:
    """ONNX Runtime providers for ``runtime``/``device``, checked before any model is loaded or exported."""
    try:
        import onnxruntime as ort
    except ImportError as error:
        raise MissingDependencyError(f"runtime={runtime!r} needs ONNX Runtime: pip install onnxruntime "
                                     "(onnxruntime-gpu for CUDA / TensorRT)") from error
    available = ort.get_available_providers()
    on_gpu = str(device).startswith("cuda")
    index = int(str(device).split(":")[1]) if ":" in str(device) else 0
    providers: list = []
    if runtime == "tensorrt":
        if "TensorrtExecutionProvider" not in available:
            raise HardwareError("runtime='tensorrt' needs ONNX Runtime's TensorrtExecutionProvider "
                                f"(onnxruntime-gpu with TensorRT); this onnxruntime has {available}")
        providers.append(("TensorrtExecutionProvider", {"device_id": index, "trt_fp16_enable": bool(fp16)}))
    elif fp16:
        raise ValueError("fp16=True with runtime='onnx' needs an fp16 ONNX file; use runtime='torch' or "
                         "runtime='tensorrt' for fp16")
    if on_gpu:
        if "CUDAExecutionProvider" not in available:
            raise HardwareError(f"device {device!r} with ONNX Runtime needs its CUDAExecutionProvider "
                                f"(pip install onnxruntime-gpu); available: {available}")
        providers.append(("CUDAExecutionProvider", {"device_id": index}))
    providers.append("CPUExecutionProvider")
    return providers


class _OnnxRuntime:
    def __init__(self, path: Path, providers: list) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def run(self, batch: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        outputs = self.session.run(None, {self.input_name: batch})
        heatmap = outputs[0]
        locref = outputs[1] if len(outputs) > 1 else np.zeros((heatmap.shape[0], 0) + heatmap.shape[2:], np.float32)
        return heatmap, locref


def _onnx_config(path: Path) -> Optional[Dict[str, Any]]:
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == ONNX_CONFIG_KEY:
            return json.loads(prop.value)
    return None


def _check_box(name: str, value: Optional[Sequence[int]]) -> Optional[Tuple[int, int, int, int]]:
    if value is None:
        return None
    try:
        x1, y1, x2, y2 = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (x1, y1, x2, y2) integers, got {value!r}") from None
    if x1 < 0 or y1 < 0 or x2 <= x1 or y2 <= y1:
        raise ValueError(f"{name} must be (x1, y1, x2, y2) with 0 <= x1 < x2 and 0 <= y1 < y2, got {value!r}")
    return x1, y1, x2, y2


class DLCPoseEstimator:
    """Runs a DeepLabCut 3.0 single-animal pose model on BGR frames.

    Args:
        model: a DeepLabCut model: a training folder (``pytorch_config.yaml`` + ``snapshot-*.pt``), an
            exported ``.pt`` (``deeplabcut.export_model``, what DeepLabCut-live loads) or the folder
            holding it, or an ``.onnx`` file (its config from ``config``, from the metadata
            :meth:`export_onnx` writes, or from a ``pytorch_config.yaml`` beside it).
        runtime: ``"torch"`` (rebuilt ResNet + heatmap head), ``"onnx"`` (ONNX Runtime; a torch model
            is exported to a temporary ONNX file first) or ``"tensorrt"``
            (ONNX Runtime's TensorRT provider); None: ``"onnx"`` for .onnx files, else ``"torch"``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        fp16: half precision (torch; TensorRT).
        pcutoff: likelihood below which a keypoint counts as not seen (the Detections box, the
            annotator, region triggers).
        resize: scale the (cropped) image by this factor before the network, e.g. 0.5.
        cropping: static crop (x1, y1, x2, y2) in source pixels (DeepLabCut-live orders it
            [x1, x2, y1, y2]).
        dynamic: ``(enabled, threshold, margin)`` as in DeepLabCut-live: when enabled and the last
            pose has keypoints with likelihood >= threshold, the next frame is cropped to their
            bounding box plus ``margin`` pixels; otherwise the whole frame is analysed.
        processor: called with every :class:`Pose` (``processor.process(pose)``), e.g. a
            :class:`~vistream.pose.RegionTrigger`.
        config: the model's pytorch_config (dict or path), for ONNX files that do not carry it.

    Raises:
        FileNotFoundError: no model at ``model``.
        ValueError: a model or option vistream cannot run (the message says which).
        CheckpointMismatchError: weights that do not fit the configured network.
        HardwareError, MissingDependencyError: the runtime or device is not available.

    Example::

        estimator = DLCPoseEstimator("exported-models-pytorch/DLC_mouse_resnet_50_iteration-0_shuffle-1",
                                     dynamic=(True, 0.5, 40))
        with vistream.Reader("mouse.mp4") as reader:
            for frame in reader:
                pose = estimator.estimate(frame)
                print(pose.time, dict(zip(pose.bodyparts, pose.keypoints.tolist())))
    """

    def __init__(self, model: Union[str, Path], *, runtime: Optional[str] = None, device: str = "cpu",
                 fp16: bool = False,
                 pcutoff: float = 0.5, resize: Optional[float] = None,
                 cropping: Optional[Sequence[int]] = None,
                 dynamic: Tuple[bool, float, float] = (False, 0.5, 10),
                 processor: Optional[Processor] = None,
                 config: Union[None, str, Path, Dict[str, Any]] = None) -> None:
        if runtime not in (None, "torch", "onnx", "tensorrt"):
            raise ValueError(f"runtime must be 'torch', 'onnx' or 'tensorrt' (or None: by the file), got {runtime!r}")
        if not 0.0 <= float(pcutoff) <= 1.0:
            raise ValueError(f"pcutoff must be in [0, 1], got {pcutoff!r}")
        if resize is not None and not (0 < float(resize) <= 8):
            raise ValueError(f"resize must be a factor in (0, 8], got {resize!r}")
        try:
            enabled, threshold, margin = dynamic
        except (TypeError, ValueError):
            raise ValueError(f"dynamic must be (enabled, threshold, margin), got {dynamic!r}") from None
        if margin < 0:
            raise ValueError(f"dynamic margin must be >= 0 pixels, got {margin!r}")
        if processor is not None and not callable(getattr(processor, "process", None)):
            raise TypeError("processor must have a process(pose) method")
        self.device = str(device)
        self.fp16 = bool(fp16)
        self.pcutoff = float(pcutoff)
        self.resize = None if resize is None or float(resize) == 1.0 else float(resize)
        self.cropping = _check_box("cropping", cropping)
        self.dynamic = (bool(enabled), float(threshold), int(round(float(margin))))
        self.processor = processor
        files = find_model(model)
        self.files: DLCModelFiles = files
        if runtime is None:
            runtime = "onnx" if files.onnx is not None else "torch"
        self.runtime = runtime
        providers = _onnx_providers(runtime, self.device, self.fp16) if runtime != "torch" else []
        explicit = read_config_file(config) if isinstance(config, (str, Path)) else config
        if files.onnx is not None:
            self.config = explicit or _onnx_config(files.onnx) or (
                read_config_file(files.config) if files.config else None)
            if self.config is None:
                raise ValueError(f"{str(files.onnx)!r} carries no DeepLabCut config: pass config= (pytorch_config.yaml) "
                                 "or put pytorch_config.yaml beside it")
            if runtime == "torch":
                raise ValueError("an .onnx model runs with runtime='onnx' or 'tensorrt', not 'torch'")
            self._runtime: Any = _OnnxRuntime(files.onnx, providers)
        else:
            self.config, state = load_weights(files)
            if explicit:
                self.config = explicit
            model_summary(self.config)  # an unsupported model is refused before anything is built
            if runtime == "torch":
                self._runtime = _TorchRuntime(self.config, state, self.device, self.fp16)
            else:
                import tempfile

                torch_runtime = _TorchRuntime(self.config, state, "cpu", False)
                self._onnx_dir = tempfile.TemporaryDirectory(prefix="vistream-dlc-")
                onnx_path = Path(self._onnx_dir.name) / "model.onnx"
                _export_onnx(torch_runtime.network, self.config, onnx_path)
                self._runtime = _OnnxRuntime(onnx_path, providers)
        self.summary = model_summary(self.config)
        self.bodyparts: Tuple[str, ...] = tuple(self.summary["bodyparts"])
        self._lock = threading.Lock()
        self._last: Optional[np.ndarray] = None
        self._count = 0
        #: counts of frames analysed on a dynamic crop and on the whole (statically cropped) frame
        self.frames_cropped = 0
        self.frames_full = 0

    # -- the per-frame path -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the last pose (dynamic cropping starts from the whole frame again), e.g. after a seek."""
        with self._lock:
            self._last = None

    def _region(self, height: int, width: int) -> Tuple[Tuple[int, int, int, int], bool]:
        x1, y1, x2, y2 = self.cropping or (0, 0, width, height)
        x2, y2 = min(x2, width), min(y2, height)
        if x1 >= x2 or y1 >= y2:
            raise ValueError(f"cropping {self.cropping} lies outside the {width}x{height} frame")
        enabled, threshold, margin = self.dynamic
        if enabled and self._last is not None:
            detected = self._last[:, 2] >= threshold
            if np.any(detected):
                xs, ys = self._last[detected, 0], self._last[detected, 1]
                # int() truncates like DeepLabCut-live, so crops (and poses) match it exactly
                cx1 = max(x1, int(np.min(xs)) - margin)
                cx2 = min(x2, int(np.max(xs)) + margin)
                cy1 = max(y1, int(np.min(ys)) - margin)
                cy2 = min(y2, int(np.max(ys)) + margin)
                if cx2 - cx1 >= 2 and cy2 - cy1 >= 2:
                    return (cx1, cy1, cx2, cy2), True
        return (x1, y1, x2, y2), False

    def _prepare(self, image: np.ndarray) -> Tuple[np.ndarray, float, float]:
        import cv2

        height, width = image.shape[:2]
        scale_x = scale_y = 1.0
        if self.resize is not None:
            new_w, new_h = max(1, int(width * self.resize)), max(1, int(height * self.resize))
            image = cv2.resize(image, (new_w, new_h))
            scale_x, scale_y = width / new_w, height / new_h
        rgb = image[..., ::-1].astype(np.float32) * np.float32(1.0 / 255.0)
        if self.summary["normalize_images"]:
            rgb = (rgb - _IMAGENET_MEAN) / _IMAGENET_STD
        pad_h = -rgb.shape[0] % self.summary["pad_height_divisor"]
        pad_w = -rgb.shape[1] % self.summary["pad_width_divisor"]
        if pad_h or pad_w:
            rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
        batch = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
        return batch, scale_x, scale_y

    def estimate(self, frame: Any, *, time: Optional[float] = None, index: Optional[int] = None) -> Pose:
        """The pose in ``frame`` (a vistream Frame or an HxWx3 uint8 BGR array), in source pixels.

        Calls the processor with it. Thread-safe (calls are serialized: dynamic cropping depends on
        the previous pose).
        """
        image = getattr(frame, "array", frame)
        if time is None:
            time = getattr(frame, "time", None)
        if index is None:
            index = getattr(frame, "index", None)
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"DLCPoseEstimator wants an HxWx3 uint8 BGR image, got {image.dtype} {image.shape}")
        with self._lock:
            started = _time.perf_counter()
            (x1, y1, x2, y2), dynamic = self._region(image.shape[0], image.shape[1])
            batch, scale_x, scale_y = self._prepare(image[y1:y2, x1:x2])
            heatmap, locref = self._runtime.run(batch)
            summary = self.summary
            keypoints = decode_heatmaps(
                heatmap[0], locref[0] if summary["location_refinement"] else None, summary["stride"],
                apply_sigmoid=summary["apply_sigmoid"], clip_scores=summary["clip_scores"],
                locref_std=summary["locref_std"])
            keypoints[:, 0] = keypoints[:, 0] * np.float32(scale_x) + np.float32(x1)
            keypoints[:, 1] = keypoints[:, 1] * np.float32(scale_y) + np.float32(y1)
            elapsed = _time.perf_counter() - started
            self._last = keypoints.copy()
            if dynamic:
                self.frames_cropped += 1
            else:
                self.frames_full += 1
            pose = Pose(keypoints=keypoints, bodyparts=self.bodyparts,
                        time=float(time) if time is not None else _time.monotonic(),
                        index=int(index) if index is not None else self._count,
                        crop=(x1, y1, x2, y2), dynamic_crop=dynamic, inference_seconds=elapsed)
            self._count += 1
        if self.processor is not None:
            self.processor.process(pose)
        return pose

    def get_pose(self, frame: Any) -> np.ndarray:
        """DeepLabCut-live's call: the (K, 3) array x, y, likelihood in source pixels."""
        return self.estimate(frame).keypoints

    def to_detections(self, pose: Pose) -> Detections:
        """One detection: the box around the keypoints with likelihood >= pcutoff (all of them when
        none is), confidence = mean likelihood, ``keypoints`` (1, K, 3) and ``keypoint_names``."""
        points = pose.keypoints
        seen = points[:, 2] >= self.pcutoff
        box_points = points[seen] if np.any(seen) else points
        xyxy = [[box_points[:, 0].min(), box_points[:, 1].min(), box_points[:, 0].max(), box_points[:, 1].max()]]
        return Detections(xyxy=xyxy, confidence=[float(points[:, 2].mean())], keypoints=points[None],
                          keypoint_names=list(pose.bodyparts))

    def __call__(self, frame: Any) -> Detections:
        """The PoseEstimator protocol (``vistream.protocols``): ``estimator(image) -> Detections``
        (see :meth:`to_detections`), so a Pipeline runs it as its detector."""
        return self.to_detections(self.estimate(frame))

    # -- export -------------------------------------------------------------------------------

    def export_onnx(self, path: Union[str, Path]) -> Path:
        """Writes the torch model as ONNX (inputs of any size; outputs ``heatmap`` and ``locref``), with
        its pytorch_config in the file's metadata so ``DLCPoseEstimator(path, runtime="onnx")`` needs
        nothing else."""
        if not isinstance(self._runtime, _TorchRuntime):
            raise ValueError("export_onnx needs a model loaded with runtime='torch'")
        network = self._runtime.network.float().cpu()
        try:
            return _export_onnx(network, self.config, Path(path))
        finally:
            self._runtime.network = network.to(self._runtime.device, self._runtime.dtype)


def _export_onnx(network: Any, config: Dict[str, Any], path: Path) -> Path:
    import torch

    try:
        import onnx
    except ImportError as error:
        raise MissingDependencyError("ONNX export needs the onnx package: pip install onnx") from error
    dummy = torch.zeros(1, 3, 256, 256)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The TorchScript exporter (dynamo=False) handles the dynamic height/width without onnxscript;
    # its deprecation warning says nothing a user can act on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(network, (dummy,), str(path), input_names=["image"],
                          output_names=["heatmap", "locref"],
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                        "heatmap": {0: "batch", 2: "h", 3: "w"},
                                        "locref": {0: "batch", 2: "h", 3: "w"}},
                          opset_version=17, dynamo=False)
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key = ONNX_CONFIG_KEY
    entry.value = json.dumps(config, default=str)
    onnx.save(model, str(path))
    return path
