"""Validation of user arguments, done in Python before any native work."""

from __future__ import annotations

import math
import numbers
import os
from typing import Optional

OUTPUT_FORMATS = ("bgr24", "rgb24", "gray", "rgba", "bgra", "yuv420p", "nv12")
# FFmpeg calls 8-bit gray "gray"; accept the common alias too.
_FORMAT_ALIASES = {"bgr": "bgr24", "rgb": "rgb24", "grey": "gray", "gray8": "gray"}


def source_string(source: "str | os.PathLike[str]") -> str:
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise TypeError(f"source must be a path or URL string, not {type(source).__name__}")
    if not source:
        raise ValueError("source must not be empty")
    return source


def pixel_format(fmt: str) -> str:
    if not isinstance(fmt, str):
        raise TypeError(f"format must be a string, not {type(fmt).__name__}")
    fmt = _FORMAT_ALIASES.get(fmt.lower(), fmt.lower())
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unsupported format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
    return fmt


def filter_string(value: Optional[str], name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be an FFmpeg filter graph string or None")
    return value.strip()


def hwaccel(value: Optional[str]) -> str:
    if value is None or value is False:
        return "none"
    if not isinstance(value, str):
        raise TypeError("hwaccel must be a string such as 'none', 'auto', 'cuda', 'vaapi'")
    return value.lower()


def non_negative_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int")
    if value < 0:
        raise ValueError(f"{name} must be >= 0")
    return value


def seek_target(time: "float | None", index: "int | None") -> "tuple[str, float | int]":
    """Checks the arguments of ``seek(time=, index=)`` (Reader and Player alike).

    Returns ``("index", n)`` with ``n >= 0`` or ``("time", seconds)`` with seconds clamped to
    ``>= 0``. Raises ValueError unless exactly one is given, TypeError for a non-integer index
    (bools included) or a non-number time, ValueError for a negative index or a NaN or infinite
    time.
    """
    if (time is None) == (index is None):
        raise ValueError("seek() needs exactly one of time= or index=")
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"index must be an int, not {type(index).__name__}")
        if index < 0:
            raise ValueError(f"index must be >= 0, got {index}")
        return "index", int(index)
    if isinstance(time, bool) or not isinstance(time, numbers.Real):
        raise TypeError(f"time must be a number of seconds, not {type(time).__name__}")
    seconds = float(time)
    if math.isnan(seconds):
        raise ValueError("time must be a number of seconds, not NaN")
    if math.isinf(seconds):
        raise ValueError(f"time must be a finite number of seconds, got {seconds}")
    return "time", max(0.0, seconds)
