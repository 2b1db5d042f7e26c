"""The plugin protocols: what a detector, segmenter, classifier, pose estimator, tracker or
annotator must look like to plug into :class:`vistream.Pipeline` (or into your own loop).

They are :class:`typing.Protocol` classes: nothing to inherit, any object with the right
methods qualifies (static type checkers verify the signatures; ``isinstance(obj, Detector)``
checks at run time that the methods exist — Python cannot check argument types at run time).

Images are (H, W, 3) uint8 BGR, the layout of ``frame.array`` (numpy) — or a torch tensor of
that layout for predictors that run on the GPU (``frame.to_torch()``-style device frames).

Example: a detector of your own::

    class RedBlobDetector:
        def __call__(self, image: np.ndarray) -> vistream.Detections:
            mask = (image[:, :, 2] > 200) & (image[:, :, 1] < 80)
            ys, xs = np.nonzero(mask)
            if xs.size == 0:
                return vistream.Detections.empty()
            return vistream.Detections(xyxy=[[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]])

    assert isinstance(RedBlobDetector(), vistream.Detector)
    vistream.Pipeline(RedBlobDetector(), annotators=[BoxAnnotator()])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol, Tuple, Union, runtime_checkable

import numpy as np

from .classifications import Classifications
from .detections import Detections

if TYPE_CHECKING:  # torch is optional: only for the annotation
    import torch

    Image = Union[np.ndarray, torch.Tensor]
else:
    Image = Any

__all__ = ["Image", "Detector", "Segmenter", "Classifier", "PoseEstimator", "Tracker", "Annotator",
           "check_protocol"]


@runtime_checkable
class Detector(Protocol):
    """Finds objects: ``detector(image) -> Detections`` with boxes, scores and class ids (and
    ``class_names`` when the model knows them). Any callable with that signature is one
    (a function, a lambda, ``MotionDetector()``, ``YOLOX(...)``)."""

    def __call__(self, image: Image) -> Detections:
        ...


@runtime_checkable
class Segmenter(Protocol):
    """Finds objects and their pixels: ``segmenter(image) -> Detections`` whose ``mask`` is
    set (build it compactly with ``InstanceMasks.from_crops`` when masks are computed per box).
    A segmenter is a detector: ``Pipeline(detector=segmenter)``."""

    def __call__(self, image: Image) -> Detections:
        ...


@runtime_checkable
class PoseEstimator(Protocol):
    """Finds keypoints: ``estimator(image) -> Detections`` whose ``keypoints`` are (N, K, 3)
    x, y, score (one row per animal/person; a single-animal model returns N = 1) and whose
    ``keypoint_names`` name the K points. A pose estimator is a detector for the Pipeline."""

    def __call__(self, image: Image) -> Detections:
        ...


@runtime_checkable
class Classifier(Protocol):
    """Names what an image shows: ``classifier(image) -> Classifications`` (one row, top-k
    class ids and scores, with ``class_names``). To classify boxes, crop them and attach the
    rows to the detections (``Detections(..., classifications=...)``)."""

    def __call__(self, image: Image) -> Classifications:
        ...


@runtime_checkable
class Tracker(Protocol):
    """Links detections over frames: ``update(detections, frame=None, **options) -> Detections``
    with ``tracker_id`` set. The Pipeline replays a tracker after a seek, so it must also give
    its state as plain data (``state_dict``/``load_state_dict``) and ``reset()``. Optional
    keywords the Pipeline passes when ``update`` accepts them: ``frames_elapsed`` (frames
    since the last update) and ``warp`` (camera motion, with a ``last_warp`` attribute)."""

    def update(self, detections: Optional[Detections], frame: Optional[np.ndarray] = None) -> Detections:
        ...

    def reset(self) -> None:
        ...

    def state_dict(self) -> Dict[str, Any]:
        ...

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        ...


@runtime_checkable
class Annotator(Protocol):
    """Draws results: ``annotate(image, detections) -> image``, in place on an (H, W, 3) uint8
    BGR array (strided frame views included), returning it."""

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        ...


# what each protocol asks for, spelled for error messages
_SIGNATURES: Dict[type, Tuple[Tuple[str, str], ...]] = {
    Detector: (("__call__", "__call__(image) -> Detections"),),
    Segmenter: (("__call__", "__call__(image) -> Detections (with masks)"),),
    PoseEstimator: (("__call__", "__call__(image) -> Detections (with keypoints)"),),
    Classifier: (("__call__", "__call__(image) -> Classifications"),),
    Tracker: (("update", "update(detections, frame=None) -> Detections"), ("reset", "reset()"),
              ("state_dict", "state_dict() -> dict"), ("load_state_dict", "load_state_dict(state)")),
    Annotator: (("annotate", "annotate(image, detections) -> image"),),
}


def check_protocol(obj: Any, protocol: type, role: str, owner: str = "Pipeline") -> None:
    """Raise a TypeError naming ``protocol`` and what ``obj`` lacks unless it satisfies it.

    Example::

        check_protocol(my_tracker, vistream.Tracker, "tracker")
    """
    if isinstance(obj, protocol):
        return
    signatures = _SIGNATURES.get(protocol, ())
    wanted = ", ".join(spelled for _, spelled in signatures)
    if [name for name, _ in signatures] == ["__call__"]:
        raise TypeError(f"{owner}: {role} must be callable: a vistream.{protocol.__name__} is called as "
                        f"{wanted.replace('__call__', role)}; got {type(obj).__name__!r}")
    missing = [spelled for name, spelled in signatures if not callable(getattr(obj, name, None))]
    raise TypeError(f"{owner}: {role} {type(obj).__name__!r} does not satisfy the vistream.{protocol.__name__} "
                    f"protocol: missing {', '.join(missing) or 'members'} (a {protocol.__name__} has {wanted})")
