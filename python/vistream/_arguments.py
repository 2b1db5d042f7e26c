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
