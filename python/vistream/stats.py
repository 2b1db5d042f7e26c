"""What ``Player.run()``/``Player.stats`` and ``Reader.stats`` report: frozen, typed snapshots.

Fields are attributes (``stats.frames_encoded``); ``dataclasses.asdict(stats)`` gives a dict.
Subscripting (``stats["frames_encoded"]``), how these were read when they were dicts, still
works for now but emits a ``DeprecationWarning``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional, Tuple


class _Subscriptable:
    """``stats["name"]`` as a deprecated spelling of ``stats.name``."""

    __slots__ = ()

    def __getitem__(self, name: str) -> Any:
        if not isinstance(name, str) or name not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise KeyError(name)
        warnings.warn(f"{type(self).__name__} is a dataclass: use .{name} instead of [{name!r}]",
                      DeprecationWarning, stacklevel=2)
        return getattr(self, name)


@dataclass(frozen=True)
class CacheStats(_Subscriptable):
    """The Player's back-step cache (recently decoded frames kept for instant backward steps).

    It starts with a few frames and grows, up to ``cache_bytes``, when a seek or step lands
    behind the decoder and misses (see docs/api.md, "Back-step cache")."""

    #: seeks/steps served from the cache
    hits: int
    #: seeks/steps the cache could not serve (re-decoded from a keyframe)
    misses: int
    #: misses that landed behind the decoder: each grows the budget
    misses_behind: int
    #: times the budget grew
    grew: int
    #: frames held now
    frames: int
    #: bytes of pixels held now
    bytes: int
    #: frames the cache may hold now
    budget_frames: int
    #: the cap (``cache_bytes``); 0 = the cache is off
    max_bytes: int
    #: bytes of device frames held now (``device="cuda"``; not in ``bytes``)
    device_bytes: int = 0
    #: their cap (``cache_device_bytes``); 0 = device frames are not cached
    max_device_bytes: int = 0


@dataclass(frozen=True)
class PlayerStats(_Subscriptable):
    """A Player's counters at one moment (``Player.stats``), or at the end (``Player.run()``)."""

    #: frames the decoder produced (including frames dropped in real-time mode)
    frames_decoded: int
    #: frames handed to the callback
    frames_processed: int
    #: frames written to ``output``
    frames_encoded: int
    #: frames real-time mode skipped because the callback was still busy
    frames_dropped: int
    #: corrupt packets or frames skipped (read errors included)
    decode_errors: int
    #: failed reads of the source (a truncated end, damaged data, I/O errors)
    read_errors: int
    #: seeks performed (``seek()``, backward steps, the window's keys)
    seeks: int
    #: seconds since ``run()`` started (until it ended)
    elapsed: float
    #: ``frames_processed / elapsed``
    fps: float
    #: the FFmpeg encoder writing ``output`` (None without output)
    encoder: Optional[str]
    #: how the source audio reaches ``output``: "copy", "transcode", or None (no audio written)
    audio: Optional[str]
    #: decoding device in use ("none" for software)
    hwaccel: str
    #: SDL audio driver playing the sound, None when no sound is played
    audio_device: Optional[str]
    #: largest |video time - audio clock| seen when frames were shown, seconds
    av_drift_max: float
    #: frames at which the drift was measured
    av_drift_samples: int
    #: frames per second the window showed over the last second (0.0 without a window)
    display_fps: float
    #: the back-step cache's counters (``CacheStats``)
    cache: CacheStats
    #: the file written once ``run()`` ended: ``output``, the partial file of a failed run,
    #: or None (no output, nothing encoded, or still running)
    output: Optional[str] = None
    #: End-to-end latency of this run, seconds: the median over frames of a frame's capture
    #: time to the start of the callback it is handed to (percentiles within 2%). Sources read
    #: as they arrive (network streams, devices, pipes) only: None for local files, and before
    #: the first frame. ``latency_clock`` names the capture clock used.
    latency_p50: Optional[float] = None
    #: the 95th percentile of the same latency, seconds
    latency_p95: Optional[float] = None
    #: the largest latency seen, seconds (exact)
    latency_max: Optional[float] = None
    #: frames the latency was measured on
    latency_samples: int = 0
    #: the capture clock, the best the source offers: ``"sender_wallclock"`` (the stream's
    #: own wallclock: RTSP/RTP's RTCP sender reports; network and sender buffering are
    #: included, and a sender's mapping error too: FFmpeg's RTP muxer stamps the send time of
    #: its first packet, so latencies can even come out negative), ``"wallclock_timestamps"``
    #: (pts stamped with our wallclock on arrival: input option
    #: ``use_wallclock_as_timestamps=1``), or ``"packet_arrival"`` (when the demuxer handed
    #: over the frame's packet: everything after the socket). When a better clock appears
    #: mid-run (the first RTCP report), the samples of the worse one are discarded. None
    #: without samples.
    latency_clock: Optional[str] = None
    #: frames not encoded because their timestamp did not grow (a live source joined
    #: mid-GOP can repeat timestamps); outputs always get strictly increasing timestamps
    frames_dropped_timestamps: int = 0
    #: frames without a timestamp that were given one (the previous + one frame)
    timestamps_filled: int = 0
    #: each output's state (``OutputStats``), in the order given
    outputs: Tuple["OutputStats", ...] = ()
    #: live source connections restored after a loss (``reconnect=``)
    reconnects: int = 0
    #: seconds the source was down, summed over the restored outages
    downtime: float = 0.0
    #: frames the source would have sent while it was down (downtime x frame rate, an estimate)
    frames_lost: int = 0
    #: live sources in real time: frames skipped undecoded (up to a keyframe) because decoding
    #: had fallen more than 1 s behind the stream (a CPU-starved machine); latency stays bounded.
    #: Not counted in ``frames_decoded`` or ``frames_dropped``.
    frames_late: int = 0
    #: where the frames lived: "cpu" or "cuda:N" (``device=``; "auto" says here what it got)
    device: str = "cpu"
    #: how frames reached the encoder: the encoder's name for host frames ("libx264"),
    #: "nvenc-device" (NVENC from device memory, no host copy), "download+libx264" (one
    #: download per frame to pinned host memory); None without output
    encode_path: Optional[str] = None
    #: bytes of device frames copied to host memory by this run (the window's one download per
    #: frame shown, the encoder's download path); 0 on the zero-copy path
    device_to_host_bytes: int = 0
    #: how many such copies
    device_to_host_copies: int = 0


@dataclass(frozen=True)
class ReaderStats(_Subscriptable):
    """A Reader's counters so far (``Reader.stats``)."""

    #: packets read from the source (all streams)
    packets_read: int
    #: frames the decoder produced (non-reference frames skipped on the way to a seek target
    #: are not decoded, so not counted)
    frames_decoded: int
    #: frames sent through the filter graph (pixel conversion); frames before a seek target
    #: are not
    frames_converted: int
    #: frames handed out (iteration, ``frame_at``, batches)
    frames_output: int
    #: corrupt packets or frames skipped (read errors included)
    decode_errors: int
    #: failed reads of the source (a truncated end, damaged data, I/O errors)
    read_errors: int
    #: demuxer repositionings; a target reached by decoding forward, or served from the
    #: back-step cache, is none
    seeks: int
    #: bytes and copies of decoded hardware frames downloaded to host memory (``hwaccel``
    #: without ``device=``); 0 with ``device="cuda"`` (frames stay on the GPU) or software
    #: decoding. Per frame: divide by ``frames_decoded``. Process-wide counts, including
    #: ``frame.download()``: ``vistream.transfer_stats()``.
    device_to_host_bytes: int = 0
    device_to_host_copies: int = 0
    #: live source connections restored after a loss (``reconnect=``)
    reconnects: int = 0
    #: seconds the source was down, summed over the restored outages
    downtime: float = 0.0
    #: frames the source would have sent while it was down (downtime x frame rate, an estimate)
    frames_lost: int = 0
    #: batch runs (a seek to a keyframe, then decoding forward to the run's last target) decoded
    #: in parallel on decode lanes rather than on the Reader's own decoder (see ``frames_at``);
    #: the lanes' frames, packets and seeks are included in the counters above
    runs_on_lanes: int = 0
    #: decode lanes open now (extra single-threaded decoders of the file, opened by the first
    #: batch that uses them and kept until ``close()``)
    decode_lanes: int = 0


@dataclass(frozen=True)
class OutputStats(_Subscriptable):
    """One output of a Player or Writer (a file, a segmented recording, a stream pushed to a server)."""

    #: the path or URL written
    url: str
    #: the FFmpeg muxer writing it (mp4, flv, mpegts, rtsp, hls, segment...)
    format: str
    #: pushed to a server: failures are retried with backoff instead of ending the run
    network: bool
    #: header written and no failure since (False once closed)
    connected: bool
    #: packets written to it
    packets_written: int
    #: packets it missed: down, reconnecting, or waiting for the next keyframe after (re)connecting
    packets_dropped: int
    #: failed connects/writes (network outputs)
    failures: int
    #: successful reconnections after a failure
    reconnects: int
    #: the last failure's message, None if none
    last_error: Optional[str]
    #: "connecting" (first attempt), "connected" (files: open), "reconnecting" (a stream that is
    #: down and retried with backoff; its packets are dropped and counted), "closed"
    state: Optional[str] = None


@dataclass(frozen=True)
class WriterStats(_Subscriptable):
    """A ``Writer``'s counters (``Writer.stats``)."""

    #: frames encoded
    frames_written: int
    #: frames not encoded because their time did not grow
    frames_dropped: int
    #: frames given a time (one frame after the previous) because none was passed
    timestamps_filled: int
    #: the FFmpeg encoder in use (None before the first frame)
    encoder: Optional[str]
    #: (width, height) of the frames written (None before the first frame)
    size: Optional[Tuple[int, int]]
    #: each output's state
    outputs: Tuple[OutputStats, ...]
    #: where the output is once closed (the final name, or the partial file of a failed run)
    output: Optional[str] = None
    #: how ``audio=`` reaches the outputs: "copy", "transcode", or None (no audio)
    audio: Optional[str] = None
    #: how frames reach the encoder: its name for host frames, "nvenc-device" (CUDA tensors
    #: encoded from device memory), "download+libx264" (one download per frame)
    encode_path: Optional[str] = None
    #: bytes copied from the GPU to host memory by the download path
    device_to_host_bytes: int = 0
    #: how many such copies (one per frame on that path)
    device_to_host_copies: int = 0


@dataclass(frozen=True)
class DecoupledStats(_Subscriptable):
    """How far behind the frames the results of ``Pipeline(decoupled=True)`` were
    (``pipeline.decoupled_stats``). The detector runs on a worker on the newest frame; each frame
    shows the latest result, moved forward to it by the tracker's motion model."""

    #: frames the callback handled decoupled
    frames: int
    #: of those, frames that showed a result (all but those before the first result of a timeline)
    frames_with_result: int
    #: frames handed to the worker (the detector's cadence allowing)
    frames_offered: int
    #: offered frames replaced by a newer one before the worker took them (never detected)
    frames_replaced: int
    #: results the detector produced
    detector_runs: int
    #: results dropped because a seek/step/loop started a new timeline while they were computed
    results_discarded: int
    #: frames between the frame shown and the frame its result was computed on: mean and max
    frames_behind_mean: Optional[float]
    frames_behind_max: Optional[int]
    #: wall milliseconds from the callback getting the frame a shown result was computed on to
    #: the frame showing it (p50/p95 over the last 4096 frames, exact max)
    latency_ms_p50: Optional[float]
    latency_ms_p95: Optional[float]
    latency_ms_max: Optional[float]
    #: the detector's own time per run, milliseconds
    detector_ms_mean: Optional[float]
    detector_ms_max: Optional[float]


@dataclass(frozen=True)
class SinkStats(_Subscriptable):
    """One results sink's counters (``sink.stats``, ``Pipeline.sink_stats``); see docs/sinks.md.

    At the end of a run (after ``close()``) ``records == sent + dropped``: every record was
    delivered or counted as lost."""

    #: the sink's name (``sink.name``: its kind and target)
    sink: str
    #: records handed to the sink (one per frame)
    records: int = 0
    #: records delivered (written, called, acknowledged by the server)
    sent: int = 0
    #: failed attempts (an exception, an HTTP error, a lost or refused connection)
    failed: int = 0
    #: records sent again after a failed attempt
    retried: int = 0
    #: records given up on (queue full, retries exhausted, close deadline, a write that raised)
    dropped: int = 0
    #: records queued or in flight now
    pending: int = 0
    #: the last failure's message (None if none)
    last_error: Optional[str] = None


__all__ = ["CacheStats", "OutputStats", "PlayerStats", "ReaderStats", "SinkStats", "DecoupledStats", "WriterStats"]

# Pipeline stage timings (issue 16: pipeline.timings, the web view's timings panel)
from dataclasses import field  # noqa: E402
from typing import Dict, Mapping  # noqa: E402


@dataclass(frozen=True)
class StageTiming(_Subscriptable):
    """Wall time of one pipeline stage (``StageTimings``): its last run and a running mean."""

    #: milliseconds of the stage's latest run
    last_ms: float
    #: exponential moving average of its runs (weight 0.1 on the newest), milliseconds
    mean_ms: float
    #: how many times it ran
    runs: int

    def to_json(self) -> Dict[str, Any]:
        return {"last_ms": self.last_ms, "mean_ms": self.mean_ms, "runs": self.runs}


@dataclass(frozen=True)
class StageTimings(_Subscriptable):
    """Where a ``Pipeline``'s time goes (``pipeline.timings``): per stage, the last run's and the
    mean milliseconds, measured with ``perf_counter`` around each stage on the pipeline's thread.

    A stage that did not run yet is None (``detect`` on frames the detector skips keeps its last
    run; with ``decoupled=True`` it is the hand-off to the worker and the tracking of its results,
    the detector's own time being ``decoupled_stats.detector_ms_mean``). ``annotate`` includes the
    highlight; ``total`` is the whole callback, results export included.
    """

    #: frames the pipeline processed
    frames: int = 0
    detect: Optional[StageTiming] = None
    track: Optional[StageTiming] = None
    classify: Optional[StageTiming] = None
    #: per ``Schedule`` plugin (by name), those that ran
    plugins: Mapping[str, StageTiming] = field(default_factory=dict)
    annotate: Optional[StageTiming] = None
    total: Optional[StageTiming] = None

    def to_json(self) -> Dict[str, Any]:
        """``{"frames", "detect", "track", "classify", "plugins": {name: ...}, "annotate", "total"}``,
        each stage ``{"last_ms", "mean_ms", "runs"}`` or None."""
        def one(stage: Optional[StageTiming]) -> Optional[Dict[str, Any]]:
            return None if stage is None else stage.to_json()

        return {"frames": self.frames, "detect": one(self.detect), "track": one(self.track),
                "classify": one(self.classify),
                "plugins": {name: stage.to_json() for name, stage in self.plugins.items()},
                "annotate": one(self.annotate), "total": one(self.total)}


__all__ += ["StageTiming", "StageTimings"]
