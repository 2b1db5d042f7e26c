"""YOLOX variants and how to recognise one from a checkpoint's tensor shapes (no torch needed).

A state_dict fixes the architecture: the stem's output channels give the width (``int(64 * width)``),
the number of residual units in the first CSP stage gives the depth (``max(round(3 * depth), 1)``),
depthwise ``dconv`` layers mark yolox_nano, and the classification conv gives the class count. So a
checkpoint passed without ``model=`` picks its variant, and one that does not fit the requested
``model=`` is refused with both architectures named instead of torch's per-tensor size mismatch.
"""

from __future__ import annotations

import re
from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

from ...errors import CheckpointMismatchError

__all__ = ["MODEL_SPECS", "DEFAULT_MODEL", "Architecture", "canonical_name", "resolve_num_classes",
           "architecture_of", "checkpoint_architecture", "choose_variant", "describe"]

# name -> (depth, width, depthwise, act, input size (h, w), default num_classes)
MODEL_SPECS: Dict[str, Tuple[float, float, bool, str, Tuple[int, int], int]] = {
    "yolox_nano": (0.33, 0.25, True, "silu", (416, 416), 80),
    "yolox_tiny": (0.33, 0.375, False, "silu", (416, 416), 80),
    "yolox_s": (0.33, 0.50, False, "silu", (640, 640), 80),
    "yolox_m": (0.67, 0.75, False, "silu", (640, 640), 80),
    "yolox_l": (1.0, 1.0, False, "silu", (640, 640), 80),
    "yolox_x": (1.33, 1.25, False, "silu", (640, 640), 80),
    # ByteTrack MOT17/MOT20 "mix_det" person detectors
    "yolox_m_mix_det": (0.67, 0.75, False, "silu", (800, 1440), 1),
    "yolox_l_mix_det": (1.0, 1.0, False, "silu", (800, 1440), 1),
    "yolox_x_mix_det": (1.33, 1.25, False, "silu", (800, 1440), 1),
}

# What ckpt_file="auto" loads when no model is named: ByteTrack's MOT17 pedestrian detector, the
# model the --bytetrack / --botsort headline is about (as in avio).
DEFAULT_MODEL = "yolox_m_mix_det"

_STEM_KEY = "backbone.backbone.stem.conv.conv.weight"
_DEPTHWISE_KEY = "backbone.backbone.dark2.0.dconv.conv.weight"
_CLASS_KEY = "head.cls_preds.0.weight"
_UNIT_KEY = re.compile(r"^backbone\.backbone\.dark2\.1\.m\.(\d+)\.")


class Architecture(NamedTuple):
    """What the tensors of a YOLOX network fix: stem channels, CSP repeats, depthwise, classes."""

    stem_channels: int
    csp_repeats: int
    depthwise: bool
    num_classes: int


def canonical_name(name: str) -> str:
    key = str(name).lower().replace("-", "_")
    if key not in MODEL_SPECS:
        raise ValueError(f"unknown YOLOX model {name!r}; choose one of {sorted(MODEL_SPECS)}")
    return key


def resolve_num_classes(key: str, num_classes: Optional[int] = None) -> int:
    """The head's class count: ``num_classes``, else the variant's default.

    The MOT ``*_mix_det`` variants are single-class (person); 80 (the old default) maps to 1 there.
    """
    default = MODEL_SPECS[key][5]
    if default == 1 and num_classes in (80, 1, None):
        return 1
    if num_classes is None:
        return default
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return int(num_classes)


def architecture_of(name: str, num_classes: int) -> Architecture:
    depth, width, depthwise = MODEL_SPECS[name][:3]
    return Architecture(int(64 * width), max(round(depth * 3), 1), depthwise, int(num_classes))


def checkpoint_architecture(shapes: Mapping[str, Sequence[int]]) -> Optional[Architecture]:
    """The architecture a state_dict's tensor shapes (name -> shape) describe; None if not a YOLOX one."""
    if _STEM_KEY not in shapes or _CLASS_KEY not in shapes:
        return None
    units = {int(m.group(1)) for m in map(_UNIT_KEY.match, shapes) if m}
    return Architecture(int(shapes[_STEM_KEY][0]), len(units), _DEPTHWISE_KEY in shapes,
                        int(shapes[_CLASS_KEY][0]))


def _variants_with(found: Architecture) -> list:
    return [name for name in MODEL_SPECS if architecture_of(name, 1)[:3] == found[:3]]


def describe(name: Optional[str], arch: Architecture) -> str:
    """``yolox_s (depth 0.33, width 0.50, 80 classes)``; the name is omitted when no variant fits."""
    if name is not None:
        depth, width = MODEL_SPECS[name][:2]
        shape = f"depth {depth:.2f}, width {width:.2f}"
    else:
        shape = f"{arch.csp_repeats} CSP repeats, stem width {arch.stem_channels}"
    if arch.depthwise:
        shape += ", depthwise"
    classes = f"{arch.num_classes} class" + ("es" if arch.num_classes != 1 else "")
    return f"{name or 'an unknown YOLOX variant'} ({shape}, {classes})"


def choose_variant(model: Optional[str], num_classes: Optional[int], found: Optional[Architecture],
                   source: str) -> Tuple[str, int]:
    """(model name, class count) for a checkpoint with architecture ``found``.

    Without ``model`` the checkpoint decides: a 1-class m/l/x network is ByteTrack's ``*_mix_det``
    (its own preprocessing and 800x1440 input), anything else the plain YOLOX variant. With ``model``
    the depth/width must match; the class count always comes from the file. Raises
    ``CheckpointMismatchError`` (one line naming both architectures) when they disagree.
    """
    if found is None:
        raise CheckpointMismatchError(
            f"{source}: not a YOLOX checkpoint (no {_STEM_KEY!r} / {_CLASS_KEY!r} tensors)")
    candidates = _variants_with(found)
    found_name = None
    if candidates:
        mot = [n for n in candidates if n.endswith("_mix_det")]
        plain = [n for n in candidates if not n.endswith("_mix_det")]
        found_name = mot[0] if (found.num_classes == 1 and mot) else plain[0]
    if num_classes is not None and int(num_classes) != found.num_classes:
        raise CheckpointMismatchError(
            f"{source}: checkpoint is {describe(found_name, found)} but num_classes={num_classes}; "
            "omit num_classes to take it from the checkpoint")
    if model is None:
        if found_name is None:
            raise CheckpointMismatchError(
                f"{source}: checkpoint is {describe(None, found)}, which matches no known variant "
                f"({', '.join(MODEL_SPECS)})")
        return found_name, found.num_classes
    name = canonical_name(model)
    wanted = architecture_of(name, resolve_num_classes(name, None))
    fits = wanted[:3] == found[:3] and (not name.endswith("_mix_det") or found.num_classes == 1)
    if not fits:
        raise CheckpointMismatchError(
            f"{source}: checkpoint is {describe(found_name, found)} but model={model!r} is "
            f"{describe(name, wanted)}; omit model= to use the checkpoint's own architecture, "
            f"or pass a {name} checkpoint")
    return name, found.num_classes
