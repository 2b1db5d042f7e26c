"""``MTCNNFaceDetector``: faces (and 5 facial landmarks) with MTCNN, weights shipped in a wheel.

The networks and their weights come from the ``facenet-pytorch`` package, which carries the
P-, R- and O-net weights inside its wheel: nothing is downloaded at run time.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..detections import Detections
from ..errors import MissingDependencyError

__all__ = ["MTCNNFaceDetector"]

_INSTALL_HINT = (
    "MTCNNFaceDetector needs the facenet-pytorch package: pip install --no-deps facenet-pytorch==2.6.0 "
    "(--no-deps because its pinned requirements would replace the installed torch/torchvision; it only "
    "needs torch, torchvision, numpy, pillow, requests and tqdm at import time)"
)


class MTCNNFaceDetector:
    """Detects faces with MTCNN (three cascaded CNNs over an image pyramid), offline.

    Boxes are in the pixel coordinates of the image passed in, ``class_id`` is 0 and
    ``data["class_name"]`` is ``"face"``. With ``keypoints=True`` each detection also carries
    the 5 MTCNN landmarks as ``Detections.keypoints`` (N, 5, 3): x, y and the face's confidence
    (MTCNN gives no per-landmark score), in the order of :attr:`KEYPOINT_NAMES` (left/right as
    seen in the image).

    Speed is set mostly by ``min_face_size``: the pyramid has one level per factor of
    ``scale_factor`` between that size and the image's short side, so a larger minimum is faster.

    Args:
        device: torch device string, ``"cpu"`` or ``"cuda"`` (``"cuda:1"``, ...).
        min_face_size: smallest face searched for, in pixels (face box side).
        thresholds: score thresholds of the three stages (P-net, R-net, O-net).
        conf: final confidence threshold, applied to the O-net score. The default 0.98 is
            from a measurement on the street clip: real faces score above 0.999 while MTCNN's
            false positives there (backs of heads, text, hands) scored 0.90-0.97.
        scale_factor: step between pyramid levels, in (0, 1).
        keypoints: also return the 5 facial landmarks.

    Example::

        detect = MTCNNFaceDetector(keypoints=True)
        faces = detect(cv2.imread("group.jpg"))
        for box, points in zip(faces.xyxy, faces.keypoints):
            print(box, points[:, :2])
    """

    KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

    def __init__(self, device: str = "cpu", min_face_size: int = 20,
                 thresholds: Sequence[float] = (0.6, 0.7, 0.7), conf: float = 0.98,
                 scale_factor: float = 0.709, keypoints: bool = False) -> None:
        try:
            import torch
            from facenet_pytorch import MTCNN
        except ImportError as error:
            raise MissingDependencyError(f"{_INSTALL_HINT} ({error})") from error

        thresholds = tuple(float(t) for t in thresholds)
        if len(thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in thresholds):
            raise ValueError(f"thresholds must be 3 scores in [0, 1] (P-, R-, O-net), got {thresholds}")
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f"conf must be in [0, 1], got {conf}")
        if min_face_size < 1:
            raise ValueError(f"min_face_size must be >= 1 pixel, got {min_face_size}")
        if not 0.0 < scale_factor < 1.0:
            raise ValueError(f"scale_factor must be in (0, 1), got {scale_factor}")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device")
        self._torch = torch
        self.min_face_size = int(min_face_size)
        self.thresholds = thresholds
        self.conf = float(conf)
        self.scale_factor = float(scale_factor)
        self.keypoints = bool(keypoints)
        # keep_all: every face, not just one; select_largest=False: no reordering by area (we sort
        # by confidence ourselves). Only MTCNN.detect() is used, so the crop options don't matter.
        self.model = MTCNN(min_face_size=self.min_face_size, thresholds=list(thresholds),
                           factor=self.scale_factor, keep_all=True, select_largest=False,
                           device=self.device).eval()

    def __call__(self, image: np.ndarray) -> Detections:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("MTCNNFaceDetector needs a BGR image as an (H, W, 3) numpy array, got "
                             f"{getattr(image, 'shape', type(image).__name__)}")
        if image.dtype != np.uint8:
            raise ValueError(f"MTCNNFaceDetector needs a uint8 image, got {image.dtype}")
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            raise ValueError(f"MTCNNFaceDetector got an empty image of shape {image.shape}")
        if min(height, width) < self.min_face_size:
            # No face of the minimum size fits; MTCNN would build an empty pyramid and fail.
            return self._detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                                    np.zeros((0, 5, 2), np.float32))

        # The nets were trained on RGB. Reversing the channels of any view (strided video frame
        # included) and making it contiguous is the one copy needed before handing it to torch.
        rgb = self._torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1]))
        boxes, scores, points = self.model.detect(rgb, landmarks=True)
        if boxes is None:  # facenet-pytorch's "no face" result
            return self._detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                                    np.zeros((0, 5, 2), np.float32))
        # detect() returns object arrays (it also handles batches of ragged results).
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        points = np.asarray(points, dtype=np.float32).reshape(-1, 5, 2)

        keep = scores >= self.conf
        order = np.argsort(-scores[keep], kind="stable")  # most confident first
        boxes, scores, points = boxes[keep][order], scores[keep][order], points[keep][order]
        # MTCNN squares its boxes, so faces at the border reach past the image: clip as YOLOX does.
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        return self._detections(boxes, scores, points)

    def _detections(self, boxes: np.ndarray, scores: np.ndarray, points: np.ndarray) -> Detections:
        n = len(boxes)
        keypoints: Optional[np.ndarray] = None
        if self.keypoints:
            # Landmarks are all predicted together with the face, so they share its score.
            visibility = np.broadcast_to(scores[:, None, None], (n, 5, 1))
            keypoints = np.concatenate([points, visibility], axis=2).astype(np.float32)
        return Detections(xyxy=boxes, confidence=scores, class_id=np.zeros(n, np.int64), keypoints=keypoints,
                          data={"class_name": np.array(["face"] * n, dtype="<U4")})

    def __repr__(self) -> str:
        return (f"MTCNNFaceDetector(device={str(self.device)!r}, min_face_size={self.min_face_size}, "
                f"thresholds={self.thresholds}, conf={self.conf}, keypoints={self.keypoints})")
