"""Exception types raised by vistream.

Every failure of the native engine reaches Python as one of these (bad arguments raise the
built-in ``ValueError``/``TypeError`` before any native work starts)::

    try:
        vistream.Reader("missing.mp4")
    except vistream.SourceNotFoundError:   # also a FileNotFoundError
        ...
"""


class VistreamError(Exception):
    """Base class of every vistream error."""


class SourceError(VistreamError, OSError):
    """The source cannot be opened, read or seeked (missing, not media, unreachable)."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """The source is a local path that does not exist."""


class SourceTimeoutError(SourceError, TimeoutError):
    """A network source stopped sending data: opening it (connect, header, probe) or reading it
    made no progress for the timeout (``timeout=`` of ``Reader``/``Player``). The message names
    the URL and what stalled."""


class DecodeError(VistreamError):
    """No decoder for the stream, or the decoder cannot be opened."""


class EncoderError(VistreamError):
    """The requested encoder is missing or refuses to open (the message names it)."""


class FilterError(VistreamError, ValueError):
    """An FFmpeg filter graph string is invalid (the message quotes it and FFmpeg's reason)."""


class HardwareError(VistreamError):
    """An explicitly requested hardware accelerator is not available."""


class MissingDependencyError(VistreamError, ImportError):
    """An optional package a feature needs is not installed (the message says what to install).

    Also an ``ImportError``, so ``except ImportError`` around optional features keeps working.
    """


__all__ = [
    "VistreamError",
    "SourceError",
    "SourceNotFoundError",
    "SourceTimeoutError",
    "DecodeError",
    "EncoderError",
    "FilterError",
    "HardwareError",
    "MissingDependencyError",
]
