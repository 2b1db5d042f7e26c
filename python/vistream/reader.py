"""``Reader``: decode-only, frame-exact access to the video of any FFmpeg source."""

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from typing import Iterable, Iterator, List, Mapping, Optional, Tuple, Union, overload

import numpy as np

from . import _arguments, _core, _logging
from .connection import ConnectionCallback, connection_dispatcher

#: Ends a Reader's blocking calls from another thread, its open included (``Reader(cancel=)``).
CancelToken = _core.CancelToken
from .errors import FrameIndexError, UnusedInputOptionWarning
from .media_info import MediaInfo
from .stats import ReaderStats

Frame = _core.Frame

Timeout = Union[None, float, Tuple[Optional[float], Optional[float]]]
InputOptions = Mapping[str, Union[str, int, float, bool]]
CaptureSize = Union[str, Tuple[int, int]]


def _option_text(value: object, key: str) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TypeError(f"input_options[{key!r}] must be a string or a number, not {type(value).__name__}")


def _input_arguments(
    source: "str | os.PathLike[str] | None",
    camera: Optional[int],
    input_format: Optional[str],
    input_options: Optional[InputOptions],
    capture_size: Optional[CaptureSize],
    capture_fps: Optional[float],
    capture_format: Optional[str],
) -> Tuple[str, str, List[Tuple[str, str]]]:
    """The (url, input format, options) the engine opens, from the input keywords of Reader/Player."""
    if camera is not None:
        if source is not None:
            raise TypeError("pass either source or camera=, not both")
        if isinstance(camera, bool) or not isinstance(camera, int) or camera < 0:
            raise ValueError(f"camera must be a device number >= 0, got {camera!r}")
        if not sys.platform.startswith("linux"):
            raise ValueError("camera= opens V4L2 devices (Linux); elsewhere pass the device as source with "
                             "input_format ('avfoundation', 'dshow')")
        source = f"/dev/video{camera}"
        input_format = input_format or "v4l2"
    if source is None:
        raise TypeError("Reader/Player need a source (path, URL, '-' for standard input) or camera=")
    url = _arguments.source_string(source)
    if input_format is not None and (not isinstance(input_format, str) or not input_format.strip()):
        raise ValueError("input_format must be a demuxer or device name such as 'v4l2', 'lavfi', 'mpegts'")
    fmt = (input_format or "").strip()
    if input_options is None:
        input_options = {}
    if not isinstance(input_options, Mapping):
        raise TypeError("input_options must be a dict of FFmpeg option names to values")
    options = {}
    for key, value in input_options.items():
        if not isinstance(key, str) or not key:
            raise TypeError("input_options keys must be non-empty strings (FFmpeg option names)")
        options[key] = _option_text(value, key)
    # Capture settings, under the option names the device (or raw demuxer) knows them by.
    is_v4l2 = fmt in ("v4l2", "video4linux2") or (not fmt and url.startswith("/dev/video"))
    capture = {}
    if capture_size is not None:
        if isinstance(capture_size, str):
            capture["video_size"] = capture_size
        elif (isinstance(capture_size, tuple) and len(capture_size) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in capture_size)):
            capture["video_size"] = f"{capture_size[0]}x{capture_size[1]}"
        else:
            raise ValueError(f"capture_size must be (width, height) or 'WxH', got {capture_size!r}")
    if capture_fps is not None:
        if isinstance(capture_fps, bool) or not isinstance(capture_fps, (int, float, str)):
            raise TypeError("capture_fps must be a number (or an FFmpeg rate such as '30000/1001')")
        capture["framerate"] = str(capture_fps)
    if capture_format is not None:
        if not isinstance(capture_format, str) or not capture_format:
            raise TypeError("capture_format must be a pixel format or codec name such as 'yuyv422' or 'mjpeg'")
        capture["input_format" if is_v4l2 else "pixel_format"] = capture_format
    for key, value in capture.items():
        if key in options and options[key] != value:
            raise ValueError(f"input_options[{key!r}] conflicts with the capture_* argument that sets it")
        options[key] = value
    return url, fmt, list(options.items())


def _warn_unused(engine, url: str) -> None:
    unused = engine._unused_input_options()
    if unused:
        warnings.warn(f"input options not used by {url!r}: {', '.join(unused)} (misspelt, or not an option of "
                      "this protocol, demuxer or device)", UnusedInputOptionWarning, stacklevel=3)


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


# Bytes per pixel of each output format (the stacked layouts: yuv420p/nv12 are H*3/2 x W).
_BYTES_PER_PIXEL = {"gray": 1.0, "gray8": 1.0, "bgr24": 3.0, "rgb24": 3.0, "bgra": 4.0, "rgba": 4.0, "argb": 4.0,
                    "abgr": 4.0, "bgr0": 4.0, "rgb0": 4.0, "yuv420p": 1.5, "nv12": 1.5}


# Batches up to this many frames are not checked (at most ~0.5 GB even of 4K RGBA frames).
_SMALL_BATCH = 16


def _available_memory() -> Optional[int]:
    """Bytes the kernel says can be allocated without swapping (Linux ``MemAvailable``), else None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _check_batch_fits(info: MediaInfo, frames: int, what: str, available: Optional[int] = None) -> None:
    """MemoryError before anything is decoded when ``frames`` frames of ``info``'s size and output
    format cannot fit in the memory available: asking for a whole long video at once would
    otherwise decode until the kernel's OOM killer ends the process, losing everything."""
    per_pixel = _BYTES_PER_PIXEL.get(info.output_format)
    if per_pixel is None or frames <= 0 or info.width <= 0 or info.height <= 0:
        return
    available = _available_memory() if available is None else available
    if available is None:
        return
    frame_bytes = int(info.width * info.height * per_pixel)
    needed = frames * frame_bytes
    if needed > available:
        fits = max(1, int(available * 0.5) // frame_bytes)
        raise MemoryError(
            f"{what}: {frames} frames of {info.width}x{info.height} {info.output_format} need "
            f"{needed / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB this machine has available: "
            f"ask for them in chunks (e.g. {fits} at a time), a stride, or a smaller format/vfilter scale")


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
            "cuda" or "cuda:1"; an explicit device that cannot be opened raises
            ``HardwareError`` naming what is missing (libcuda, the device, NVDEC's refusal of
            the codec). With "auto", ``info.hwaccel_note`` says why it stayed on the CPU.
        device: where frames live: "cpu", or "cuda"/"cuda:N" to keep NVDEC's frames in that
            GPU's memory (``frame.planes`` and ``__dlpack__`` export them; ``frame.download()``
            copies one to the host). See docs/gpu.md.
        threads: decoder threads, 0 = one per core.
        timeout: seconds a network source may stall before ``SourceTimeoutError``: one number
            for both opening and reading, or ``(open, read)``; None = defaults (10 s each);
            ``math.inf`` = wait forever. Local files never time out. ``close()`` from another
            thread ends a blocked read at once (the iteration it interrupted just stops).
        camera: V4L2 camera number: ``camera=0`` opens ``/dev/video0`` (instead of ``source``).
        input_format: demuxer or capture device to use instead of probing: "v4l2", "lavfi",
            "mpegts", "rawvideo", "x11grab"... (``/dev/video*`` paths are "v4l2" already).
        input_options: FFmpeg options for opening the source, e.g.
            ``{"rtsp_transport": "tcp"}`` ("udp", or "auto": UDP then TCP),
            ``{"protocol_whitelist": "file,http,tcp"}``, ``{"tls_verify": "0"}``,
            ``{"probesize": 32768}``. Names nothing used are reported with an
            ``UnusedInputOptionWarning``. See "Live sources" in docs/api.md for the defaults.
        capture_size / capture_fps / capture_format: what to ask a capture device (or the
            rawvideo demuxer) for: ``(1280, 720)``, ``30``, ``"mjpeg"``/``"yuyv422"``; set as
            video_size, framerate and input_format (v4l2) or pixel_format.
        autorotate: turn frames upright as the source's rotation metadata asks (a phone video's
            display matrix, or a legacy ``rotate`` tag), like the ffmpeg CLI: a 90° video comes
            with width and height swapped. False: frames as stored. ``info.rotation`` gives the
            stored rotation either way, ``info.autorotated`` whether it was applied.
        low_latency: FFmpeg's low-delay flags for live sources (fflags nobuffer, max_delay 0,
            decoder low_delay with slice threads, so no frame is held back); ``input_options``
            given override the demuxer ones.
        reconnect: when the source is lost (read error, a stall past the read timeout, the
            stream ending), reopen it and go on: "auto" (live sources: network URLs and
            devices; files and pipes never), "always"/True, "never"/False. Iteration continues
            across a reconnect; frame indices and times continue after the last frame (times
            never go back). When ``reconnect_attempts`` run out, iteration raises the last
            failure (``SourceError``/``SourceTimeoutError``). See "Live sources: reconnect" in
            docs/api.md.
        reconnect_delay / reconnect_delay_max: seconds before the first attempt, and the cap of
            the waits, which double per attempt (with 10% jitter).
        reconnect_attempts: attempts per outage before giving up (None: forever).
        on_disconnect / on_reconnect / on_error: callables getting a ``ConnectionEvent`` when
            the source is lost, restored, or an attempt fails (see ``vistream.connection``).
        cancel: a ``vistream.CancelToken`` you keep: ``token.cancel()`` from another thread
            ends this Reader's blocking call in progress, *including the open* (when there is
            no Reader yet to ``close()``), with ``CancelledError``; the Reader is unusable
            afterwards. ``MultiPlayer.stop()`` uses it to end sources still connecting.

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
        source: "str | os.PathLike[str] | None" = None,
        *,
        format: str = _DEFAULTS.format,
        vfilter: Optional[str] = _DEFAULTS.vfilter,
        hwaccel: Optional[str] = _DEFAULTS.hwaccel,
        threads: int = _DEFAULTS.threads,
        timeout: Timeout = None,
        camera: Optional[int] = None,
        input_format: Optional[str] = None,
        input_options: Optional[InputOptions] = None,
        capture_size: Optional[CaptureSize] = None,
        capture_fps: Optional[float] = None,
        capture_format: Optional[str] = None,
        autorotate: bool = _DEFAULTS.autorotate,
        device: str = _DEFAULTS.device,
        low_latency: bool = _DEFAULTS.low_latency,
        reconnect: "str | bool" = _DEFAULTS.reconnect,
        reconnect_delay: float = _DEFAULTS.reconnect_delay,
        reconnect_delay_max: float = _DEFAULTS.reconnect_delay_max,
        reconnect_attempts: Optional[int] = _DEFAULTS.reconnect_attempts,
        on_disconnect: Optional[ConnectionCallback] = None,
        on_reconnect: Optional[ConnectionCallback] = None,
        on_error: Optional[ConnectionCallback] = None,
        cancel: Optional[CancelToken] = None,
    ) -> None:
        dispatch = connection_dispatcher(on_disconnect, on_reconnect, on_error)
        url, demuxer, input_pairs = _input_arguments(source, camera, input_format, input_options, capture_size,
                                                     capture_fps, capture_format)
        open_timeout, read_timeout = _timeout_pair(timeout)
        # Forwarded as given: the engine converts and checks every value (errors name the option).
        options = _core.SourceOptions(format=format, vfilter=vfilter, hwaccel=hwaccel, threads=threads,
                                      open_timeout=open_timeout, read_timeout=read_timeout,
                                      input_format=demuxer or None, input_options=input_pairs,
                                      autorotate=autorotate, low_latency=low_latency, device=device,
                                      reconnect=reconnect, reconnect_delay=reconnect_delay,
                                      reconnect_delay_max=reconnect_delay_max,
                                      reconnect_attempts=reconnect_attempts)
        _logging.sync_level()
        self._core = _core.Reader(url, options, cancel)
        if dispatch is not None:
            self._core._set_connection_callback(dispatch)
        self.source = url
        _warn_unused(self._core, url)

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
            MemoryError: the frames asked for cannot fit in the memory available (nothing is
                decoded; the message says how many would).
            SourceError: the source cannot seek (live stream or pipe).

        Example::

            batch = reader.frames_at([90, 3, 3, 47], stack=True)   # (4, H, W, 3)
            tensor = torch.from_dlpack(batch)                      # no copy
        """
        indices, stack = _frame_indices(indices), _stack_flag(stack)
        # Held in memory at once: every slot of a stack, each distinct frame of a list.
        if len(indices) > _SMALL_BATCH:
            _check_batch_fits(self.info, len(indices) if stack else len(set(indices)), "frames_at")
        return self._core._frames_at(indices, stack)

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
        times, stack = _frame_times(times), _stack_flag(stack)
        if len(times) > _SMALL_BATCH:
            _check_batch_fits(self.info, len(times) if stack else len(set(times)), "frames_played_at")
        return self._core._frames_played_at(times, stack)

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
