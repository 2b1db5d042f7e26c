"""Finding and reading a DeepLabCut 3.0 PyTorch model: its configuration and its weights.

DeepLabCut stores a model two ways, both read here:

- the **training folder** (``dlc-models-pytorch/.../train/``): ``pytorch_config.yaml`` beside
  ``snapshot-NNN.pt`` / ``snapshot-best-NNN.pt`` files, each a dict whose ``"model"`` entry is the
  pose model's state dict (detector snapshots are named ``detector-snapshot-*``);
- the **export** (``deeplabcut.export_model``, what DeepLabCut-live loads): one ``.pt`` file, a dict
  ``{"config": <pytorch_config as a dict>, "pose": <state dict>[, "detector": ...]}``, in
  ``exported-models-pytorch/<name>/``.

Files are read with ``torch.load(weights_only=True)``: tensors and plain containers only, never
pickled code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import CheckpointMismatchError, MissingDependencyError, VistreamError

__all__ = ["DLCModelFiles", "find_model", "read_config_file", "model_summary"]


@dataclass(frozen=True)
class DLCModelFiles:
    """Where a model's parts are: ``config`` (pytorch_config.yaml or None when the export embeds it),
    ``weights`` (.pt, None for an ONNX model) and ``onnx`` (.onnx or None)."""

    config: Optional[Path]
    weights: Optional[Path]
    onnx: Optional[Path]


def _snapshot_epoch(path: Path) -> int:
    match = re.search(r"(\d+)\.pt$", path.name)
    return int(match.group(1)) if match else -1


def find_model(path: str | Path) -> DLCModelFiles:
    """The files of the DeepLabCut model at ``path`` (a folder, an exported .pt, a snapshot .pt or a .onnx).

    In a training folder the best snapshot is taken (``snapshot-best-*``), else the one with the
    highest epoch, as DeepLabCut's ``snapshotindex=-1`` does.

    Raises:
        FileNotFoundError: nothing at ``path``, or a folder without a model in it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no DeepLabCut model at {str(path)!r}")
    if path.is_file():
        sibling = path.parent / "pytorch_config.yaml"
        config = sibling if sibling.is_file() else None
        if path.suffix == ".onnx":
            return DLCModelFiles(config, None, path)
        return DLCModelFiles(config, path, None)
    config_path = path / "pytorch_config.yaml"
    snapshots = [p for p in path.glob("snapshot-*.pt")]
    if config_path.is_file() and snapshots:
        best = [p for p in snapshots if p.name.startswith("snapshot-best")]
        chosen = max(best or snapshots, key=_snapshot_epoch)
        return DLCModelFiles(config_path, chosen, None)
    exports = sorted(p for p in path.glob("*.pt") if not p.name.startswith(("detector-", "snapshot-")))
    if len(exports) == 1:
        return DLCModelFiles(config_path if config_path.is_file() else None, exports[0], None)
    onnx = sorted(path.glob("*.onnx"))
    if len(onnx) == 1:
        return DLCModelFiles(config_path if config_path.is_file() else None, None, onnx[0])
    found = ", ".join(sorted(p.name for p in path.iterdir())[:10]) or "nothing"
    raise FileNotFoundError(
        f"{str(path)!r} holds no DeepLabCut model: expected pytorch_config.yaml + snapshot-*.pt, one exported "
        f".pt or one .onnx (found: {found})")


def read_config_file(path: str | Path) -> Dict[str, Any]:
    """``pytorch_config.yaml`` as a dict."""
    try:
        import yaml
    except ImportError as error:  # pragma: no cover - PyYAML comes with the package's dependencies
        raise MissingDependencyError("reading pytorch_config.yaml needs PyYAML: pip install pyyaml") from error
    with open(path, encoding="utf-8") as handle:
        try:
            config = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise VistreamError(f"{str(path)!r} is not valid YAML: {error}") from error
    if not isinstance(config, dict) or "model" not in config:
        raise VistreamError(f"{str(path)!r} is not a DeepLabCut pytorch_config.yaml (no 'model' section)")
    return config


def load_weights(files: DLCModelFiles) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(config, pose state dict)`` of a torch model (export or training snapshot)."""
    import torch

    assert files.weights is not None
    try:
        data = torch.load(files.weights, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError/RuntimeError/EOFError for bad files
        raise CheckpointMismatchError(f"{str(files.weights)!r} is not a readable DeepLabCut snapshot: {error}") from error
    if not isinstance(data, dict):
        raise CheckpointMismatchError(f"{str(files.weights)!r} is not a DeepLabCut snapshot (not a dict)")
    if "pose" in data and "config" in data:  # deeplabcut.export_model
        config = data["config"]
        state = data["pose"]
    elif "model" in data:  # training snapshot
        if files.config is None:
            raise FileNotFoundError(f"{str(files.weights)!r} is a training snapshot: its pytorch_config.yaml "
                                    "must lie beside it")
        config = read_config_file(files.config)
        state = data["model"]
    else:
        raise CheckpointMismatchError(f"{str(files.weights)!r} has neither 'pose'+'config' (an export) nor "
                                      f"'model' (a snapshot): keys {sorted(data)[:8]}")
    return config, state


def model_summary(config: Dict[str, Any]) -> Dict[str, Any]:
    """What inference needs from a pytorch_config: bodyparts, preprocessing and decoding settings.

    Raises:
        ValueError: the configuration describes a model vistream cannot run (multi-animal, top-down,
            unique bodyparts, another head or predictor).
    """
    metadata = config.get("metadata") or {}
    bodyparts: List[str] = list(metadata.get("bodyparts") or [])
    if not bodyparts:
        raise ValueError("the DeepLabCut config lists no bodyparts (metadata.bodyparts)")
    if metadata.get("unique_bodyparts"):
        raise ValueError("DeepLabCut models with unique bodyparts are not supported yet")
    method = str(config.get("method", "bu")).lower()
    if method != "bu":
        raise ValueError(f"DeepLabCut method {method!r} is not supported: vistream runs single-animal "
                         "bottom-up models (method: bu)")
    heads = (config.get("model") or {}).get("heads") or {}
    head = heads.get("bodypart") or {}
    predictor = head.get("predictor") or {}
    if predictor.get("type", "HeatmapPredictor") != "HeatmapPredictor":
        raise ValueError(f"DeepLabCut predictor {predictor.get('type')!r} is not supported (HeatmapPredictor is)")
    inference = ((config.get("data") or {}).get("inference")) or {}
    padding = inference.get("auto_padding") or {}
    heatmap_strides = (head.get("heatmap_config") or {}).get("strides") or []
    head_stride = 1
    for value in heatmap_strides:
        head_stride *= int(value)
    backbone_stride = float(((config.get("model") or {}).get("backbone") or {}).get("output_stride", 32))
    return {
        "bodyparts": bodyparts,
        # input pixels per heatmap cell (DeepLabCut's model stride)
        "stride": backbone_stride / head_stride,
        "normalize_images": bool(inference.get("normalize_images", False)),
        "pad_height_divisor": int(padding.get("pad_height_divisor", 1)) if padding else 1,
        "pad_width_divisor": int(padding.get("pad_width_divisor", 1)) if padding else 1,
        "apply_sigmoid": bool(predictor.get("apply_sigmoid", True)),
        "clip_scores": bool(predictor.get("clip_scores", False)),
        "location_refinement": bool(predictor.get("location_refinement", True)),
        "locref_std": float(predictor.get("locref_std", 7.2801)),
        "net_type": str(config.get("net_type", "")),
    }
