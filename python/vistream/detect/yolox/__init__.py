"""YOLOX detectors (CSPDarknet + PAFPN + decoupled head), compatible with official checkpoints.

``YOLOX`` runs on PyTorch (default), ONNX Runtime (``onnx_file=``, see ``export_onnx``) or
TensorRT (``trt_file=``). Importing this package needs no torch: torch and torchvision are imported
when a detector is built (``MissingDependencyError`` says how to install them); onnxruntime and
tensorrt only when used.
"""

from ...errors import CheckpointMismatchError, UntrustedCheckpointError
from .detector import COCO_CLASSES, YOLOX
from .specs import DEFAULT_MODEL, MODEL_SPECS

__all__ = ["YOLOX", "build_model", "export_onnx", "MODEL_SPECS", "DEFAULT_MODEL", "COCO_CLASSES",
           "UntrustedCheckpointError", "CheckpointMismatchError"]


def __getattr__(name: str):
    # build_model / export_onnx are torch code: import it only when they are asked for
    if name in ("build_model", "export_onnx"):
        from .detector import require_torch

        require_torch()
        if name == "build_model":
            from .network import build_model

            return build_model
        from .export import export_onnx

        return export_onnx
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
