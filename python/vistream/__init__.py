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
    CancelledError,
    CheckpointMismatchError,
    DecodeError,
    DeviceMismatchError,
    EncoderError,
    FilterError,
    FrameIndexError,
    FrameSizeMismatchError,
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
from .classifications import Classifications
from .masks import InstanceMasks
from .protocols import Annotator, Classifier, Detector, PoseEstimator, Segmenter, Tracker
from .pipeline import Pipeline
from .results import ResultsWriter
from .embedded_results import EmbeddedResults, NoEmbeddedResultsError, embed_results, read_results
from .schedule import Schedule
from .media_info import MediaInfo
from .player import Player, Position
from .reader import CancelToken, Frame, Reader
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
    "CancelToken",
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
    "Classifications",
    "InstanceMasks",
    "Detector",
    "Segmenter",
    "Classifier",
    "PoseEstimator",
    "Tracker",
    "Annotator",
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
    "FrameSizeMismatchError",
    "HardwareError",
    "CancelledError",
    "DeviceMismatchError",
    "CheckpointMismatchError",
    "UntrustedCheckpointError",
]

# DeepLabCut-live style pose estimation (docs/pose.md); torch is imported only when a model loads
from .pose import DLCPoseEstimator, Pose, PoseWriter, RegionTrigger  # noqa: E402

__all__ += ["DLCPoseEstimator", "Pose", "PoseWriter", "RegionTrigger"]

# Plugins on device (issue 11): the Pipeline's transfer counters, and the torch annotators flat here.
# torch is optional, so the annotators are imported on first use and stay out of __all__.
from .pipeline import PipelineTransfers  # noqa: E402

__all__ += ["PipelineTransfers"]
_TORCH_ANNOTATORS = ("TorchBoxAnnotator", "TorchPixelateAnnotator", "TorchLabelAnnotator", "TorchTraceAnnotator")

# Predictors for users' own models (vistream.predict): loaded on first use, so `import vistream`
# does not pull in OpenCV, ONNX Runtime, torch or ultralytics.
_PREDICT_EXPORTS = ("OnnxDetector", "OnnxSegmenter", "OnnxClassifier", "TorchDetector", "TorchSegmenter",
                    "TorchClassifier", "UltralyticsPredictor", "export_model")
__all__ += list(_PREDICT_EXPORTS)

# Zones and counting (docs/analytics.md): supervision's LineZone / PolygonZone call shape
from .analytics import LineZone, PolygonZone, ZoneAnalytics, ZoneEvent  # noqa: E402

__all__ += ["LineZone", "PolygonZone", "ZoneAnalytics", "ZoneEvent"]

# Result sinks and history (issue 14): vistream.sinks.WebhookSink, MqttSink, ...; Pipeline(sinks=, history=).
from . import sinks  # noqa: E402
from .sinks import ResultHistory, SinkStats  # noqa: E402

__all__ += ["ResultHistory", "SinkStats"]


def __getattr__(name: str):
    if name in _TORCH_ANNOTATORS:
        from . import annotate

        return getattr(annotate, name)
    if name in _PREDICT_EXPORTS:
        from . import predict

        return getattr(predict, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# Many files at scale (issue 15, docs/batch.md): a pipeline described by a YAML config, and the
# batch runner (process pool or Ray) that runs it over many sources, resumably.
from .pipeline_config import PipelineConfig, PipelineConfigError  # noqa: E402
from . import batch  # noqa: E402
from .batch import BatchResult  # noqa: E402

__all__ += ["PipelineConfig", "PipelineConfigError", "BatchResult", "batch"]

# Many sources in one process (issue 15): MultiPlayer and its batch helpers.
from .multi import MultiFrame, MultiPlayer, MultiStats, PerSourceDetector, SourceStats  # noqa: E402

__all__ += ["MultiPlayer", "MultiFrame", "MultiStats", "SourceStats", "PerSourceDetector"]

# The web view's pipeline side (issue 16, docs/api.md "Live parameters and dashboard data"):
# live-tunable plugin parameters, per-stage timings and the dashboard snapshot.
from .tunables import Tunable, TunableValue  # noqa: E402
from .errors import UnknownTunableError  # noqa: E402
from .stats import StageTiming, StageTimings  # noqa: E402
from .dashboard import DashboardSnapshot  # noqa: E402

__all__ += ["Tunable", "TunableValue", "UnknownTunableError", "StageTiming", "StageTimings", "DashboardSnapshot"]
