"""Global camera-motion estimation between consecutive frames (BoT-SORT's "GMC").

When the camera pans, every track's Kalman prediction is off by the camera's motion and
IoU association fails for fast pans. ``CameraMotion`` estimates, for each new frame, the
2x3 similarity transform (rotation, uniform scale, translation) that maps the previous
frame's pixel coordinates onto the current frame's; the tracker moves its predictions by it.
"""

from __future__ import annotations

import logging
from typing import Optional, Tuple

import cv2
import numpy as np

log = logging.getLogger("vistream.track")

IDENTITY = np.eye(2, 3)

# Corner detection for sparse optical flow. A couple of hundred corners over-determine the
# 4-DOF transform, and RANSAC discards those on moving people. Spacing them out covers the
# whole image with fewer points: measured on a 720p pan (bench/track.py), 200 corners 8 px
# apart are as accurate as 400 unspaced ones (median error 0.05 px) and tracking them costs
# half as much.
MAX_CORNERS = 200
CORNER_QUALITY = 0.01
MIN_CORNER_SPACING = 8   # px, in the downscaled image
MIN_INLIER_POINTS = 8    # below this the estimate is not trusted: identity

# ECC: a few dozen iterations converge for frame-to-frame motion; a tighter budget than the
# reference's 5000 iterations keeps the worst case bounded at video rate.
ECC_ITERATIONS = 100
ECC_EPSILON = 1e-5
ECC_PYRAMID_FACTOR = 4

METHODS = ("sparse_flow", "ecc", "none")


class CameraMotion:
    """Frame-to-frame camera motion as a 2x3 matrix.

    Args:
        method: ``"sparse_flow"`` (corners tracked with pyramidal Lucas-Kanade, similarity
            fitted with RANSAC: robust to moving objects, ~ms per 720p frame), ``"ecc"``
            (OpenCV's enhanced-correlation alignment of whole frames, Euclidean, coarse to fine:
            slower, for scenes with few corners) or ``"none"`` (always identity).
        downscale: frames are shrunk by this factor first (speed; motion is rescaled).

    The first frame, a frame whose size differs from the previous one, and any frame where
    the estimate fails give the identity.

    Example::

        motion = CameraMotion("sparse_flow")
        for image in frames:
            warp = motion.estimate(image)   # (2, 3): x' = warp[:, :2] @ x + warp[:, 2]
    """

    def __init__(self, method: str = "sparse_flow", downscale: int = 2) -> None:
        method = "none" if method in (None, "", "None") else str(method).lower()
        aliases = {"sparseoptflow": "sparse_flow", "optical_flow": "sparse_flow", "off": "none"}
        method = aliases.get(method, method)
        if method not in METHODS:
            raise ValueError(f"unknown camera-motion method {method!r}; valid: {', '.join(METHODS)}")
        if int(downscale) < 1:
            raise ValueError("downscale must be >= 1")
        self.method = method
        self.downscale = int(downscale)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (the next estimate is the identity)."""
        self._previous: Optional[np.ndarray] = None
        self._previous_corners: Optional[np.ndarray] = None
        self._original_size: Optional[Tuple[int, int]] = None

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        """Grey, downscaled copy of ``frame`` (BGR or grey, any row stride)."""
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            raise ValueError(f"camera motion needs a uint8 HxW or HxWx3 image, got {frame.dtype} {frame.shape}")
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else np.ascontiguousarray(frame)
        if self.downscale > 1:
            h, w = grey.shape
            grey = cv2.resize(grey, (max(1, w // self.downscale), max(1, h // self.downscale)),
                              interpolation=cv2.INTER_AREA)
        return grey

    def observe(self, frame: np.ndarray) -> None:
        """Take ``frame`` as the previous frame without estimating (used when the motion is
        already known, e.g. replayed from a cache)."""
        self._remember(frame.shape[:2], self._prepare(frame))

    def _remember(self, size: Tuple[int, int], grey: np.ndarray) -> None:
        self._original_size = (int(size[0]), int(size[1]))
        self._previous = grey
        self._previous_corners = None
        if self.method == "sparse_flow":
            self._previous_corners = cv2.goodFeaturesToTrack(
                grey, maxCorners=MAX_CORNERS, qualityLevel=CORNER_QUALITY,
                minDistance=MIN_CORNER_SPACING, blockSize=3)

    def estimate(self, frame: np.ndarray) -> np.ndarray:
        """Motion from the previous frame to ``frame`` (full-resolution pixel coordinates)."""
        if self.method == "none":
            return IDENTITY.copy()
        grey = self._prepare(frame)
        size = frame.shape[:2]
        previous, corners = self._previous, self._previous_corners
        same_size = self._original_size == (int(size[0]), int(size[1]))
        warp = IDENTITY.copy()
        if previous is not None and same_size:
            try:
                if self.method == "sparse_flow":
                    estimate = self._sparse_flow(previous, corners, grey)
                else:
                    estimate = self._ecc(previous, grey)
            except cv2.error as error:  # degenerate images (flat, tiny): no motion information
                log.debug("camera motion estimate failed: %s", error)
                estimate = None
            if estimate is not None:
                warp = estimate
                warp[:, 2] *= self.downscale  # translation back to full resolution
        self._remember(size, grey)
        return warp

    @staticmethod
    def _sparse_flow(previous: np.ndarray, corners: Optional[np.ndarray], grey: np.ndarray) -> Optional[np.ndarray]:
        if corners is None or len(corners) < MIN_INLIER_POINTS:
            return None
        moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, grey, corners, None)
        found = status.reshape(-1).astype(bool)
        if found.sum() < MIN_INLIER_POINTS:
            return None
        warp, inliers = cv2.estimateAffinePartial2D(corners[found], moved[found], method=cv2.RANSAC,
                                                    ransacReprojThreshold=1.0)
        if warp is None or inliers is None or int(inliers.sum()) < MIN_INLIER_POINTS:
            return None
        return warp.astype(np.float64)

    @staticmethod
    def _ecc(previous: np.ndarray, grey: np.ndarray) -> Optional[np.ndarray]:
        # ECC converges only from a few pixels away: align a 4x smaller pair first and refine
        # from there (coarse to fine), so hand-held jerks of tens of pixels are found too.
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, ECC_EPSILON)
        warp = np.eye(2, 3, dtype=np.float32)
        h, w = grey.shape
        if min(h, w) >= 4 * ECC_PYRAMID_FACTOR * 8:
            size = (w // ECC_PYRAMID_FACTOR, h // ECC_PYRAMID_FACTOR)
            small_previous = cv2.resize(previous, size, interpolation=cv2.INTER_AREA)
            small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
            _, warp = cv2.findTransformECC(small_previous, small, warp, cv2.MOTION_EUCLIDEAN, criteria, None, 1)
            warp[:, 2] *= ECC_PYRAMID_FACTOR
        # the warp found maps template (previous frame) coordinates to input (current frame) ones
        _, warp = cv2.findTransformECC(previous, grey, warp, cv2.MOTION_EUCLIDEAN, criteria, None, 1)
        return warp.astype(np.float64)
