"""``Reader``: decode-only, frame-exact access to the video of any FFmpeg source."""

from __future__ import annotations

import math
import numbers
import os
from typing import Iterable, Iterator, List, Optional, Tuple, Union, overload

import numpy as np

from . import _arguments, _core, _logging
from .errors import FrameIndexError
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


_INT64_RANGE = range(-(2**63), 2**63)


def _frame_indices(indices: Iterable[int]) -> List[int]:
    """``indices`` of ``frames_at`` as a list of ints (TypeError for anything else)."""
    if isinstance(indices, np.ndarray):
        if indices.ndim != 1 or indices.dtype.kind not in "iu":
            raise TypeError(f"indices must be a 1-D array of integers, not {indices.ndim}-D {indices.dtype}")
        indices = indices.tolist()
    elif isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
        raise TypeError(f"indices must be an iterable of ints, not {type(indices).__name__}")
    checked = []
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"frame indices must be ints, not {type(index).__name__}")
        if int(index) not in _INT64_RANGE:  # far outside any video; the engine takes int64
            raise FrameIndexError(f"frame index {index} is out of range")
        checked.append(int(index))
    return checked


def _frame_times(times: Iterable[float]) -> List[float]:
    """``times`` of ``frames_played_at`` as a list of finite floats."""
    if isinstance(times, np.ndarray):
        if times.ndim != 1 or times.dtype.kind not in "iuf":
            raise TypeError(f"times must be a 1-D array of numbers, not {times.ndim}-D {times.dtype}")
        times = times.tolist()
    elif isinstance(times, (str, bytes)) or not isinstance(times, Iterable):
        raise TypeError(f"times must be an iterable of seconds, not {type(times).__name__}")
    checked = []
    for seconds in times:
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
            raise TypeError(f"times must be numbers of seconds, not {type(seconds).__name__}")
        if not math.isfinite(seconds):
            raise ValueError(f"times must be finite numbers of seconds, got {seconds!r}")
        checked.append(float(seconds))
    return checked


def _stack_flag(stack: bool) -> bool:
    if not isinstance(stack, (bool, np.bool_)):
        raise TypeError(f"stack must be True or False, not {type(stack).__name__}")
    return bool(stack)


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

    def frames_at(self, indices: Iterable[int], *, stack: bool = False) -> Union[List[Frame], np.ndarray]:
        """Frames by index (0-based, display order; negative counts from the end), in the order asked.

        Indices may come in any order and repeat. They are fetched in one forward pass: each
        distinct frame is decoded once, in increasing order, and the reader seeks only when a
        keyframe lies between its position and the next frame wanted (otherwise decoding on is
        cheaper). Afterwards iteration continues after the highest index fetched.

        Args:
            indices: ints (a list, a ``range``, a 1-D integer numpy array...).
            stack: False: a list of Frames (a repeated index gives the same Frame object).
                True: one new C-contiguous uint8 array of shape (N, H, W, C) ((N, H, W) for gray,
                (N, H*3/2, W) for yuv420p/nv12), filled as frames decode, so only the result is
                held in memory; ``torch.from_dlpack(batch)`` shares it.

        Raises:
            FrameIndexError: an index outside ``[-len(reader), len(reader))`` (nothing is decoded).
            SourceError: the source cannot seek (live stream or pipe).

        Example::

            batch = reader.frames_at([90, 3, 3, 47], stack=True)   # (4, H, W, 3)
            tensor = torch.from_dlpack(batch)                      # no copy
        """
        return self._core._frames_at(_frame_indices(indices), _stack_flag(stack))

    def frames_played_at(self, times: Iterable[float], *, stack: bool = False) -> Union[List[Frame], np.ndarray]:
        """The frame on screen at each time, in the order asked (same fetching and results as ``frames_at``).

        The frame on screen at ``t`` seconds (on the stream's clock, as ``frame.time``) is the one
        with ``pts <= t < next pts``. ``t`` is compared at the container's timestamp precision, so
        ``k / fps`` gives frame k even where the container rounds timestamps (mkv: to 1 ms). The
        last frame stays on screen for one more frame interval.

        Raises:
            ValueError: a NaN or infinite time.
            FrameIndexError: a time before the first frame or after the last one.
            SourceError: the source cannot seek (live stream or pipe).
        """
        return self._core._frames_played_at(_frame_times(times), _stack_flag(stack))

    @overload
    def __getitem__(self, key: int) -> Frame: ...

    @overload
    def __getitem__(self, key: slice) -> List[Frame]: ...

    def __getitem__(self, key: Union[int, slice]) -> Union[Frame, List[Frame]]:
        """``reader[i]`` (negative from the end) is a Frame; ``reader[a:b:step]`` a list of Frames.

        Both go through ``frames_at``; ``reader.frames_at(range(a, b, step), stack=True)`` gives the
        slice as one array.
        """
        if isinstance(key, slice):
            return self.frames_at(range(*key.indices(len(self))))
        if isinstance(key, bool) or not isinstance(key, numbers.Integral):
            raise TypeError(f"Reader indices must be ints or slices, not {type(key).__name__}")
        return self.frames_at([key])[0]

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<vistream.Reader {self.source!r}>"
