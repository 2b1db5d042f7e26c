"""``Writer``: frames from anywhere (a Reader loop, numpy, DLPack tensors) to files and streams.

It is the Player's own output path (the native ``Writer``: encoder selection, several outputs
from one encoding, network reconnects, the timestamp guard), fed by your code instead of a
decoder.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from . import _core, _logging
from .errors import DeviceMismatchError
from ._output_file import (OutputName, OutputOptions, PendingOutput, note_partial, output_names,
                           output_option_pairs, pending_outputs)
from .stats import OutputStats, WriterStats

_DEFAULTS = _core.EncoderOptions()

# Pixel formats numpy frames may come in, with the channel count of their (H, W, C) arrays
# (gray: (H, W)).
_ARRAY_FORMATS = {"bgr24": 3, "rgb24": 3, "bgra": 4, "rgba": 4, "gray": 1}
_FORMAT_ALIASES = {"bgr": "bgr24", "rgb": "rgb24", "grey": "gray", "gray8": "gray"}


def _as_array(image: Any) -> np.ndarray:
    """A numpy view of a numpy array or a DLPack tensor (torch, cupy, jax...) in CPU memory."""
    if isinstance(image, np.ndarray):
        return image
    if hasattr(image, "__dlpack__"):
        try:
            return np.from_dlpack(image)
        except (BufferError, RuntimeError, TypeError, ValueError) as error:
            raise TypeError(f"cannot read the {type(image).__name__} through DLPack ({error}); "
                            "Writer takes tensors in CPU memory (use tensor.cpu(), tensor.detach())") from None
    raise TypeError("write() takes a vistream Frame, a numpy array or a DLPack tensor (H, W, 3) uint8, "
                    f"not {type(image).__name__}")


# DLPack device types (dlpack.h): host memory, CUDA memory, CUDA pinned host memory.
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST = 1, 2, 3


def _dlpack_device_name(image: Any) -> Optional[str]:
    """Where a DLPack producer's memory is ("cpu", "cuda:N", ...); None for other objects."""
    query = getattr(image, "__dlpack_device__", None)
    if query is None:
        return None
    kind, ordinal = query()
    if kind in (_DL_CPU, _DL_CUDA_HOST):
        return "cpu"
    return f"cuda:{ordinal}" if kind == _DL_CUDA else f"DLPack device type {kind}:{ordinal}"


class Writer:
    """Encodes frames you hand it and writes them to a file, a stream, or several at once.

    Args:
        path_or_url: where to write, or a list of places written from the same encoding
            (``["rec.mp4", "rtmp://server/live/key"]``). Files (``.mp4``, ``.mkv``, ``.mov``,
            ``.ts``...) are written as ``NAME.partial-XXXXXX.EXT`` and renamed when the writer
            is closed (an exception inside ``with`` keeps the partial file and leaves an older
            ``NAME`` as it was); HLS (``.m3u8``) and segmented recordings are written in place.
            Streams: ``rtmp://`` (FLV), ``rtsp://`` (publish to a server, over TCP unless
            ``output_options={"rtsp_transport": "udp"}``), ``srt://`` and ``udp://`` (MPEG-TS).
            Each stream is written by its own thread: ``write()`` never waits for a server; a
            stream that fails is retried with backoff while the other outputs go on, drops
            what is produced while it is down and restarts at a keyframe (see
            ``stats.outputs``: ``state``, ``packets_dropped``, ``last_error``).
        fps: frames per second (a float, or a Fraction such as ``Fraction(30000, 1001)``).
            Frames are timed ``n / fps`` unless ``write()`` gets ``time=``.
        size: ``(width, height)``; None takes it from the first frame. Odd sizes are padded to
            even ones for H.264 (a warning is logged), never silently re-coded as MPEG-4.
        encoder: "auto" (hardware encoders first, then libx264...) or an FFmpeg encoder name.
        audio: a media file (path or URL) whose sound goes into the outputs (copied when every
            container takes its codec, else transcoded: AAC, or Opus for WebM), along the video by time: frame n's sound is
            written with it, and the sound stops where the last frame ends. None: video only.
        pixel_format: the layout of numpy/DLPack frames: "bgr24" (OpenCV's order, the default),
            "rgb24" (torchvision, PIL), "bgra", "rgba", "gray". vistream Frames carry their own.
        codec / bitrate / crf / preset / gop: encoder settings, as for ``Player``.
        output_format: FFmpeg muxer for every output (None: from each name or protocol).
        output_options: FFmpeg protocol/muxer options, e.g. ``{"rtsp_transport": "udp"}``,
            ``{"hls_list_size": 0}``.
        segment_time: seconds: outputs named with a pattern get a new file every
            ``segment_time`` seconds (at the next keyframe; set ``gop`` to fps times it for
            exact cuts), numbered (``"rec-%03d.mp4"``) or dated (``"rec-%Y%m%d-%H%M%S.mp4"``);
            for ``.m3u8`` it is the HLS segment length; other outputs stay whole.
        rotation: display rotation written into the output, degrees (None: none).
        reconnect_delay_max: longest wait between reconnect attempts of a stream (None: 10 s).
        scale_other_sizes: False (default): a frame of another size than the first raises
            ``ValueError``. True: it is scaled to the output's size (a warning is logged for each
            new size), for a source that changes size mid-stream (a camera switching resolution,
            a spliced broadcast), as the ffmpeg CLI and ``Player(output=...)`` do. Host frames only.
        device: where the frames handed to ``write()`` live: "cpu" (numpy arrays, CPU tensors,
            host frames), or "cuda"/"cuda:N": CUDA tensors (``__dlpack__`` on that GPU, (H, W, 3)
            in ``pixel_format`` order or (H, W, 4) bgra/rgba; bgra tensors of any DLPack producer
            are read in place, other layouts are rearranged once with torch) and device frames, encoded by NVENC
            straight from device memory, or by the software encoder after one download per frame
            to pinned memory when NVENC is absent (``stats.encode_path`` says which). Raises
            ``HardwareError`` naming libcuda, the driver or the device when CUDA cannot be used.
            Pixels on the other device raise ``DeviceMismatchError`` naming the fix.

    Example::

        with vistream.Reader("in.mp4") as reader, vistream.Writer("out.mp4", fps=reader.info.fps) as writer:
            for frame in reader:
                frame.array[:40] = 0
                writer.write(frame)
    """

    def __init__(
        self,
        path_or_url: "OutputName | Sequence[OutputName]",
        fps: float,
        size: Optional[Tuple[int, int]] = None,
        encoder: str = _DEFAULTS.encoder,
        audio: "str | os.PathLike[str] | None" = None,
        *,
        pixel_format: str = "bgr24",
        codec: str = _DEFAULTS.codec,
        bitrate: Optional[int] = _DEFAULTS.bitrate,
        crf: Optional[int] = _DEFAULTS.crf,
        preset: Optional[str] = _DEFAULTS.preset,
        gop: Optional[int] = _DEFAULTS.gop,
        output_format: Optional[str] = None,
        output_options: Optional[OutputOptions] = None,
        segment_time: Optional[float] = None,
        rotation: Optional[float] = None,
        reconnect_delay_max: Optional[float] = None,
        device: str = "cpu",
        scale_other_sizes: bool = False,
    ) -> None:
        names = output_names(path_or_url)
        if not isinstance(device, str):
            raise TypeError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {type(device).__name__}")
        device = device.strip().lower()
        if device != "cpu":
            device = f"cuda:{_core._cuda_device(device)}"  # HardwareError here, before any output exists
        self.device = device
        from . import _arguments

        self._audio = _arguments.source_string(audio) if audio is not None else None
        if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction)):
            raise TypeError(f"fps must be a number of frames per second, not {type(fps).__name__}")
        if not float(fps) > 0 or float(fps) == float("inf"):
            raise ValueError(f"fps must be > 0, got {fps!r}")
        self.fps = float(fps)
        if size is not None:
            if (not isinstance(size, (tuple, list)) or len(size) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
                raise ValueError(f"size must be (width, height) with positive ints, got {size!r}")
            size = (int(size[0]), int(size[1]))
        if not isinstance(pixel_format, str):
            raise TypeError("pixel_format must be a string such as 'bgr24' or 'rgb24'")
        pixel_format = _FORMAT_ALIASES.get(pixel_format.lower(), pixel_format.lower())
        if pixel_format not in _ARRAY_FORMATS:
            raise ValueError(f"pixel_format must be one of {', '.join(_ARRAY_FORMATS)}, got {pixel_format!r}")
        self.pixel_format = pixel_format
        self.size: Optional[Tuple[int, int]] = size
        if not isinstance(scale_other_sizes, (bool, np.bool_)):
            raise TypeError(f"scale_other_sizes must be True or False, not {type(scale_other_sizes).__name__}")
        self.scale_other_sizes = bool(scale_other_sizes)
        # Converted and checked now (TypeError/ValueError naming the option), not at the first frame.
        self._options = _core.EncoderOptions(
            encoder=encoder, codec=codec, bitrate=bitrate, crf=crf, preset=preset, gop=gop,
            output_format=output_format, output_options=output_option_pairs(output_options),
            segment_time=segment_time, rotation=rotation, reconnect_delay_max=reconnect_delay_max, device=device)
        self._pending: List[PendingOutput] = pending_outputs(names, segment_time, output_format)
        self.outputs = names
        self._core: Optional[_core.Writer] = None
        self._closed = False
        self._written: Optional[str] = None
        _logging.sync_level()
        if size is not None:
            self._open(size, pixel_format if device == "cpu" else "bgr0")

    def _open(self, size: Tuple[int, int], pixel_format: str) -> "_core.Writer":
        try:
            self._core = _core.Writer([p.partial for p in self._pending], self._options, size[0], size[1],
                                      pixel_format, self.fps, self._audio, self.scale_other_sizes)
        except Exception as error:
            message = str(error)
            for pending in self._pending:
                message = message.replace(pending.partial, pending.name)
            if message != str(error):
                raise type(error)(message) from None
            raise
        finally:
            _core.flush_logs()
        self.size = size
        return self._core

    def write(self, frame: Any, time: Optional[float] = None) -> bool:
        """Encodes one frame and writes it to every output.

        ``frame``: a vistream ``Frame`` (from a Reader or a Player callback; referenced, not
        copied), a numpy array (H, W, 3) uint8 in ``pixel_format`` order ((H, W, 4) for
        bgra/rgba, (H, W) for gray), or a DLPack tensor of that shape (a CPU torch tensor).
        ``time``: seconds; None = one frame after the previous one (``n / fps``).

        Returns False when the frame was dropped because its time did not grow. Raises
        ``TypeError`` for another dtype or object, ``ValueError`` for another shape or size.
        """
        if self._closed:
            raise ValueError("write() on a closed Writer")
        if time is not None and (isinstance(time, bool) or not isinstance(time, (int, float))):
            raise TypeError(f"time must be a number of seconds, not {type(time).__name__}")
        try:
            if isinstance(frame, _core.Frame):
                return self._write_frame(frame, time)
            if self.device != "cpu":
                return self._write_tensor(frame, time)
            where = _dlpack_device_name(frame)
            if where not in (None, "cpu"):
                raise DeviceMismatchError(
                    f"this Writer encodes from host memory (device='cpu') and the {type(frame).__name__} is on "
                    f"{where}: open the Writer with device={where!r} (encodes from device memory), or pass "
                    "tensor.cpu()")
            return self._write_array(_as_array(frame), time)
        finally:
            _core.flush_logs()

    def _write_frame(self, frame: "_core.Frame", time: Optional[float]) -> bool:
        if (frame.device == "cpu") != (self.device == "cpu"):
            fix = ("open the Writer with device=" + repr(frame.device) if frame.device != "cpu"
                   else "open the Writer with device='cpu'")
            raise DeviceMismatchError(f"this Writer encodes from {self.device} memory and the frame is on "
                                      f"{frame.device}: {fix}"
                                      + (", or write frame.download()" if frame.device != "cpu" else ""))
        writer = self._core
        if writer is None:
            writer = self._open((frame.width, frame.height), frame.format if self.device == "cpu" else "bgr0")
        return writer.write_frame(frame, time)

    def _write_tensor(self, tensor: Any, time: Optional[float]) -> bool:
        where = _dlpack_device_name(tensor)
        if where != self.device:
            raise DeviceMismatchError(
                f"this Writer encodes from {self.device} memory (device={self.device!r}) and the "
                f"{type(tensor).__name__} is " + (f"on {where}" if where else "not a DLPack tensor")
                + f": pass CUDA tensors on {self.device} (tensor.to({self.device!r})), or open the Writer with "
                "device='cpu' for host arrays")
        if self.pixel_format == "bgra":
            picture = tensor  # already what NVENC takes (bgr0: the 4th byte is ignored); read in place
        else:
            from .torch_convert import to_bgr0

            picture = to_bgr0(tensor, self.pixel_format)  # one copy on the device, with torch
        shape = getattr(picture, "shape", None)  # torch, cupy, jax...; the engine checks the rest
        size = (int(shape[1]), int(shape[0])) if shape is not None and len(shape) >= 2 else self.size
        if size is None:
            raise ValueError(f"the {type(tensor).__name__} has no shape: give the Writer size=(width, height)")
        if self._core is not None and size != self.size:
            raise ValueError(f"frame is {size[0]}x{size[1]}; this writer writes {self.size[0]}x{self.size[1]}")
        writer = self._core
        if writer is None:
            writer = self._open(size, "bgr0")
        return writer.write_tensor(picture, time)

    def _write_array(self, array: np.ndarray, time: Optional[float]) -> bool:
        if array.dtype != np.uint8:
            raise TypeError(f"frames must be uint8, got dtype {array.dtype}")
        channels = _ARRAY_FORMATS[self.pixel_format]
        expected = "(H, W)" if channels == 1 else f"(H, W, {channels})"
        ok = array.ndim == 2 if channels == 1 else (array.ndim == 3 and array.shape[2] == channels)
        if not ok:
            raise ValueError(f"frames in {self.pixel_format} must have shape {expected}, got {array.shape}")
        size = (array.shape[1], array.shape[0])
        if self._core is not None and size != self.size and not self.scale_other_sizes:
            raise ValueError(f"frame is {size[0]}x{size[1]}; this writer writes {self.size[0]}x{self.size[1]}")
        if array.strides[1] != (channels if channels > 1 else 1) or (channels > 1 and array.strides[2] != 1) \
                or array.strides[0] < 0:
            array = np.ascontiguousarray(array)
        writer = self._core
        if writer is None:
            writer = self._open(size, self.pixel_format)
        return writer.write_array(array, time)

    def close(self, error: Optional[BaseException] = None) -> Optional[str]:
        """Flushes the encoder, finalizes every output and moves files into place. Idempotent.

        ``error``: the exception that ended the writing, if any (the ``with`` block's): files
        are then kept under their partial names and the final names left as they were.
        Returns where the (first) output now is, or None when nothing was written.
        """
        if self._closed:
            return self._written
        self._closed = True
        close_error: Optional[BaseException] = None
        if self._core is not None:
            try:
                self._core.close()
            except BaseException as caught:  # finalize the files before raising
                close_error = caught
            finally:
                _core.flush_logs()
        written = self._core._stats()["frames_written"] if self._core is not None else 0
        reason = error or close_error
        results = []
        for pending in self._pending:
            try:
                results.append(pending.finish(reason, wrote_anything=written > 0))
            except OSError as rename_error:
                if reason is None:
                    raise
                logging.getLogger("vistream").warning("could not move %s into place: %s", pending.partial, rename_error)
                results.append(pending.partial)
        self._written = results[0] if results else None
        if reason is not None:
            for pending, where in zip(self._pending, results):
                note_partial(reason, where, pending.final)
        if close_error is not None:
            raise close_error
        if written == 0:
            logging.getLogger("vistream").warning("no frame was written: %s not written", ", ".join(self.outputs))
        return self._written

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exc)

    def __del__(self) -> None:
        # A writer dropped without close() still leaves finalized files (renamed into place).
        try:
            if not getattr(self, "_closed", True):
                self.close()
        except Exception:
            pass

    @property
    def encoder(self) -> Optional[str]:
        """The FFmpeg encoder in use (None before the first frame)."""
        return self._core.encoder if self._core is not None else None

    @property
    def stats(self) -> WriterStats:
        """Frames written and dropped, and each output's state."""
        if self._core is None:
            return WriterStats(frames_written=0, frames_dropped=0, timestamps_filled=0, encoder=None, size=None,
                               outputs=(), output=self._written)
        counters = self._core._stats()
        outputs = tuple(OutputStats(**output) for output in counters.pop("outputs"))
        for output, pending in zip(outputs, self._pending):
            object.__setattr__(output, "url", pending.name)  # the user's name, not the partial one
        return WriterStats(**counters, size=self.size, outputs=outputs, output=self._written)

    def __repr__(self) -> str:
        return f"<vistream.Writer {self.outputs!r} {self.size} @ {self.fps:g} fps>"


__all__ = ["Writer"]
