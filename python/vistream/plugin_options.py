"""Parsing of the ``--bytetrack`` / ``--botsort "key=value;key=value"`` plugin option strings of the CLI.

Every key has a type (``OPTION_TYPES``): values are converted and checked here, before anything is
loaded, so ``conf=abc``, ``conf=1.5``, ``fp16=Ture`` or ``model=yolox_q`` are one clear error
instead of a traceback (or a silently wrong run: ``bool("no")`` is True).
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Callable, Dict, NamedTuple, Sequence

BYTETRACK_KEYS = ("ckpt_file", "model", "fp16", "bf16", "trt_file", "onnx_file", "device", "conf", "nms",
                  "track_thresh", "match_thresh", "track_buffer", "classes", "trust_checkpoint")
# BoT-SORT: ByteTrack's keys plus camera-motion compensation and its own thresholds
BOTSORT_KEYS = BYTETRACK_KEYS + ("gmc", "new_track_thresh", "proximity_thresh", "appearance_thresh")

# The YOLOX variants vistream.detect.YOLOX builds (its network.MODEL_SPECS, which needs torch to
# import; tests/test_cli_options.py checks that the two lists agree).
KNOWN_MODELS = ("yolox_nano", "yolox_tiny", "yolox_s", "yolox_m", "yolox_l", "yolox_x",
                "yolox_m_mix_det", "yolox_l_mix_det", "yolox_x_mix_det")
# The camera-motion methods of vistream.track.CameraMotion (importing it pulls in OpenCV).
GMC_METHODS = ("sparse_flow", "ecc", "none")

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_DEVICE = re.compile(r"^(cpu|mps|(cuda|xpu)(:\d+)?)$")


class OptionType(NamedTuple):
    """How one key's text becomes a value: ``parse(text)`` returns it or raises ValueError."""

    parse: Callable[[str], object]
    description: str


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true/false (or 1/0, yes/no), got {text!r}")


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise ValueError(f"must be >= 1, got {text}")
    return value


def _model(text: str) -> str:
    name = text.lower().replace("-", "_")
    if name not in KNOWN_MODELS:
        raise ValueError(f"unknown model {text!r}{_did_you_mean(name, KNOWN_MODELS)}; "
                         f"valid: {', '.join(KNOWN_MODELS)}")
    return name


def _checkpoint(text: str) -> str:
    if text == "auto" or text.startswith(("http://", "https://")):
        return text
    if not os.path.isfile(text):
        raise ValueError(f"{text!r} is not a file (give a .pth path, 'auto' for the official weights, "
                         "or an http(s) URL)")
    return text


def _onnx_file(text: str) -> str:
    # a missing file is fine (it is exported there from ckpt_file), a missing folder is not
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise ValueError(f"folder {folder!r} does not exist")
    return text


def _path(text: str) -> str:
    return text


def _device(text: str) -> str:
    if not _DEVICE.match(text.lower()):
        raise ValueError(f"expected cpu, cuda, cuda:N, mps or xpu, got {text!r}")
    return text.lower()


def _classes(text: str) -> list:
    parts = text.replace("+", " ").split()
    if not parts or not all(part.isdigit() for part in parts):
        raise ValueError(f"expected class ids separated by '+' (e.g. 0+2), got {text!r}")
    return [int(part) for part in parts]


def _gmc(text: str) -> str:
    if text not in GMC_METHODS:
        raise ValueError(f"unknown camera-motion method {text!r}; valid: {', '.join(GMC_METHODS)}")
    return text


OPTION_TYPES: Dict[str, OptionType] = {
    "ckpt_file": OptionType(_checkpoint, "a .pth file, 'auto' or an http(s) URL"),
    "model": OptionType(_model, "one of " + ", ".join(KNOWN_MODELS)),
    "fp16": OptionType(_boolean, "true/false: half precision (CUDA)"),
    "bf16": OptionType(_boolean, "true/false: bfloat16 (CPUs with AMX / AVX512-BF16)"),
    "trust_checkpoint": OptionType(_boolean, "true/false: allow a checkpoint that runs code when loaded"),
    "trt_file": OptionType(_path, "a TensorRT engine file"),
    "onnx_file": OptionType(_onnx_file, "an ONNX file (exported from ckpt_file when missing)"),
    "device": OptionType(_device, "cpu, cuda, cuda:N"),
    "conf": OptionType(_unit_interval, "detection score threshold, 0..1"),
    "nms": OptionType(_unit_interval, "NMS IoU threshold, 0..1"),
    "track_thresh": OptionType(_unit_interval, "0..1"),
    "match_thresh": OptionType(_unit_interval, "0..1"),
    "new_track_thresh": OptionType(_unit_interval, "0..1"),
    "proximity_thresh": OptionType(_unit_interval, "0..1"),
    "appearance_thresh": OptionType(_unit_interval, "0..1"),
    "track_buffer": OptionType(_positive_int, "frames a lost track is kept, >= 1"),
    "classes": OptionType(_classes, "class ids, e.g. 0+2"),
    "gmc": OptionType(_gmc, ", ".join(GMC_METHODS)),
}


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_options(text: str, valid: Sequence[str] = BYTETRACK_KEYS, option: str = "--bytetrack") -> Dict[str, object]:
    """``"ckpt_file=auto;fp16=True"`` → ``{"ckpt_file": "auto", "fp16": True}``.

    Keys are separated by ';' or ','; each value is converted and checked by its key's type
    (``OPTION_TYPES``): booleans accept true/false, 1/0, yes/no, on/off; thresholds are numbers
    in [0, 1]; ``classes`` takes ids separated by '+' or spaces (``classes=0+2``). Any mistake
    (unknown key, with a did-you-mean and the valid keys; bad value; a key given twice) raises
    ValueError with a one-line message starting with ``option``.
    """
    options: Dict[str, object] = {}
    for item in text.replace(",", ";").split(";"):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"{option}: expected key=value, got {item!r}")
        key, value = (part.strip() for part in item.split("=", 1))
        if key not in valid:
            raise ValueError(f"{option}: unknown key {key!r}{_did_you_mean(key, valid)}; "
                             f"valid keys: {', '.join(valid)}")
        if key in options:
            raise ValueError(f"{option}: {key} is given twice")
        try:
            options[key] = OPTION_TYPES[key].parse(value)
        except ValueError as error:
            raise ValueError(f"{option}: {key}={value}: {error}") from None
    if options.get("fp16") and options.get("bf16"):
        raise ValueError(f"{option}: fp16 and bf16 are alternatives: give one")
    return options
