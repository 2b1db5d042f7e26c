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

from ._native_import import import_core

_core = import_core()  # the native module must import: a failure names the missing library and its fix
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
from .embedded_results import EmbeddedResults, NoEmbeddedResultsError, embed_results, read_results
from .schedule import Schedule
from .media_info import MediaInfo
from .player import Player, Position
from .reader import Frame, Reader
from .stats import CacheStats, OutputStats, PlayerStats, ReaderStats, WriterStats
from .writer import Writer
from .connection import ConnectionEvent

__version__ = "0.1.0"


def capabilities() -> dict:
    """What this machine and build can do: FFmpeg, hardware devices and encoders that open,
    CUDA driver and devices, torch/onnxruntime/TensorRT, SDL drivers (see ``vistream doctor``)."""
    from .doctor import capabilities as probe

    return probe()


def transfer_stats() -> dict:
    """Host<->device copies this process made so far (bytes and counts, both directions):
    decoder downloads of hardware frames and ``frame.download()``. Zero on a pure device path."""
    return dict(_core.transfer_stats())

__all__ = [
    "Reader",
    "Player",
    "Writer",
    "WriterStats",
    "OutputStats",
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
    "read_results",
    "embed_results",
    "EmbeddedResults",
    "NoEmbeddedResultsError",
    "Schedule",
    "set_log_level",
    "capabilities",
    "transfer_stats",
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
