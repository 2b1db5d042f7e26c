"""Runtimes: one small interface over torch modules, ONNX Runtime sessions and TensorRT engines.

A runtime takes one preprocessed NCHW float batch and returns the model's outputs as a list of
arrays, in the model's output order. Predictors (``OnnxDetector``, ``TorchDetector``, ...) only
see this interface, so pre- and post-processing are shared by every runtime::

    runtime = OnnxRuntime("yolov8n.onnx")            # CPU here; TensorRT EP > CUDA EP > CPU elsewhere
    outputs = runtime(np.zeros((1, 3, 640, 640), np.float32))
    runtime.output_shapes                            # [(1, 84, 8400)]

Outputs are numpy arrays, except that a runtime fed a CUDA torch tensor answers with CUDA torch
tensors (ONNX Runtime through an IO binding, TensorRT always): no host round trip on the GPU.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import HardwareError, MissingDependencyError

__all__ = ["Runtime", "OnnxRuntime", "TorchRuntime", "TensorRTRuntime", "select_providers",
           "require_onnxruntime", "onnx_session", "PRECISIONS"]

PRECISIONS = ("fp32", "fp16", "bf16")
Shape = Tuple[Union[int, str, None], ...]

_ORT_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
                    "tensor(uint8)": np.uint8}


def require_onnxruntime(feature: str = "ONNX models"):
    """Imports onnxruntime, or raises MissingDependencyError naming the pip package to install."""
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingDependencyError(f"{feature} requires ONNX Runtime: pip install onnxruntime "
                                     "(or onnxruntime-gpu for the CUDA / TensorRT execution providers)") from error
    return onnxruntime


def _device_type_and_index(device: Any) -> Tuple[str, int]:
    text = str(device) if device is not None else "cpu"
    kind, _, index = text.partition(":")
    return kind, int(index) if index else 0


def select_providers(device: Any, available: Sequence[str]) -> List[str]:
    """ONNX Runtime execution providers in priority order for ``device``.

    On a cuda device: TensorRT EP, then CUDA EP (those this onnxruntime build has), then CPU; on
    any other device the CPU provider alone. A cuda device without GPU providers warns and runs
    on the CPU (``pip install onnxruntime-gpu``).
    """
    kind, _ = _device_type_and_index(device)
    chosen: List[str] = []
    if kind == "cuda":
        chosen = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
        if not chosen:
            warnings.warn("device is cuda but this onnxruntime has no CUDA/TensorRT execution provider "
                          "(pip install onnxruntime-gpu); running the ONNX model on the CPU", RuntimeWarning,
                          stacklevel=3)
    return chosen + ["CPUExecutionProvider"]


def _intra_op_threads() -> int:
    # One thread knob for every runtime: as many intra-op threads as torch uses (OMP_NUM_THREADS or
    # torch.set_num_threads) when torch is loaded, else OMP_NUM_THREADS, else ONNX Runtime's default.
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads())
    return int(os.environ.get("OMP_NUM_THREADS", "0") or 0)


def onnx_session(path: Union[str, os.PathLike], device: Any = "cpu", providers: Optional[Sequence[str]] = None,
                 feature: str = "ONNX models"):
    """An ``onnxruntime.InferenceSession`` for ``path`` on ``device`` (providers as ``select_providers``).

    GPU providers are pinned to the device's index; idle CPU workers sleep instead of spinning (in a
    pipeline they share the cores with the decoder and encoder threads).
    """
    ort = require_onnxruntime(feature)  # before touching the file: the missing package is the real problem
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX model not found: {path}")
    _, index = _device_type_and_index(device)
    if providers is None:
        providers = select_providers(device, ort.get_available_providers())
    provider_options = [{"device_id": index} if name in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
                        else {} for name in providers]
    options = ort.SessionOptions()
    options.intra_op_num_threads = _intra_op_threads()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, sess_options=options, providers=list(providers),
                                provider_options=provider_options)


def _is_cuda_tensor(value: Any) -> bool:
    return getattr(getattr(value, "device", None), "type", None) == "cuda"


class Runtime:
    """What predictors need from a model runtime.

    Attributes:
        name: "torch", "onnxruntime" or "tensorrt".
        precision: "fp32", "fp16" or "bf16" (the dtype the model computes in).
        input_shape: the (B, C, H, W) input shape; symbolic dimensions are strings or None.
        output_names / output_shapes: the outputs, in order (shapes may be symbolic; a torch
            runtime knows them after the first call).
        metadata: string key/value pairs stored with the model (ONNX metadata_props), else {}.
    """

    name: str = "runtime"
    precision: str = "fp32"
    input_shape: Shape = ()
    output_names: List[str] = []
    output_shapes: List[Shape] = []
    metadata: Dict[str, str] = {}

    def __call__(self, batch: Any) -> List[Any]:
        raise NotImplementedError

    @property
    def input_hw(self) -> Optional[Tuple[int, int]]:
        """The fixed (H, W) of the input, or None when the graph accepts any size."""
        if len(self.input_shape) == 4 and all(isinstance(v, int) and v > 0 for v in self.input_shape[2:]):
            return int(self.input_shape[2]), int(self.input_shape[3])
        return None


class OnnxRuntime(Runtime):
    """An ONNX file run by ONNX Runtime.

    Args:
        path: the ``.onnx`` file (one image input, any number of outputs).
        device: "cpu" or "cuda[:N]"; picks the execution providers (TensorRT EP > CUDA EP > CPU).
        providers: explicit provider list, overriding the automatic choice.

    Feeding a CUDA torch tensor to a session with a GPU provider binds it in place (IO binding) and
    returns CUDA torch tensors; everything else goes through numpy on the host.
    """

    name = "onnxruntime"

    def __init__(self, path: Union[str, os.PathLike], device: Any = "cpu",
                 providers: Optional[Sequence[str]] = None):
        self.path = os.fspath(path)
        self.device = str(device)
        self.session = onnx_session(self.path, device, providers)
        self.providers: List[str] = self.session.get_providers()
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"{self.path}: expected one image input, got {[i.name for i in inputs]}")
        if inputs[0].type not in _ORT_NUMPY_TYPES:
            raise ValueError(f"{self.path}: unsupported input type {inputs[0].type}")
        self.input_name = inputs[0].name
        self.input_dtype = _ORT_NUMPY_TYPES[inputs[0].type]
        self.input_shape = tuple(inputs[0].shape)
        if len(self.input_shape) != 4:
            raise ValueError(f"{self.path}: expected a (B, C, H, W) image input, got shape {list(self.input_shape)}")
        self.precision = "fp16" if self.input_dtype == np.float16 else "fp32"
        outputs = self.session.get_outputs()
        self.output_names = [o.name for o in outputs]
        self.output_shapes = [tuple(o.shape) for o in outputs]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map or {})
        self._on_gpu = any(p in self.providers for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"))

    def __call__(self, batch: Any) -> List[Any]:
        if self._on_gpu and _is_cuda_tensor(batch):
            return self._run_bound(batch)
        if hasattr(batch, "detach"):  # a torch tensor on the CPU (or a CUDA one with a CPU-only session)
            batch = batch.detach().cpu().numpy()
        array = np.ascontiguousarray(batch, dtype=self.input_dtype)
        return self.session.run(self.output_names, {self.input_name: array})

    def _run_bound(self, batch: Any) -> List[Any]:
        # The input stays where torch put it; outputs are allocated by ONNX Runtime on the same card
        # and handed to torch through DLPack, so nothing crosses the PCIe bus.
        import torch

        batch = batch.to(dtype=torch.float16 if self.input_dtype == np.float16 else torch.float32).contiguous()
        _, index = _device_type_and_index(batch.device)
        binding = self.session.io_binding()
        binding.bind_input(self.input_name, "cuda", index, self.input_dtype, tuple(batch.shape), batch.data_ptr())
        for name in self.output_names:
            binding.bind_output(name, "cuda", index)
        torch.cuda.current_stream(batch.device).synchronize()  # ORT runs on its own stream
        self.session.run_with_iobinding(binding)
        return [torch.from_dlpack(value.to_dlpack()) if hasattr(value, "to_dlpack") else
                torch.as_tensor(value.numpy(), device=batch.device) for value in binding.get_outputs()]

    def __repr__(self) -> str:
        return f"OnnxRuntime({self.path!r}, providers={self.providers})"


_TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def _flatten_outputs(value: Any) -> List[Any]:
    """A module's outputs as a flat list of tensors: tensors, or tuples/lists/dicts of them.

    Training-style auxiliaries nested one level deeper (ultralytics returns ``(y, feature_maps)``
    in eval mode) are left out: only the top level's tensors count, like an ONNX graph's outputs.
    """
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        tensors = [v for v in value if isinstance(v, torch.Tensor)]
        if tensors:
            return tensors
    raise ValueError(f"the module returned {type(value).__name__}; a runtime needs a tensor or a tuple/list/dict "
                     "of tensors")


class TorchRuntime(Runtime):
    """A torch ``nn.Module`` on any device in fp32, fp16 or bf16.

    Args:
        module: the network (put in eval mode; its device and dtype are changed to ``device`` and
            ``precision``).
        device: "cpu", "cuda", "cuda:1", ...
        precision: "fp32", "fp16" or "bf16".
        imgsz: the (H, W) the predictors resize to (a module has no fixed input shape).
        channels: input channels (3).
        metadata: optional string metadata (e.g. {"names": ...}) like an ONNX file's.

    Outputs are returned as float32 numpy arrays on the CPU, or float32 CUDA tensors when the input
    is a CUDA tensor.
    """

    name = "torch"

    def __init__(self, module: Any, device: Any = "cpu", precision: str = "fp32",
                 imgsz: Union[int, Tuple[int, int]] = 640, channels: int = 3,
                 metadata: Optional[Dict[str, str]] = None):
        try:
            import torch
        except ImportError as error:
            raise MissingDependencyError("torch models need PyTorch: pip install torch") from error
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"TorchRuntime needs a torch.nn.Module, got {type(module).__name__}")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise HardwareError(f"device {device!r}: torch sees no CUDA device (torch.cuda.is_available() is False)")
        self.precision = precision
        self.dtype = getattr(torch, _TORCH_DTYPES[precision])
        self.module = module.eval().to(self.device, self.dtype)
        h, w = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))
        self.input_shape = (1, channels, h, w)
        self.metadata = dict(metadata or {})
        self.output_names, self.output_shapes = [], []

    def __call__(self, batch: Any) -> List[Any]:
        import torch

        on_gpu_input = _is_cuda_tensor(batch)
        tensor = batch if isinstance(batch, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(batch))
        with torch.inference_mode():
            outputs = _flatten_outputs(self.module(tensor.to(self.device, self.dtype)))
        if not self.output_shapes:
            self.output_names = [f"output{i}" for i in range(len(outputs))]
            self.output_shapes = [tuple(o.shape) for o in outputs]
        if on_gpu_input:
            return [o.float() for o in outputs]
        return [o.float().cpu().numpy() for o in outputs]

    def __repr__(self) -> str:
        return f"TorchRuntime({type(self.module).__name__}, device={str(self.device)!r}, precision={self.precision!r})"


class TensorRTRuntime(Runtime):
    """A serialized TensorRT engine (TensorRT 10+, an NVIDIA GPU): CUDA torch tensors in and out.

    Built on the YOLOX TensorRT backend (``vistream.detect.yolox.tensorrt_backend``): the engine
    runs on torch's current stream with torch buffers as I/O, every output tensor returned.
    Numpy input is uploaded; outputs stay on the GPU (CUDA torch tensors).
    """

    name = "tensorrt"

    def __init__(self, path: Union[str, os.PathLike], device: Any = "cuda"):
        from ..detect.yolox.tensorrt_backend import TensorRTModel

        self.model = TensorRTModel(os.fspath(path), device, all_outputs=True)
        self.path = os.fspath(path)
        self.input_shape = (1, 3) + tuple(self.model.input_hw or ("height", "width"))
        self.output_names = list(self.model.output_names)
        self.output_shapes = [tuple(self.model.engine.get_tensor_shape(n)) for n in self.output_names]
        self.precision = "fp16" if "16" in str(self.model.input_dtype) else "fp32"
        self.metadata = {}

    def __call__(self, batch: Any) -> List[Any]:
        import torch

        tensor = batch if isinstance(batch, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(batch))
        outputs = self.model(tensor)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    def __repr__(self) -> str:
        return f"TensorRTRuntime({self.path!r})"
