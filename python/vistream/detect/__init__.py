"""Detectors: ``detector(image) -> Detections``.

Offline detectors that need no download: ``MotionDetector`` (background subtraction) and
``HOGPeopleDetector`` (OpenCV's HOG people detector).
"""

from .hog import HOGPeopleDetector
from .motion import MotionDetector

__all__ = ["MotionDetector", "HOGPeopleDetector"]
