"""YOLOX detectors (CSPDarknet + PAFPN + decoupled head), compatible with official checkpoints."""

from .detector import COCO_CLASSES, YOLOX
from .network import MODEL_SPECS, build_model

__all__ = ["YOLOX", "build_model", "MODEL_SPECS", "COCO_CLASSES"]
