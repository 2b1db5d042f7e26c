"""ONNX Runtime backend: runs an exported YOLOX graph in place of the torch network.

``OnnxRuntimeModel(path, device)`` is called like the torch model - (B, 3, H, W) tensor in,
(B, A, 5 + C) float tensor out - so ``YOLOX`` keeps one pre/post-processing path for every
backend. The output is a CPU tensor whatever the provider: it comes back through host memory
anyway, and torch may be a CPU-only build next to onnxruntime-gpu.

Example::

    model = OnnxRuntimeModel("yolox_s.onnx", torch.device("cpu"))
    raw = model(torch.zeros(1, 3, 640, 640))   # (1, 8400, 85)
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch

from ...predict.runtime import onnx_session, require_onnxruntime as _require_onnxruntime
from ...predict.runtime import select_providers as _select_providers

__all__ = ["OnnxRuntimeModel", "require_onnxruntime", "select_providers"]

_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def require_onnxruntime():
    """Imports onnxruntime, or raises ImportError naming the pip package to install."""
    return _require_onnxruntime("YOLOX(onnx_file=...)")


def select_providers(device: torch.device, available: List[str]) -> List[str]:
    """Execution providers in priority order: TensorRT, CUDA (on a cuda device), then CPU."""
    return _select_providers(device, available)


class OnnxRuntimeModel:
    """A YOLOX ONNX graph behind the torch model's call signature.

    The CPU provider uses ``torch.get_num_threads()`` intra-op threads (``OMP_NUM_THREADS`` /
    ``torch.set_num_threads``), like the torch backend.

    Args:
        path: an ``.onnx`` file with one input (B, 3, H, W) and the decoded output (B, A, 5 + C).
        device: a cuda device selects the GPU providers (its index picks the card), else the CPU one.
        providers: explicit ONNX Runtime providers (overrides the automatic choice).
    """

    def __init__(self, path: str, device: torch.device, providers: Optional[List[str]] = None):
        # The session (providers, threads, no spinning) is built by the generic runtime code that
        # every vistream predictor shares (vistream.predict.runtime.onnx_session).
        self.device = torch.device(device)
        self.session = onnx_session(path, self.device, providers, feature="YOLOX(onnx_file=...)")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ValueError(f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        if inputs[0].type not in _NUMPY_TYPES:
            raise ValueError(f"{path}: unsupported input type {inputs[0].type}")
        self.input_dtype = _NUMPY_TYPES[inputs[0].type]
        shape = inputs[0].shape
        if len(shape) != 4:
            raise ValueError(f"{path}: expected a (B, 3, H, W) input, got shape {shape}")
        # None when H/W are symbolic; the detector then keeps its own input_size
        self.input_hw: Optional[Tuple[int, int]] = (
            (int(shape[2]), int(shape[3])) if isinstance(shape[2], int) and isinstance(shape[3], int) else None)
        last = outputs[0].shape[-1]
        self.num_outputs: Optional[int] = int(last) if isinstance(last, int) else None
        self.providers = self.session.get_providers()
        # vistream.model / vistream.input_size / vistream.num_classes, written by export_onnx
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map or {})

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.is_cuda and "CUDAExecutionProvider" in self.providers:
            return self._run_bound(images)
        # A CPU run: the input is already in host memory (numpy shares the tensor when it can).
        array = np.ascontiguousarray(images.detach().float().cpu().numpy(), dtype=self.input_dtype)
        out = self.session.run([self.output_name], {self.input_name: array})[0]
        return torch.from_numpy(out)

    def _run_bound(self, images: torch.Tensor) -> torch.Tensor:
        """Runs on a CUDA input where it lies: an IO binding on the tensor's device pointer (no host
        copy of the network input). The output, (1, A, 5 + C) floats, comes back to the host."""
        torch_type = {np.float32: torch.float32, np.float16: torch.float16, np.float64: torch.float64}
        images = images.to(dtype=torch_type[self.input_dtype]).contiguous()
        binding = self.session.io_binding()
        binding.bind_input(self.input_name, "cuda", images.device.index or 0, self.input_dtype,
                           tuple(images.shape), images.data_ptr())
        binding.bind_output(self.output_name, "cpu")
        # ONNX Runtime runs on its own CUDA stream: the work torch queued to fill `images` must be done
        torch.cuda.current_stream(images.device).synchronize()
        self.session.run_with_iobinding(binding)
        return torch.from_numpy(binding.copy_outputs_to_cpu()[0])

    def __repr__(self) -> str:
        return f"OnnxRuntimeModel(providers={self.providers}, input_hw={self.input_hw})"
