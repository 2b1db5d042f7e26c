"""``MediaInfo``: what a source holds, as reported by ``Reader.info`` and ``Player.info``."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Optional


@dataclass(frozen=True)
class MediaInfo:
    """Properties of a source's video (after the ``vfilter``) and audio streams.

    Example::

        with vistream.Reader("clip.mp4") as reader:
            info = reader.info
            print(info.width, info.height, info.fps, info.frame_count)
    """

    #: The size the stream declares when opened (after the ``vfilter``). Frames keep the size the
    #: decoder gives them: a stream that changes size mid-stream, or whose bitstream disagrees with
    #: its container's header, yields frames of that other size (``frame.width``/``frame.height``
    #: are always the frame's own), and ``frames_at(..., stack=True)`` over mixed sizes raises
    #: ``VistreamError`` instead of scaling pixels the file never held.
    width: int
    height: int
    fps: float
    fps_fraction: Fraction
    time_base: Fraction
    frame_count: int
    frame_count_exact: bool
    duration: float
    start_time: float
    codec: str
    pixel_format: str
    output_format: str
    rotation: float
    hwaccel: str
    bit_rate: int
    container: str
    seekable: bool
    has_audio: bool
    audio_sample_rate: int
    audio_channels: int
    audio_codec: Optional[str]
    #: True when the engine turned the frames upright for ``rotation`` (``autorotate=True``, the
    #: default); False with a non-zero ``rotation`` means frames come as stored in the file.
    autorotated: bool = False
    #: why ``hwaccel="auto"`` decodes on the CPU ("" when a device decodes or none was asked)
    hwaccel_note: str = ""
