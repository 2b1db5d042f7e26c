"""Loading YOLOX / ByteTrack checkpoints safely: plain weights always, full pickles only when trusted."""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path

import torch

from ...errors import VistreamError

__all__ = ["UntrustedCheckpointError", "load_checkpoint_object"]


class UntrustedCheckpointError(VistreamError, pickle.UnpicklingError):
    """A checkpoint pickles more than tensors and does not come from a trusted source.

    Loading such a file runs arbitrary code from it, so it needs ``trust_checkpoint=True`` (or to come
    from the weights hub's manifest). Also an ``UnpicklingError``, like torch's own refusal.
    """


def _matches_manifest_sha256(path: Path) -> bool:
    """True when the file's sha256 is one the weights hub's manifest records (an official checkpoint)."""
    from ... import hub

    try:
        entries = hub.manifest()
    except (OSError, ValueError):
        return False
    digests = {entry.get("sha256") for entry in entries.values()} - {None}
    if not digests:
        return False
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() in digests


def load_checkpoint_object(path: Path, source: str, trusted: bool = False):
    """``torch.load`` with ``weights_only=True``; full unpickling only for trusted files.

    Full unpickling can execute code embedded in the file, so it is allowed only when ``trusted``
    (the caller vouches for it, or it came from the weights hub's manifest) or when the file's sha256
    is one the manifest records. ``source`` names the file in the error message.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # older checkpoints pickle e.g. argparse.Namespace or amp state
        if not (trusted or _matches_manifest_sha256(path)):
            found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(error))
            why = f" ({found.group(1).split('. Please')[0].strip()})" if found else ""
            raise UntrustedCheckpointError(
                f"{source}: torch.load(weights_only=True) refused this checkpoint{why}: it is not a plain weights "
                "file, and unpickling it fully could run code from the file. It does not come from the weights hub's "
                "manifest, so it is not loaded. If you trust where it came from, pass trust_checkpoint=True (then "
                "torch.save(detector.model.state_dict(), new_path) gives a file that loads safely)") from error
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
