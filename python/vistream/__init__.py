"""vistream: play, analyse and re-encode video with a native FFmpeg engine.

Example::

    import vistream as vs

    with vs.Reader("clip.mp4") as reader:
        for frame in reader:
            frame.array        # HxWx3 BGR uint8, zero-copy

    player = vs.Player("clip.mp4", output="annotated.mp4")
    player.on_frame(lambda frame: frame.array.__setitem__((slice(0, 40),), 255))
    player.run()
"""

from . import _core  # noqa: F401  (the native module must import: a failure here is fatal)
from ._logging import set_log_level
from .errors import (
    CheckpointMismatchError,
    DecodeError,
    EncoderError,
    FilterError,
    FrameIndexError,
    HardwareError,
    MissingDependencyError,
    SourceError,
    SourceCertificateError,
    SourceNotAllowedError,
    SourceNotFoundError,
    SourceTimeoutError,
    UnusedInputOptionWarning,
    UntrustedCheckpointError,
    VistreamError,
)
from .detections import Detections
from .pipeline import Pipeline
from .results import ResultsWriter
from .schedule import Schedule
from .media_info import MediaInfo
from .player import Player, Position
from .reader import Frame, Reader
from .stats import CacheStats, PlayerStats, ReaderStats
from .connection import ConnectionEvent

__version__ = "0.1.0"

__all__ = [
    "Reader",
    "Player",
    "Position",
    "PlayerStats",
    "CacheStats",
    "ReaderStats",
    "ConnectionEvent",
    "Frame",
    "MediaInfo",
    "Detections",
    "Pipeline",
    "ResultsWriter",
    "Schedule",
    "set_log_level",
    "VistreamError",
    "MissingDependencyError",
    "SourceError",
    "SourceNotFoundError",
    "SourceTimeoutError",
    "SourceNotAllowedError",
    "SourceCertificateError",
    "UnusedInputOptionWarning",
    "DecodeError",
    "EncoderError",
    "FilterError",
    "FrameIndexError",
    "HardwareError",
    "CheckpointMismatchError",
    "UntrustedCheckpointError",
]
