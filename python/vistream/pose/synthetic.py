"""A train-free "pose model" that finds coloured markers, and a clip with moving markers to run it on.

Used by the tests, the benchmark and the docs: its output is predictable, so dynamic cropping can be
checked against ground truth, and it is a real DeepLabCut-style network (heatmaps + location
refinement, stride 8) exported to ONNX with its pytorch_config in the file's metadata.

How it works: a marker pixel is one whose colour channel exceeds the mean of the other two by more
than 0.3 (on [0, 1] RGB): ``red`` for pure red, ``blue`` for pure blue. For every 8x8 cell the network
sums the marker pixels in a 25x25 window centred on the cell (the heatmap, divided by the area of a
marker of ``MARKER_RADIUS`` and clipped to [0, 1] by DeepLabCut's ``clip_scores``) and their mean
offset from the cell centre (the location refinement, in units of ``locref_std``). The arg-max cell's
window contains the whole marker, so the decoded keypoint is the marker's centroid wherever the crop
starts.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any, Dict, Tuple, Union

__all__ = ["MARKER_RADIUS", "marker_config", "write_marker_model", "write_marker_clip", "marker_positions", "marker_frame"]

MARKER_RADIUS = 6
_STRIDE = 8
_WINDOW = 25  # odd, > 2 * (stride / 2 + radius): the arg-max cell's window holds the whole marker
_LOCREF_STD = 7.2801


def marker_config() -> Dict[str, Any]:
    """The pytorch_config (DeepLabCut's keys) describing the marker network's outputs."""
    return {
        "method": "bu",
        "net_type": "marker_finder",
        "metadata": {"bodyparts": ["red", "blue"], "unique_bodyparts": [], "individuals": ["animal"]},
        "data": {"inference": {"normalize_images": False}},
        "model": {
            "backbone": {"type": "Analytic", "output_stride": _STRIDE},
            "heads": {"bodypart": {
                "type": "HeatmapHead",
                "predictor": {"type": "HeatmapPredictor", "apply_sigmoid": False, "clip_scores": True,
                              "location_refinement": True, "locref_std": _LOCREF_STD},
                "heatmap_config": {"channels": [2, 2], "kernel_size": [], "strides": []},
            }},
        },
    }


def write_marker_model(path: Union[str, Path]) -> Path:
    """Writes the marker network as ONNX to ``path`` (loads with ``DLCPoseEstimator(path, runtime="onnx")``)."""
    import torch
    from torch import nn

    from .estimator import _export_onnx

    class MarkerNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            offsets = torch.arange(_WINDOW, dtype=torch.float32) - (_WINDOW - 1) / 2
            ones = torch.ones(_WINDOW, _WINDOW)
            # per marker channel: pixel count, sum of dx, sum of dy over each cell's window
            kernels = torch.stack([ones, offsets[None, :].expand(_WINDOW, _WINDOW),
                                   offsets[:, None].expand(_WINDOW, _WINDOW)])
            self.register_buffer("kernels", kernels[:, None])
            self.padding = (_WINDOW - 1) // 2 - _STRIDE // 2
            self.area = math.pi * MARKER_RADIUS ** 2

        def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
            red = torch.clamp((r - 0.5 * (g + b) - 0.3) / 0.7, 0.0, 1.0)
            blue = torch.clamp((b - 0.5 * (r + g) - 0.3) / 0.7, 0.0, 1.0)
            heatmaps, locrefs = [], []
            for mask in (red, blue):
                sums = nn.functional.conv2d(mask, self.kernels, stride=_STRIDE, padding=self.padding)
                count = sums[:, 0:1]
                heatmaps.append(count / self.area)
                safe = torch.clamp(count, min=1e-6)
                locrefs += [sums[:, 1:2] / safe / _LOCREF_STD, sums[:, 2:3] / safe / _LOCREF_STD]
            return torch.cat(heatmaps, 1), torch.cat(locrefs, 1)

    return _export_onnx(MarkerNetwork().eval(), marker_config(), Path(path))


def marker_positions(time: float, width: int, height: int) -> Dict[str, Tuple[float, float]]:
    """Where the markers of :func:`write_marker_clip` are at ``time`` (pixel centres)."""
    cx, cy = 0.5 * width, 0.5 * height
    red = (cx + 0.35 * width * math.cos(time), cy + 0.3 * height * math.sin(time))
    return {"red": red, "blue": (red[0] + 30.0, red[1] + 20.0)}


def marker_frame(time: float, width: int, height: int):
    """The BGR frame of :func:`write_marker_clip` at ``time``: grey, a red and a blue disc."""
    import numpy as np

    frame = np.full((height, width, 3), 128, np.uint8)
    ys, xs = np.mgrid[0:height, 0:width]
    positions = marker_positions(time, width, height)
    for name, bgr in (("red", (0, 0, 255)), ("blue", (255, 0, 0))):
        x, y = positions[name]
        frame[(xs - x) ** 2 + (ys - y) ** 2 <= MARKER_RADIUS ** 2] = bgr
    return frame


def write_marker_clip(path: Union[str, Path], *, width: int = 640, height: int = 360, seconds: float = 2.0,
                      fps: int = 30) -> Path:
    """Encodes :func:`marker_frame` at ``i / fps`` for every frame i (a red and a blue disc of radius
    ``MARKER_RADIUS`` circling on grey) with the ffmpeg CLI: raw BGR frames on its stdin,
    ``-c:v libx264 -qp 4 -pix_fmt yuv444p`` (near-lossless, no chroma subsampling, so the discs keep
    their colour and centre).
    """
    command = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
               "-r", str(fps), "-i", "-", "-c:v", "libx264", "-qp", "4", "-pix_fmt", "yuv444p", str(path)]
    frames = b"".join(marker_frame(i / fps, width, height).tobytes() for i in range(int(round(seconds * fps))))
    subprocess.run(command, input=frames, check=True, capture_output=True)
    return Path(path)
