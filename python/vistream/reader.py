"""``Reader``: decode-only, frame-exact access to the video of any FFmpeg source."""

from __future__ import annotations

import os
from typing import Iterator, Optional, Tuple, Union

from . import _arguments, _core, _logging
from .media_info import MediaInfo
from .stats import ReaderStats

Frame = _core.Frame

Timeout = Union[None, float, Tuple[Optional[float], Optional[float]]]


def _timeout_pair(timeout: Timeout) -> Tuple[Optional[float], Optional[float]]:
    """``timeout=`` of Reader/Player as (open, read) seconds, None = the engine's default.

    Only the shape is handled here; the engine checks the values (ValueError unless > 0)."""
    if isinstance(timeout, tuple):
        if len(timeout) != 2:
            raise ValueError("timeout must be seconds, None, or a tuple (open, read)")
        return timeout[0], timeout[1]
    return timeout, timeout


_DEFAULTS = _core.SourceOptions()


class Reader:
    """Iterates over the video frames of a file or URL, in display order.

    A Reader may be used from several threads: calls are serialized inside (each frame of an
    iteration shared by two threads goes to exactly one of them), and ``close()`` from another
    thread waits for the call in progress.

    Args:
        source: path or URL (anything FFmpeg demuxes: mp4, mkv, webm, ts, http://, rtsp://...).
        format: pixel format of ``frame.array``: "bgr24" (OpenCV order), "rgb24", "gray",
            "rgba", "bgra", "yuv420p" or "nv12".
        vfilter: FFmpeg filter graph applied before conversion, e.g. "scale=640:-2,hflip".
        hwaccel: "none", "auto" (cuda, then vaapi, then software) or a device type such as
            "cuda"; an explicit device that cannot be opened raises ``HardwareError``.
        threads: decoder threads, 0 = one per core.
        timeout: seconds a network source may stall before ``SourceTimeoutError``: one number
            for both opening and reading, or ``(open, read)``; None = defaults (10 s each);
            ``math.inf`` = wait forever. Local files never time out. ``close()`` from another
            thread ends a blocked read at once (the iteration it interrupted just stops).

    Example::

        with vistream.Reader("clip.mp4", format="rgb24") as reader:
            print(reader.info.fps, len(reader))
            reader.seek(index=100)            # frame-exact
            frame = next(reader)              # frame.index == 100
            for frame in reader:
                process(frame.array)          # HxWx3 uint8 view, no copy
    """

    # One pattern for Reader and Player: the public class wraps its native object (self._core)
    # rather than subclassing it. Subclassing made every native helper (seek_index, _frame_at,
    # _stats, ...) public API with untyped, undocumented signatures, and for the Player it would
    # put Python-side state (the pending output, callbacks) on the native object whose
    # garbage-collector hooks break callback cycles. Wrapped, the public surface is exactly what
    # is written here, and both classes build their options and forward them the same way.

    def __init__(
        self,
        source: "str | os.PathLike[str]",
        *,
        format: str = _DEFAULTS.format,
        vfilter: Optional[str] = _DEFAULTS.vfilter,
        hwaccel: Optional[str] = _DEFAULTS.hwaccel,
        threads: int = _DEFAULTS.threads,
        timeout: Timeout = None,
    ) -> None:
        url = _arguments.source_string(source)
        open_timeout, read_timeout = _timeout_pair(timeout)
        # Forwarded as given: the engine converts and checks every value (errors name the option).
        options = _core.SourceOptions(format=format, vfilter=vfilter, hwaccel=hwaccel, threads=threads,
                                      open_timeout=open_timeout, read_timeout=read_timeout)
        _logging.sync_level()
        self._core = _core.Reader(url, options)
        self.source = url

    @property
    def info(self) -> MediaInfo:
        """Stream properties (``frame_count`` becomes exact once the file has been indexed)."""
        return MediaInfo(**self._core._info())

    @property
    def stats(self) -> ReaderStats:
        """Counters so far (see ``ReaderStats``): frames_decoded counts frames the decoder
        produced (non-reference frames skipped on the way to a seek target are not),
        frames_converted frames sent through the filter graph / pixel conversion, seeks the
        demuxer repositionings (a target reached by decoding forward is none)."""
        return ReaderStats(**self._core._stats())

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        return self._core.__next__()

    def close(self) -> None:
        """Frees the decoder. From another thread: ends a blocked call at once (the iteration
        it interrupted just stops); any later call raises ValueError. Closing twice does nothing."""
        self._core.close()

    def count_frames(self) -> int:
        """Counts the frames by reading the whole stream's packets (what ``len()`` does when the
        count is not known exactly)."""
        return self._core.count_frames()

    def __len__(self) -> int:
        info = self.info
        return info.frame_count if info.frame_count_exact else self.count_frames()

    def seek(self, time: Optional[float] = None, index: Optional[int] = None) -> None:
        """Positions the reader so that the next frame is exactly the one asked for.

        ``index`` is the 0-based frame number in display order; ``time`` (seconds) selects the
        frame on screen at that time: the last frame whose timestamp is <= time, where a frame
        stamped up to half a millisecond (or half a tick of the stream's time base) after
        ``time`` counts as started, since containers round timestamps (Matroska stores frame k
        of a 30 fps clip at k/30 s rounded to the millisecond, yet ``seek(time=k / 30)`` gives
        frame k). Before the first frame: the first frame. After the end of the last frame,
        iteration simply stops. A non-finite time raises ValueError.
        """
        kind, target = _arguments.seek_target(time, index)
        if kind == "index":
            self._core.seek_index(target)
        else:
            self._core.seek_time(target)

    def frame_at(self, index: int) -> Frame:
        """Returns frame ``index`` (0-based, display order); IndexError past the end.

        The seek and the read are one operation: another thread iterating the same Reader
        cannot take the frame in between.
        """
        _, target = _arguments.seek_target(None, index)
        frame = self._core._frame_at(target)
        if frame is None:
            raise IndexError(f"frame {index} is past the end of {self.source!r}")
        return frame

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<vistream.Reader {self.source!r}>"
