"""YOLOX detectors (CSPDarknet + PAFPN + decoupled head), compatible with official checkpoints.

``YOLOX`` runs on PyTorch (default), ONNX Runtime (``onnx_file=``, see ``export_onnx``) or
TensorRT (``trt_file=``); onnxruntime and tensorrt are imported only when used.
"""

from .detector import COCO_CLASSES, YOLOX, UntrustedCheckpointError
from .export import export_onnx
from .network import MODEL_SPECS, build_model

__all__ = ["YOLOX", "build_model", "export_onnx", "MODEL_SPECS", "COCO_CLASSES", "UntrustedCheckpointError"]
