"""``Reader``: decode-only, frame-exact access to the video of any FFmpeg source."""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Iterator, List, Mapping, Optional, Tuple, Union

from . import _arguments, _core, _logging
from .errors import UnusedInputOptionWarning
from .media_info import MediaInfo

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


def _io_timeouts(timeout: Timeout) -> Tuple[float, float]:
    """``timeout=`` of Reader/Player as the engine's (open, read) seconds; -1 = default."""

    def seconds(value, what: str) -> float:
        if value is None:
            return -1.0
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{what} must be a number of seconds or None")
        if math.isnan(value) or value <= 0:
            raise ValueError(f"{what} must be > 0 seconds (math.inf: never), got {value!r}")
        return float(value)

    if isinstance(timeout, tuple):
        if len(timeout) != 2:
            raise ValueError("timeout must be seconds, None, or a tuple (open, read)")
        return seconds(timeout[0], "open timeout"), seconds(timeout[1], "read timeout")
    both = seconds(timeout, "timeout")
    return both, both


class Reader(_core.Reader):
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

    Example::

        with vistream.Reader("clip.mp4", format="rgb24") as reader:
            print(reader.info.fps, len(reader))
            reader.seek(index=100)            # frame-exact
            frame = next(reader)              # frame.index == 100
            for frame in reader:
                process(frame.array)          # HxWx3 uint8 view, no copy
    """

    def __init__(
        self,
        source: "str | os.PathLike[str] | None" = None,
        *,
        format: str = "bgr24",
        vfilter: Optional[str] = None,
        hwaccel: Optional[str] = "none",
        threads: int = 0,
        timeout: Timeout = None,
        camera: Optional[int] = None,
        input_format: Optional[str] = None,
        input_options: Optional[InputOptions] = None,
        capture_size: Optional[CaptureSize] = None,
        capture_fps: Optional[float] = None,
        capture_format: Optional[str] = None,
    ) -> None:
        url, demuxer, options = _input_arguments(source, camera, input_format, input_options, capture_size,
                                                 capture_fps, capture_format)
        fmt = _arguments.pixel_format(format)
        graph = _arguments.filter_string(vfilter, "vfilter")
        accel = _arguments.hwaccel(hwaccel)
        n_threads = _arguments.non_negative_int(threads, "threads")
        open_timeout, read_timeout = _io_timeouts(timeout)
        _logging.sync_level()
        super().__init__(url, fmt, graph, accel, n_threads, open_timeout, read_timeout, demuxer, options)
        self.source = url
        _warn_unused(self, url)

    @property
    def info(self) -> MediaInfo:
        """Stream properties (``frame_count`` becomes exact once the file has been indexed)."""
        return MediaInfo(**self._info())

    @property
    def stats(self) -> dict:
        """Counters: packets_read, frames_decoded, frames_output, decode_errors, seeks."""
        return self._stats()

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __len__(self) -> int:
        info = self.info
        return info.frame_count if info.frame_count_exact else self.count_frames()

    def seek(self, time: Optional[float] = None, index: Optional[int] = None) -> None:
        """Positions the reader so that the next frame is exactly the one asked for.

        ``index`` is the 0-based frame number in display order; ``time`` (seconds) selects the
        first frame whose timestamp is >= time. Past the end, iteration simply stops.
        """
        kind, target = _arguments.seek_target(time, index)
        if kind == "index":
            self.seek_index(target)
        else:
            self.seek_time(target)

    def frame_at(self, index: int) -> Frame:
        """Returns frame ``index`` (0-based, display order); IndexError past the end.

        The seek and the read are one operation: another thread iterating the same Reader
        cannot take the frame in between.
        """
        _, target = _arguments.seek_target(None, index)
        frame = self._frame_at(target)
        if frame is None:
            raise IndexError(f"frame {index} is past the end of {self.source!r}")
        return frame

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<vistream.Reader {self.source!r}>"
