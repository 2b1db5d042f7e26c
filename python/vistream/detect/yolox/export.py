"""``export_onnx``: a YOLOX network (or detector) to an ONNX file that ``YOLOX(onnx_file=...)`` runs.

The graph takes ``images`` (B, 3, H, W) float32, already letterboxed and normalised exactly like
``YOLOX.preprocess`` does, and returns ``output`` (B, A, 5 + C): decoded cx, cy, w, h in input
pixels, objectness and class probabilities - the same tensor as the torch model, so the detector's
post-processing (score threshold, NMS, rescaling) is shared by every backend.

Example::

    from vistream.detect.yolox import YOLOX, export_onnx

    detector = YOLOX("yolox_s", ckpt_file="auto")
    export_onnx(detector, "yolox_s.onnx")
    onnx_detector = YOLOX("yolox_s", onnx_file="yolox_s.onnx")
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Tuple, Union

import torch

__all__ = ["export_onnx", "DEFAULT_OPSET", "INPUT_NAME", "OUTPUT_NAME"]

# 17 is supported by every onnxruntime >= 1.13 and TensorRT >= 8.6; the network needs nothing newer.
DEFAULT_OPSET = 17
INPUT_NAME = "images"
OUTPUT_NAME = "output"


def _normalise_size(input_size: Union[int, Tuple[int, int]]) -> Tuple[int, int]:
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    size = (int(input_size[0]), int(input_size[1]))
    if size[0] % 32 or size[1] % 32 or min(size) <= 0:
        raise ValueError(f"input_size must be positive multiples of 32, got {size}")
    return size


def export_onnx(detector_or_model, path: Union[str, os.PathLike],
                input_size: Union[None, int, Tuple[int, int]] = None, dynamic_batch: bool = False,
                opset: int = DEFAULT_OPSET) -> Path:
    """Exports the network to ONNX (fp32, CPU trace) and returns the written path.

    Args:
        detector_or_model: a torch-backed ``YOLOX`` detector (its weights and ``input_size`` are
            used) or a bare ``YOLOXModel`` / ``nn.Module`` with the same output.
        path: the ``.onnx`` file to write (parent folders are created).
        input_size: (h, w) or int; defaults to the detector's ``input_size``. Required for a bare
            module. The spatial size is fixed in the graph (the letterbox always produces it), which
            lets ONNX Runtime and TensorRT pre-plan every buffer.
        dynamic_batch: make the batch dimension symbolic (``"batch"``) instead of 1.
        opset: ONNX opset version.

    The detector is not modified: a CPU fp32 copy of its network is traced. The model name,
    input size and class count are stored as metadata (``vistream.*`` keys) when the ``onnx``
    package is installed.

    Example::

        export_onnx(YOLOX("yolox_nano", ckpt_file="auto"), "nano.onnx", dynamic_batch=True)
    """
    net = getattr(detector_or_model, "model", detector_or_model)
    if not isinstance(net, torch.nn.Module):
        raise ValueError("export_onnx needs a torch-backed YOLOX detector or an nn.Module; this detector "
                         f"runs {type(net).__name__} (export from the torch model or its checkpoint instead)")
    if input_size is None:
        input_size = getattr(detector_or_model, "input_size", None)
        if input_size is None:
            raise ValueError("export_onnx: pass input_size=(h, w) when exporting a bare nn.Module")
    h, w = _normalise_size(input_size)

    # Trace a CPU fp32 copy: the caller's model may live on CUDA in half precision, and tracing
    # must not change its device, dtype or train/eval state.
    net = copy.deepcopy(net).float().cpu().eval()
    dummy = torch.zeros(1, 3, h, w)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dynamic_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter (dynamo=False) is deprecated but is the one that exports this
        # network reliably without onnxscript; its deprecation and tracer warnings are noise here.
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (dummy,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          opset_version=int(opset), dynamic_axes=dynamic_axes, do_constant_folding=True,
                          dynamo=False)
    _add_metadata(path, detector_or_model, (h, w))
    return path


def _add_metadata(path: Path, source, size: Tuple[int, int]) -> None:
    try:
        import onnx
    except ImportError:  # metadata is informative only; ONNX Runtime does not need it
        return
    model = onnx.load(str(path))
    meta = {"vistream.input_size": f"{size[0]},{size[1]}"}
    if hasattr(source, "name"):
        meta["vistream.model"] = str(source.name)
    if hasattr(source, "num_classes"):
        meta["vistream.num_classes"] = str(source.num_classes)
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))

