"""Annotators: draw detections on BGR frames, in place.

Every annotator is configured in its constructor and applied with
``annotate(image, detections) -> image``, which draws on the HxWx3 uint8 BGR ``image`` in place
(strided views such as ``frame.array`` included) and returns that same array.

Example::

    from vistream.annotate import BoxAnnotator, LabelAnnotator, TraceAnnotator

    boxes, labels, traces = BoxAnnotator(), LabelAnnotator(class_names=["person"]), TraceAnnotator()
    for frame in reader:
        detections = tracker.update(detector(frame.array))
        for annotator in (traces, boxes, labels):
            annotator.annotate(frame.array, detections)

``TorchBoxAnnotator``, ``TorchPixelateAnnotator``, ``TorchLabelAnnotator`` and
``TorchTraceAnnotator`` do the same on an (H, W, 3) uint8 torch tensor on any device (e.g. a CUDA
frame), with the same look; torch is imported only then.
"""

from .blur import BlurAnnotator
from .box import BoxAnnotator
from .colors import PALETTE, color_for, text_color_for
from .dot import DotAnnotator
from .keypoint import KeypointAnnotator
from .label import LabelAnnotator
from .mask import MaskAnnotator
from .pixelate import PixelateAnnotator
from .trace import TraceAnnotator

__all__ = [
    "BoxAnnotator",
    "LabelAnnotator",
    "TraceAnnotator",
    "BlurAnnotator",
    "PixelateAnnotator",
    "DotAnnotator",
    "MaskAnnotator",
    "KeypointAnnotator",
    "TorchBoxAnnotator",
    "TorchPixelateAnnotator",
    "TorchLabelAnnotator",
    "TorchTraceAnnotator",
    "color_for",
    "text_color_for",
    "PALETTE",
]

# Zones (vistream.analytics) and where tracks went
from .heatmap import HeatmapAnnotator  # noqa: E402
from .zone import LineZoneAnnotator, PolygonZoneAnnotator, ZoneAnnotator  # noqa: E402

__all__ += ["LineZoneAnnotator", "ZoneAnnotator", "PolygonZoneAnnotator", "HeatmapAnnotator"]

# The dashboard's clicked track (Pipeline.highlight)
from .highlight import HighlightAnnotator  # noqa: E402

__all__ += ["HighlightAnnotator"]


def __getattr__(name: str):
    # torch is optional: importing vistream.annotate must not require it.
    if name == "TorchBoxAnnotator":
        from .torch_box import TorchBoxAnnotator

        return TorchBoxAnnotator
    if name == "TorchPixelateAnnotator":
        from .torch_pixelate import TorchPixelateAnnotator

        return TorchPixelateAnnotator
    if name == "TorchLabelAnnotator":
        from .torch_label import TorchLabelAnnotator

        return TorchLabelAnnotator
    if name == "TorchTraceAnnotator":
        from .torch_trace import TorchTraceAnnotator

        return TorchTraceAnnotator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
