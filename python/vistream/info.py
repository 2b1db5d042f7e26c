"""``vistream info FILE|URL``: what a video holds, in words or as JSON (a friendly ffprobe).

Everything comes from vistream's own engine (``Reader.info``), so it reports exactly what
``Reader`` and ``Player`` will see — the video stream they decode, the audio stream they play —
plus what only a scan reveals: the keyframe interval (how far a seek decodes forward) and,
when the container does not say, the exact frame count::

    from vistream.info import probe
    report = probe("clip.mp4")
    report.fps_fraction, report.keyframe_interval.mean_frames
"""

from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Dict, List, Optional

from ._output_file import is_url
from .reader import Reader

#: How much of a local file ``probe`` decodes by default to find its keyframes (seconds).
DEFAULT_SCAN_SECONDS = 60.0


@dataclass(frozen=True)
class KeyframeInterval:
    """Distances between consecutive keyframes in the scanned part of the video."""

    #: keyframes found in the scanned part
    keyframes: int
    #: frames between consecutive keyframes (None with fewer than two keyframes)
    min_frames: Optional[int]
    max_frames: Optional[int]
    mean_frames: Optional[float]
    #: mean distance in seconds
    mean_seconds: Optional[float]
    #: seconds of video scanned (from the start)
    scanned_seconds: float
    #: the scan reached the end of the video
    complete: bool


@dataclass(frozen=True)
class MediaReport:
    """``vistream info``'s answer: the source's video and audio as vistream decodes them.

    ``fps`` is rounded to 3 decimals for reading; ``fps_fraction`` is exact ("30000/1001").
    """

    source: str
    container: str
    #: bytes on disk (None for URLs)
    file_size: Optional[int]
    duration: float
    start_time: float
    #: overall bit rate in bits/s (0 when the container does not say)
    bit_rate: int
    seekable: bool
    video_codec: str
    pixel_format: str
    width: int
    height: int
    #: display rotation in degrees (the frames are stored unrotated)
    rotation: float
    fps: float
    fps_fraction: str
    time_base: str
    frame_count: int
    #: False: ``frame_count`` is the container's estimate (no scan counted the frames)
    frame_count_exact: bool
    #: None when no scan was asked for (``scan_seconds=0``, or a URL without ``--scan``)
    keyframe_interval: Optional[KeyframeInterval]
    has_audio: bool
    audio_codec: Optional[str]
    audio_sample_rate: int
    audio_channels: int

    def to_dict(self) -> Dict[str, Any]:
        """The report as JSON-ready types (what ``vistream info --json`` prints)."""
        return asdict(self)

    def to_text(self) -> str:
        """The report for people: one property a line."""
        lines = [f"{self.source}"]
        where = self.container + (f", {_size_text(self.file_size)}" if self.file_size is not None else "")
        lines.append(f"  container    {where}{'' if self.seekable else ', not seekable (live)'}")
        duration = f"{self.duration:.3f} s ({_clock(self.duration)})" if self.duration > 0 else "unknown (live)"
        if self.start_time:
            duration += f", starts at {self.start_time:.3f} s"
        lines.append(f"  duration     {duration}")
        lines.append(f"  bit rate     {_bit_rate_text(self.bit_rate)}")
        lines.append(f"  video        {self.video_codec}, {self.pixel_format}, {self.width}x{self.height}")
        lines.append(f"  fps          {self.fps:.3f} ({self.fps_fraction})" if self.fps else "  fps          unknown")
        exact = "exact" if self.frame_count_exact else "estimated from the duration"
        lines.append(f"  frames       {self.frame_count} ({exact})")
        lines.append(f"  keyframes    {_keyframe_text(self.keyframe_interval)}")
        if self.rotation:
            lines.append(f"  rotation     {self.rotation:g}° (stored as encoded; Reader and Player turn frames upright)")
        else:
            lines.append("  rotation     none")
        if self.has_audio:
            lines.append(f"  audio        {self.audio_codec}, {self.audio_sample_rate} Hz, "
                         f"{_channels_text(self.audio_channels)}")
        else:
            lines.append("  audio        none")
        return "\n".join(lines)


def probe(source: str, *, scan_seconds: Optional[float] = None, timeout: Optional[float] = None) -> MediaReport:
    """Opens ``source`` (file or URL) and reports its streams.

    Args:
        source: path or URL.
        scan_seconds: how much of the video to decode from the start to measure the keyframe
            interval; ``math.inf`` scans all of it (and counts the frames exactly), 0 none.
            Default: ``DEFAULT_SCAN_SECONDS`` for files, 0 for URLs (a live stream would be
            scanned in real time).
        timeout: seconds a network source may stall (None: the Reader's default).

    Raises:
        vistream.SourceNotFoundError, vistream.SourceError: the source cannot be opened.
    """
    source = os.fspath(source)
    url = is_url(source)
    if scan_seconds is None:
        scan_seconds = 0.0 if url else DEFAULT_SCAN_SECONDS
    if scan_seconds < 0 or math.isnan(scan_seconds):
        raise ValueError(f"scan_seconds must be >= 0 (math.inf for all), got {scan_seconds}")
    if scan_seconds and source.startswith("pipe:"):
        # the scan opens the source a second time, and a pipe can be read only once
        raise ValueError("a pipe can be read only once: the keyframe scan (--scan) needs a file or URL")
    # autorotate=False: the size reported is the stored one, with the rotation beside it (as ffprobe).
    with Reader(source, format="gray", timeout=timeout, autorotate=False) as reader:
        info = reader.info
        frame_count, exact = info.frame_count, info.frame_count_exact
        if not exact and not url and math.isinf(scan_seconds):
            frame_count, exact = reader.count_frames(), True
    keyframes = _scan_keyframes(source, scan_seconds, info.fps, info.duration, timeout) if scan_seconds else None
    return MediaReport(
        source=source, container=info.container,
        file_size=None if url or not os.path.isfile(source) else os.path.getsize(source),
        duration=info.duration, start_time=info.start_time, bit_rate=info.bit_rate, seekable=info.seekable,
        video_codec=info.codec, pixel_format=info.pixel_format, width=info.width, height=info.height,
        rotation=info.rotation, fps=round(info.fps, 3), fps_fraction=_fraction_text(info.fps_fraction),
        time_base=_fraction_text(info.time_base), frame_count=frame_count, frame_count_exact=exact,
        keyframe_interval=keyframes, has_audio=info.has_audio, audio_codec=info.audio_codec,
        audio_sample_rate=info.audio_sample_rate, audio_channels=info.audio_channels)


def _scan_keyframes(source: str, scan_seconds: float, fps: float, duration: float,
                    timeout: Optional[float]) -> KeyframeInterval:
    # The decoder marks keyframes; FFmpeg's select filter keeps only those, and the Reader still
    # numbers each frame by its place in the source, so the indices are the keyframes' own.
    # Scaled to 16x16 so the scan costs the decode and nearly nothing else.
    indices: List[int] = []
    last_time = 0.0
    complete = True
    with Reader(source, format="gray", vfilter="select='eq(key\\,1)',scale=16:16", timeout=timeout,
                autorotate=False) as reader:
        # Without a frame index (a non-seekable stream) the Reader counts the frames it hands
        # out, so a keyframe's place comes from its time instead.
        indexed = reader.info.seekable
        for frame in reader:
            if frame.time > scan_seconds:
                complete = False
                break
            indices.append(frame.index if indexed or not fps else round(frame.time * fps))
            last_time = frame.time
    scanned = duration if complete and duration > 0 else max(last_time, min(scan_seconds, duration))
    gaps = [later - earlier for earlier, later in zip(indices, indices[1:])]
    if not gaps:
        return KeyframeInterval(len(indices), None, None, None, None, round(scanned, 3), complete)
    mean = statistics.fmean(gaps)
    return KeyframeInterval(len(indices), min(gaps), max(gaps), round(mean, 3),
                            round(mean / fps, 3) if fps else None, round(scanned, 3), complete)


def _fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{rest:06.3f}"


def _size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _bit_rate_text(bit_rate: int) -> str:
    if bit_rate <= 0:
        return "unknown"
    return f"{bit_rate / 1e6:.2f} Mb/s" if bit_rate >= 1e6 else f"{bit_rate / 1e3:.0f} kb/s"


def _channels_text(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels} channels")


def _keyframe_text(interval: Optional[KeyframeInterval]) -> str:
    if interval is None:
        return "not scanned (--scan SECONDS)"
    where = "whole video" if interval.complete else f"first {interval.scanned_seconds:g} s"
    if interval.mean_frames is None:
        return f"{interval.keyframes} in the {where}"
    seconds = f" = {interval.mean_seconds:.2f} s" if interval.mean_seconds is not None else ""
    if interval.min_frames == interval.max_frames:
        spacing = f"every {interval.min_frames} frames{seconds}"
    else:
        spacing = (f"every {interval.min_frames}-{interval.max_frames} frames "
                   f"(mean {interval.mean_frames:g}{seconds})")
    return f"{spacing}; {interval.keyframes} in the {where}"


def main_json(report: MediaReport) -> str:
    """``--json``'s text: the report, indented, keys in declaration order."""
    return json.dumps(report.to_dict(), indent=2)
