"""What ``Player.run()``/``Player.stats`` and ``Reader.stats`` report: frozen, typed snapshots.

Fields are attributes (``stats.frames_encoded``); ``dataclasses.asdict(stats)`` gives a dict.
Subscripting (``stats["frames_encoded"]``), how these were read when they were dicts, still
works for now but emits a ``DeprecationWarning``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional


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
    #: live source connections restored after a loss (``reconnect=``)
    reconnects: int = 0
    #: seconds the source was down, summed over the restored outages
    downtime: float = 0.0
    #: frames the source would have sent while it was down (downtime x frame rate, an estimate)
    frames_lost: int = 0


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
    #: live source connections restored after a loss (``reconnect=``)
    reconnects: int = 0
    #: seconds the source was down, summed over the restored outages
    downtime: float = 0.0
    #: frames the source would have sent while it was down (downtime x frame rate, an estimate)
    frames_lost: int = 0


__all__ = ["CacheStats", "PlayerStats", "ReaderStats"]
