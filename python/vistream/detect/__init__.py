"""Detectors: ``detector(image) -> Detections``.

Offline detectors that need no download: ``MotionDetector`` (background subtraction) and
``HOGPeopleDetector`` (OpenCV's HOG people detector). ``YOLOX`` (checkpoint-compatible with the
official YOLOX and ByteTrack weights) needs torch and torchvision, imported on first use.
``MTCNNFaceDetector`` (faces and 5 facial landmarks) needs torch and facenet-pytorch, whose wheel
ships the weights (no download); it too is imported on first use.
"""

from .hog import HOGPeopleDetector
from .motion import MotionDetector

__all__ = ["MotionDetector", "HOGPeopleDetector", "YOLOX", "MTCNNFaceDetector"]


def __getattr__(name: str):
    # torch is optional: importing vistream.detect must not require it.
    if name == "YOLOX":
        from .yolox import YOLOX

        return YOLOX
    if name == "MTCNNFaceDetector":
        from .mtcnn import MTCNNFaceDetector

        return MTCNNFaceDetector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
