"""Exception types raised by vistream.

Every failure of the native engine reaches Python as one of these (bad arguments raise the
built-in ``ValueError``/``TypeError`` before any native work starts)::

    try:
        vistream.Reader("missing.mp4")
    except vistream.SourceNotFoundError:   # also a FileNotFoundError
        ...
"""

import pickle


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


class FrameIndexError(VistreamError, IndexError):
    """A frame index or time lies outside the video (``Reader.frames_at``, ``frames_played_at``,
    ``reader[i]``). Also an ``IndexError``, as for any sequence."""


class FrameSizeMismatchError(VistreamError, ValueError):
    """``stack=True`` asked for frames of different sizes as one array: the stream changes size
    mid-stream (or its bitstream disagrees with its container's header). Each frame keeps the size
    the decoder gave it; ``stack=False`` returns them as they are."""


class SourceNotAllowedError(SourceError, PermissionError):
    """The source, or something it refers to (a playlist's segment, a redirect), uses a protocol
    outside ``protocol_whitelist``. Network sources may only open network protocols by default,
    so a playlist fetched from the network can never read ``file:`` or ``pipe:``; widen it with
    ``input_options={"protocol_whitelist": "..."}``."""


class SourceCertificateError(SourceError):
    """A TLS source (https, rtmps) presented a certificate that does not verify against the
    system's certificate authorities (or ``input_options={"ca_file": ...}``), or names another
    host. ``input_options={"tls_verify": "0"}`` skips the check."""


class UnusedInputOptionWarning(UserWarning):
    """Some ``input_options`` were used by nothing when the source was opened (a misspelt name,
    or an option of another protocol or demuxer); the message lists them."""


class DecodeError(VistreamError):
    """No decoder for the stream, or the decoder cannot be opened."""


class EncoderError(VistreamError):
    """The requested encoder is missing or refuses to open (the message names it)."""


class FilterError(VistreamError, ValueError):
    """An FFmpeg filter graph string is invalid (the message quotes it and FFmpeg's reason)."""


class HardwareError(VistreamError):
    """An explicitly requested hardware accelerator is not available."""


class DeviceMismatchError(VistreamError, TypeError):
    """Pixels on one device were handed to something working on another: a CUDA tensor to a
    ``Writer(device="cpu")``, a host array to a ``Writer(device="cuda")``. The message names the fix.

    Also a ``TypeError`` (the object is of the wrong kind for that call).
    """


class MissingDependencyError(VistreamError, ImportError):
    """An optional package a feature needs is not installed (the message says what to install).

    Also an ``ImportError``, so ``except ImportError`` around optional features keeps working.
    """


class UntrustedCheckpointError(VistreamError, pickle.UnpicklingError):
    """A checkpoint pickles more than tensors and nothing vouches for it.

    Loading such a file fully runs arbitrary code from it, so it needs a pinned sha256 (the weights
    manifest's, or the one the hub recorded when it downloaded the file) or ``trust_checkpoint=True``.
    Also an ``UnpicklingError``, like torch's own refusal.
    """


class CheckpointMismatchError(VistreamError, ValueError):
    """A checkpoint's tensors describe another network than the one asked for (the message names both)."""


class NoEmbeddedResultsError(VistreamError, LookupError):
    """``read_results()`` was given a video that carries no embedded results (neither the
    ``vistream-results.jsonl`` attachment of an mkv nor the ``vistream-results`` text track of an
    mp4/mov): it was written without ``--embed-results`` / ``Pipeline(embed_results=True)``, or
    remuxed without ``-map 0``, which drops attachments and extra subtitle tracks."""


__all__ = [
    "VistreamError",
    "DeviceMismatchError",
    "SourceError",
    "SourceNotFoundError",
    "SourceTimeoutError",
    "FrameIndexError",
    "FrameSizeMismatchError",
    "SourceNotAllowedError",
    "SourceCertificateError",
    "UnusedInputOptionWarning",
    "DecodeError",
    "EncoderError",
    "FilterError",
    "HardwareError",
    "MissingDependencyError",
    "UntrustedCheckpointError",
    "CheckpointMismatchError",
    "NoEmbeddedResultsError",
]


class CancelledError(VistreamError):
    """A blocking call ended by a ``CancelToken`` (``Reader(..., cancel=token)``; ``token.cancel()``
    from another thread)."""


class UnknownTunableError(VistreamError, KeyError):
    """``Pipeline.set_tunable()`` was given a plugin or parameter name the pipeline does not have
    (the message lists the ones it has; ``Pipeline.tunables()`` lists them all). Also a ``KeyError``."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


__all__ += ["CancelledError", "UnknownTunableError"]
