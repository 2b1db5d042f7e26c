"""Loading YOLOX / ByteTrack checkpoints safely: plain weights always, full pickles only when pinned or trusted.

``torch.load(weights_only=False)`` runs whatever the pickle says. It is used only for files whose sha256
is pinned (the weights manifest's, or the one the hub recorded when it downloaded the file: see
``vistream.hub.is_pinned``) or when the caller passes ``trust_checkpoint=True``; every other file is
loaded with ``weights_only=True`` (tensors and plain containers only).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, Tuple

import torch

from ... import hub
from ...errors import UntrustedCheckpointError

__all__ = ["UntrustedCheckpointError", "load_checkpoint_object", "checkpoint_path", "load_state_dict"]


def checkpoint_path(ckpt_file, auto_model: str) -> Path:
    """The local file for ``ckpt_file``: "auto" (``auto_model``'s hub entry), a URL, a hub name or a path."""
    text = str(ckpt_file)
    if text == "auto":
        return hub.resolve(auto_model)
    if "://" in text:
        return hub.resolve(text)  # downloaded once into the cache
    if not os.path.exists(text) and text in hub.manifest():
        return hub.resolve(text)
    if not os.path.isfile(text):
        raise FileNotFoundError(f"YOLOX checkpoint not found: {text}")
    return Path(text)


def _refusal(path: Path, source: str, error: Exception) -> UntrustedCheckpointError:
    found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(error))
    why = f" ({found.group(1).split('. Please')[0].strip()})" if found else ""
    if hub._is_inside(path, hub.weights_dir()) and hub.recorded_sha256(path) is None:
        origin = (f"It is in the weights cache ({path}) but vistream did not download it (no sha256 record beside "
                  "it), so nothing vouches for it; delete it to let the hub download the official file, or")
    else:
        origin = "Its sha256 is not one the weights manifest pins, so it is not loaded. If you trust where it came from,"
    return UntrustedCheckpointError(
        f"{source}: torch.load(weights_only=True) refused this checkpoint{why}: it is not a plain weights file, "
        f"and unpickling it fully could run code from the file. {origin} pass trust_checkpoint=True "
        "(command line: --bytetrack \"...;trust_checkpoint=True\"; then torch.save(detector.model.state_dict(), "
        "new_path) gives a file that loads safely)")


def load_checkpoint_object(path: Path, source: str, trusted: bool = False):
    """``torch.load`` with ``weights_only=True``; full unpickling only for trusted or pinned files.

    Full unpickling can execute code embedded in the file, so it is allowed only when ``trusted`` (the
    caller vouches for it) or when ``vistream.hub.is_pinned(path)``. ``source`` names the file in errors.
    """
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # older checkpoints pickle e.g. argparse.Namespace or amp state
        if not (trusted or hub.is_pinned(path)):
            raise _refusal(Path(path), source, error) from None
        return torch.load(path, map_location="cpu", weights_only=False)


def _extract_state_dict(obj) -> dict:
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    elif isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise ValueError("checkpoint must be a state_dict or a dict with a 'model' key")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_state_dict(ckpt_file, auto_model: str, trust_checkpoint: bool = False) -> Tuple[Dict[str, torch.Tensor], str]:
    """(state_dict, source name for messages) of ``ckpt_file`` (see ``checkpoint_path``)."""
    path = checkpoint_path(ckpt_file, auto_model)
    source = str(path) if str(ckpt_file) == "auto" else str(ckpt_file)
    obj = load_checkpoint_object(path, source, trust_checkpoint)
    return _extract_state_dict(obj), source
