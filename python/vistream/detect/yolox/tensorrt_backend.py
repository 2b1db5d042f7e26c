"""TensorRT backend: runs a serialized YOLOX engine on CUDA with torch tensors as I/O buffers.

Uses the TensorRT 10 tensor-name API (``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``) on torch's current CUDA stream, so no extra synchronisation or pycuda is
needed. Build an engine from ``export_onnx``'s file, e.g. with
``trtexec --onnx=yolox_s.onnx --saveEngine=yolox_s.engine --fp16`` or ``build_engine`` below.

Example::

    model = TensorRTModel("yolox_s.engine", torch.device("cuda"))
    raw = model(torch.zeros(1, 3, 640, 640, device="cuda"))   # (1, 8400, 85) on cuda
"""

from __future__ import annotations

import os
from typing import Optional, Tuple

import torch

from ...errors import HardwareError, MissingDependencyError

__all__ = ["TensorRTModel", "require_tensorrt", "build_engine"]


def require_tensorrt(feature: str = "YOLOX(trt_file=...)", alternative: str = "use onnx_file=... with onnxruntime, "
                     "or the torch backend"):
    """Imports TensorRT 10+ and checks for CUDA, or raises a clear error saying what is missing.

    ``feature`` names what needs it in the message; ``alternative`` says what to use instead.

    ImportError: the ``tensorrt`` package is absent or older than 10.
    vistream.errors.HardwareError: torch sees no CUDA device (TensorRT engines only run on NVIDIA GPUs).
    """
    try:
        import tensorrt as trt
    except ImportError as error:
        raise MissingDependencyError(f"{feature} needs NVIDIA TensorRT 10+ and an NVIDIA GPU: pip install tensorrt "
                                     f"(plus a CUDA build of torch). Without a GPU {alternative}") from error
    major = int(str(getattr(trt, "__version__", "0")).split(".")[0] or 0)
    if major < 10:
        raise MissingDependencyError(f"{feature} needs TensorRT 10+ (tensor-name API), found {trt.__version__}: "
                          "pip install -U tensorrt")
    if not torch.cuda.is_available():
        raise HardwareError(f"{feature} needs a CUDA device visible to torch (torch.cuda.is_available() "
                            "is False): install an NVIDIA driver and a CUDA build of torch")
    return trt


def _torch_dtype(trt, dtype) -> torch.dtype:
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32}
    if hasattr(trt, "bfloat16"):
        table[trt.bfloat16] = torch.bfloat16
    if dtype not in table:
        raise ValueError(f"unsupported TensorRT I/O dtype {dtype}")
    return table[dtype]


class TensorRTModel:
    """A deserialized TensorRT engine behind the torch model's call signature.

    Args:
        path: a serialized engine (``.engine`` / ``.plan``) built for this GPU and TensorRT version,
            with one input (B, 3, H, W) and the decoded output (B, A, 5 + C).
        device: a cuda device.
        all_outputs: return every output tensor (a list, in the engine's order) instead of the first
            one; the generic predictors (``vistream.predict``) use this for multi-output models.
    """

    def __init__(self, path: str, device: torch.device, all_outputs: bool = False):
        # before touching the file: missing software is the real problem
        trt = require_tensorrt() if not all_outputs else require_tensorrt(
            "TensorRT engines", "run the ONNX file with ONNX Runtime or the torch module instead")
        self.device = torch.device(device)
        if self.device.type != "cuda":
            raise ValueError(f"TensorRT engines run on CUDA; pass device='cuda' (got {self.device})")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"TensorRT engine not found: {path}")
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(self.device), open(path, "rb") as f:
            self._runtime = trt.Runtime(self._logger)  # must outlive the engine
            self.engine = self._runtime.deserialize_cuda_engine(f.read())
            if self.engine is None:
                raise RuntimeError(f"{path}: TensorRT could not deserialize the engine (built with another "
                                   "TensorRT version or for another GPU?); rebuild it from the ONNX file")
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) < 1:
            raise ValueError(f"{path}: expected one input and one output, got {inputs} and {outputs}")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.output_names = outputs
        self.all_outputs = all_outputs
        self.input_dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(self.input_name))
        self.output_dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(self.output_name))
        shape = tuple(self.engine.get_tensor_shape(self.input_name))
        if len(shape) != 4:
            raise ValueError(f"{path}: expected a (B, 3, H, W) input, got shape {shape}")
        self.input_hw: Optional[Tuple[int, int]] = (shape[2], shape[3]) if min(shape[2:]) > 0 else None
        last = tuple(self.engine.get_tensor_shape(self.output_name))[-1]
        self.num_outputs: Optional[int] = int(last) if last > 0 else None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, self.input_dtype).contiguous()
        if not self.context.set_input_shape(self.input_name, tuple(images.shape)):
            raise ValueError(f"input shape {tuple(images.shape)} is outside the engine's optimization profile")
        names = self.output_names if self.all_outputs else [self.output_name]
        results = []
        for name in names:
            dtype = _torch_dtype(self._trt, self.engine.get_tensor_dtype(name))
            results.append(torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=dtype, device=self.device))
            self.context.set_tensor_address(name, results[-1].data_ptr())
        self.context.set_tensor_address(self.input_name, images.data_ptr())
        # Enqueued on torch's current stream: the copy-in before, the caller's reads of `out` after.
        # Freeing a temporary `images` on return is safe: torch's caching allocator only reuses a
        # block for work queued later on the same stream, i.e. after the engine has read it.
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        return results if self.all_outputs else results[0]

    def __repr__(self) -> str:
        return f"TensorRTModel(device={str(self.device)!r}, input_hw={self.input_hw})"


def build_engine(onnx_path: str, engine_path: str, fp16: bool = False, tf32: bool = True,
                 workspace_mb: int = 1024, int8: bool = False, calibration_batches=None) -> str:
    """Builds and serializes a TensorRT engine from an ``export_onnx`` file (needs a GPU).

    ``fp16`` lets TensorRT pick half-precision kernels (I/O stays fp32); ``tf32=False`` forces true
    fp32 math on Ampere and newer (TensorRT uses TF32 by default), e.g. to compare with torch.
    ``int8`` calibrates int8 kernels with ``calibration_batches`` (an iterable of preprocessed
    (1, 3, H, W) float32 arrays, e.g. frames of a representative clip) through TensorRT's
    entropy calibrator.

    Example::

        build_engine("yolox_s.onnx", "yolox_s.engine", fp16=True)
    """
    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    with open(onnx_path, "rb") as f:
        if not parser.parse(f.read()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if not tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    if int8:
        if calibration_batches is None:
            raise ValueError("build_engine(int8=True) needs calibration_batches (frames of a representative clip)")
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _entropy_calibrator(trt, calibration_batches)
    shape = tuple(network.get_input(0).shape)
    if shape[0] == -1:  # dynamic batch from export_onnx(dynamic_batch=True): profile for 1..8
        profile = builder.create_optimization_profile()
        profile.set_shape(network.get_input(0).name, (1, *shape[1:]), (1, *shape[1:]), (8, *shape[1:]))
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    with open(engine_path, "wb") as f:
        f.write(serialized)
    return engine_path


def _entropy_calibrator(trt, batches):
    """A TensorRT entropy calibrator fed from an iterable of (1, 3, H, W) float32 arrays."""
    arrays = [torch.from_numpy(__import__("numpy").ascontiguousarray(b, dtype="float32")) for b in batches]
    if not arrays:
        raise ValueError("int8 calibration needs at least one batch")

    class _Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self._pending = list(arrays)
            self._current = None  # kept alive while TensorRT reads it

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            if not self._pending:
                return None
            self._current = self._pending.pop(0).cuda()
            return [int(self._current.data_ptr())]

        def read_calibration_cache(self):
            return None

        def write_calibration_cache(self, cache):
            return None

    return _Calibrator()
