"""The argument checks that belong to Python: a path-like as a string, the shape of seek().

Options of Reader and Player are not checked here: the engine converts and checks them
(src/player_options.cpp), so each rule is written once."""

from __future__ import annotations

import math
import numbers
import os


def source_string(source: "str | os.PathLike[str]") -> str:
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise TypeError(f"source must be a path or URL string, not {type(source).__name__}")
    if not source:
        raise ValueError("source must not be empty")
    return source


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


def input_option(text: str) -> "tuple[str, str]":
    """``--input-option KEY=VALUE`` as ``(key, value)``; ValueError names what is wrong.

    The value may contain ``=`` (only the first one splits); the key must not be empty."""
    key, equals, value = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise ValueError(f"--input-option needs KEY=VALUE (an FFmpeg option name, '=', its value), got {text!r}")
    return key, value


def capture_size(text: str) -> "tuple[int, int]":
    """``--capture-size WxH`` (``1280x720``) as ``(width, height)``."""
    width, separator, height = text.lower().partition("x")
    if separator and width.strip().isdigit() and height.strip().isdigit():
        size = int(width), int(height)
        if size[0] > 0 and size[1] > 0:
            return size
    raise ValueError(f"--capture-size needs WIDTHxHEIGHT such as 1280x720, got {text!r}")


def capture_fps(text: str) -> "float | str":
    """``--capture-fps`` as a number, or an FFmpeg rate such as ``30000/1001`` (kept as text)."""
    numerator, slash, denominator = text.partition("/")
    try:
        if slash:
            if float(numerator) > 0 and float(denominator) > 0:
                return text.strip()
        elif float(text) > 0:
            return float(text)
    except ValueError:
        pass
    raise ValueError(f"--capture-fps needs a rate > 0 such as 30 or 30000/1001, got {text!r}")
