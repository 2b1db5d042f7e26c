"""Predictors for users' own models: ONNX files, torch modules, TensorRT engines, ultralytics.

- ``OnnxDetector`` / ``TorchDetector``: detection models with ready decoders for the common
  output layouts (YOLOv8/v11, YOLOv5, YOLOX, SSD, DETR, end-to-end), found from the outputs.
- ``OnnxSegmenter`` / ``TorchSegmenter``: YOLOv8-seg prototype masks → per-box masks.
- ``OnnxClassifier`` / ``TorchClassifier``: ImageNet-style preprocessing, softmax top-k.
- ``UltralyticsPredictor``: an ultralytics model (detect/segment/classify/pose).
- Runtimes: ``OnnxRuntime``, ``TorchRuntime``, ``TensorRTRuntime``; ``export_model`` builds cached
  ONNX files/TensorRT engines (``vistream export``).

Nothing here imports torch, ONNX Runtime or ultralytics until a predictor that needs it is made.
"""

from .postprocess import LAYOUTS, LayoutError, detect_layout
from .preprocess import ImageNetPreprocess, ImageTransform, Letterbox, Resize
from .predictors import (ModelClassifier, ModelDetector, ModelSegmenter, OnnxClassifier, OnnxDetector,
                         OnnxSegmenter, TorchClassifier, TorchDetector, TorchSegmenter)
from .runtime import OnnxRuntime, Runtime, TensorRTRuntime, TorchRuntime, select_providers

__all__ = ["OnnxDetector", "OnnxSegmenter", "OnnxClassifier", "TorchDetector", "TorchSegmenter", "TorchClassifier",
           "ModelDetector", "ModelSegmenter", "ModelClassifier", "UltralyticsPredictor", "export_model",
           "Runtime", "OnnxRuntime", "TorchRuntime", "TensorRTRuntime", "select_providers",
           "Letterbox", "Resize", "ImageNetPreprocess", "ImageTransform", "LAYOUTS", "LayoutError", "detect_layout"]


def __getattr__(name: str):
    if name == "UltralyticsPredictor":
        from .ultralytics import UltralyticsPredictor

        return UltralyticsPredictor
    if name == "export_model":
        from .export import export_model

        return export_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
