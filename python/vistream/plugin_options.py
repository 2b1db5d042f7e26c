"""Parsing of the ``--bytetrack`` / ``--botsort "key=value;key=value"`` plugin option strings of the CLI."""

from __future__ import annotations

from typing import Dict

BYTETRACK_KEYS = ("ckpt_file", "model", "fp16", "trt_file", "onnx_file", "device", "conf", "nms",
                  "track_thresh", "match_thresh", "track_buffer", "classes")
# BoT-SORT: ByteTrack's keys plus camera-motion compensation and its own thresholds
BOTSORT_KEYS = BYTETRACK_KEYS + ("gmc", "new_track_thresh", "proximity_thresh", "appearance_thresh")


def parse_options(text: str, valid=BYTETRACK_KEYS, option: str = "--bytetrack") -> Dict[str, object]:
    """``"ckpt_file=auto;fp16=True"`` → ``{"ckpt_file": "auto", "fp16": True}``.

    Keys are separated by ';' or ','; values become bool/int/float when they look like one;
    ``classes`` takes ids separated by '+' or spaces (``classes=0+2``). Unknown keys raise
    ValueError listing the valid ones.
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
            raise ValueError(f"{option}: unknown key {key!r}; valid keys: {', '.join(valid)}")
        options[key] = _value(key, value)
    return options


def _value(key: str, value: str):
    if key == "classes":
        return [int(v) for v in value.replace("+", " ").split()]
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value
