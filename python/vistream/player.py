"""``Player``: the engine. Decodes a source, calls Python on every frame, encodes the result."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np

from . import _arguments, _core, _logging
from .connection import ConnectionCallback, connection_dispatcher
from ._output_file import (OutputName, OutputOptions, PendingOutput, note_partial, output_names,
                           output_option_pairs, pending_outputs, same_file)
from .errors import EncoderError, VistreamError
from .media_info import MediaInfo
from .reader import CaptureSize, InputOptions, Timeout, _input_arguments, _timeout_pair, _warn_unused
from .stats import CacheStats, OutputStats, PlayerStats
from .web.options import WebOptions, web_options_of

FrameCallback = Callable[[_core.Frame], Optional[np.ndarray]]

# Playback speeds the player accepts, [MIN_SPEED, MAX_SPEED]: the engine's one range (it checks
# it; the CLI reads the same constants to refuse a bad --speed before opening anything).
MIN_SPEED, MAX_SPEED = _core.SPEED_RANGE

# The engine's defaults, shown in the signature: they are written once, in C++ (PlayerOptions).
_DEFAULTS = _core.PlayerOptions()


class Position(NamedTuple):
    """Where the player is: the last frame handed to the callback (index -1 before any)."""

    index: int
    time: float


def _open_engine(pending: Optional[PendingOutput], *args, **kwargs) -> "_core.Player":
    """``_core.Player(*args, **kwargs)``; errors that name the temporary output name the user's instead."""
    try:
        return _core.Player(*args, **kwargs)
    except (ValueError, VistreamError) as error:
        if pending is not None and pending.partial != pending.name and pending.partial in str(error):
            raise type(error)(str(error).replace(pending.partial, pending.name)) from None
        raise


def _resolve_display(display: "bool | str | None") -> bool:
    """Whether to open a window. True is checked by the engine when the Player is built: no
    window possible raises ``VistreamError`` with the reason. "auto" opens one when it can,
    else warns (one line, the reason) and runs headless."""
    if display in (False, None):
        return False
    if display is True:
        return True
    if display == "auto":
        available, reason = _core.Player.display_available()
        if not available:
            warnings.warn(f"display='auto': running headless: {reason}", RuntimeWarning, stacklevel=3)
        return available
    raise ValueError("display must be True, False or 'auto'")


class Player:
    """Runs source -> decode -> filter -> your callback -> encoder -> file.

    Decoding, the callback and encoding run on separate threads (the callback always on the
    thread that called ``run()``); the GIL is held only while the callback runs.

    Args:
        source: path or URL.
        vfilter / afilter: FFmpeg filter graphs for video (before the callback) and audio.
        output: file to write (.mp4, .mkv, .mov, .ts): H.264 yuv420p video with the source's
            timestamps, plus the source audio (copied when the container allows, else AAC).
            It is written as ``NAME.partial-XXXXXX.EXT`` in the same folder and renamed to
            ``output`` when ``run()`` ends or is interrupted (Ctrl-C, SIGTERM, ``stop()``), so
            an earlier file of that name is replaced only by a finished one. When the run fails
            (an exception), ``output`` is left as it was and the partial file is kept; the
            exception's note (``__notes__``) names it. A run that encodes no frame writes
            nothing. The source itself is refused as output (ValueError). URLs (``rtmp://``,
            ``pipe:1``) and devices are written directly. A list writes several outputs from
            one encoding (``["rec.mp4", "rtmp://server/live/key"]``): a stream that fails is
            retried with backoff while the files go on (``stats.outputs``). Streams:
            ``rtmp://`` (FLV), ``rtsp://`` (publish), ``srt://``/``udp://`` (MPEG-TS); HLS
            (``.m3u8``) and segmented recordings are written in place. See docs/api.md "Outputs".
        output_format / output_options / segment_time / rotation / reconnect_delay_max: how
            the outputs are written, as for ``Writer``; rotation None carries the source's
            display rotation into the outputs (unless the frames are already upright).
            ``reconnect_delay_max`` caps the waits of both the source's and the network
            outputs' reconnects.
        encoder: "auto" (h264_nvenc, then libx264, libopenh264, mpeg4) or an FFmpeg encoder name.
        codec: what "auto" looks for: "h264", "hevc", "av1", "mpeg4", "vp9", "vp8"; a container
            that cannot carry it (.webm) gets the first of h264, hevc, vp9, av1, vp8, mpeg4 it can.
        bitrate / crf / preset / gop: encoder settings (None = encoder default).
        hwaccel: decoding device, as for ``Reader``.
        display: True opens a window showing the frames after the callback (with keyboard
            controls: space pause, arrows seek ±5 s (shift ±60 s), ``.``/``,`` step, Home/End,
            f fullscreen, q/Esc quit; click the progress bar to seek); "auto" opens one when
            a display is available, else runs headless; False never does.
        fullscreen / osd / title: window options (OSD = progress bar and status line).
        loop: start over at the end (seekable sources) until ``stop()``.
        play_audio: play the sound (default: when ``audio`` and playing at the media's pace,
            i.e. real-time mode or a window; offline with a slow callback the sound is held
            until the picture catches up).
            Its clock drives video timing (A/V sync). Without an audio device the player
            warns and plays video only.
        mode: "offline" (every frame through the callback, as fast as possible) or
            "realtime" (frames released at the media's pace; the callback always gets the
            newest frame, frames it could not take are dropped and counted).
        speed: playback speed of the real-time clock (1.0 = the media's pace).
        paused: start paused (control with ``resume()``, ``step()``, ``seek()``).
        exit_at_end: end ``run()`` when the source ends; False keeps it running (seeks and
            steps still work) until ``stop()``.
        audio: copy the source audio into ``output``.
        start / end: seconds; the output starts at ``start`` (timestamps shifted to 0).
        format: pixel format handed to the callback (see ``Reader``).
        threads: decoder threads, 0 = one per core.
        cache_bytes: bytes of recently decoded frames kept for instant backward steps (local,
            seekable sources; 0 = none).
        timeout: seconds a network source may stall (open, or read) before ``run()`` ends with
            ``SourceTimeoutError`` (the output is finalized); see ``Reader``.
        camera / input_format / input_options / capture_size / capture_fps / capture_format:
            how to open the source (cameras, devices, RTSP transport, TLS...), as for ``Reader``.
        autorotate: turn frames upright as the source's rotation metadata asks (as ``Reader``);
            the callback, the window and ``output`` get upright frames. False: as stored.
        low_latency: FFmpeg's low-delay flags (see ``Reader``). Live sources in "realtime"
            mode are always handed over newest-first, whatever this says (docs/api.md, "Latency").
        reconnect / reconnect_delay / reconnect_delay_max / reconnect_attempts: what to do when a
            live source is lost, as for ``Reader``. Across a reconnect the callback's frames
            start a new ``serial`` (``discontinuity`` is True on the first), their index and
            time continue after the last frame, and ``output`` keeps being written (one
            forward timeline). When the attempts run out, ``run()`` raises the last failure
            after finalizing ``output``.
        on_disconnect / on_reconnect / on_error: callables getting a ``ConnectionEvent`` (see
            ``vistream.connection``), called on the engine's source thread.
        device: where frames live: "cpu"; "cuda"/"cuda:N" (NVDEC frames stay on that GPU: the
            callback gets device frames, ``torch.from_dlpack(frame)`` is an (H, W, 3) BGR view of
            the picture the window and ``output`` get, edit it in place or return a CUDA tensor
            or a numpy array; ``output`` is encoded by NVENC from device memory, else after one
            download per frame, see ``stats.encode_path``); "auto": the GPU when NVDEC opens
            there, else the CPU (``info.hwaccel_note`` and ``stats.device`` say which). An
            explicit "cuda" that cannot work raises ``HardwareError`` naming the cause, as for
            ``Reader``. See docs/gpu.md.
        cache_device_bytes: GPU memory the back-step cache may hold in device frames, apart
            from ``cache_bytes`` (host memory); 0 = device frames are not cached.
        web: serve a web view of the run (docs/web.md): a port (on 127.0.0.1), or
            ``vistream.web.WebOptions`` (host, token, ...). It starts with ``run()`` and stops when
            ``run()`` ends; the page shows the frames after the callback, with pause, seek, step
            and speed. Needs ``pip install 'vistream[web]'``.

    A value of the wrong type raises ``TypeError``, one out of range ``ValueError``; both name
    the option. The defaults shown are the engine's (``vistream._core.PlayerOptions``).

    Example::

        player = vistream.Player("in.mp4", output="out.mp4")

        @player.on_frame
        def draw(frame):
            frame.array[100:200, 100:300] = (0, 0, 255)   # red box, drawn in place

        stats = player.run()
        print(stats.frames_encoded, stats.fps)
    """

    def __init__(
        self,
        source: "str | os.PathLike[str] | None" = None,
        *,
        vfilter: Optional[str] = _DEFAULTS.source.vfilter,
        afilter: Optional[str] = _DEFAULTS.afilter,
        output: "OutputName | Sequence[OutputName] | None" = None,
        encoder: str = _DEFAULTS.encoder.encoder,
        hwaccel: Optional[str] = _DEFAULTS.source.hwaccel,
        display: "bool | str | None" = _DEFAULTS.display,
        mode: str = _DEFAULTS.mode,
        audio: bool = _DEFAULTS.audio,
        start: float = _DEFAULTS.start,
        end: Optional[float] = _DEFAULTS.end,
        format: str = _DEFAULTS.source.format,
        codec: str = _DEFAULTS.encoder.codec,
        bitrate: Optional[int] = _DEFAULTS.encoder.bitrate,
        crf: Optional[int] = _DEFAULTS.encoder.crf,
        preset: Optional[str] = _DEFAULTS.encoder.preset,
        gop: Optional[int] = _DEFAULTS.encoder.gop,
        threads: int = _DEFAULTS.source.threads,
        speed: float = _DEFAULTS.speed,
        paused: bool = _DEFAULTS.paused,
        exit_at_end: bool = _DEFAULTS.exit_at_end,
        cache_bytes: int = _DEFAULTS.source.cache_bytes,
        fullscreen: bool = _DEFAULTS.display_options.fullscreen,
        osd: bool = _DEFAULTS.display_options.osd,
        title: Optional[str] = _DEFAULTS.display_options.title,
        loop: bool = _DEFAULTS.loop,
        play_audio: Optional[bool] = _DEFAULTS.play_audio,
        timeout: Timeout = None,
        camera: Optional[int] = None,
        input_format: Optional[str] = None,
        input_options: Optional[InputOptions] = None,
        capture_size: Optional[CaptureSize] = None,
        capture_fps: Optional[float] = None,
        capture_format: Optional[str] = None,
        autorotate: bool = _DEFAULTS.source.autorotate,
        low_latency: bool = _DEFAULTS.source.low_latency,
        output_format: Optional[str] = None,
        output_options: Optional[OutputOptions] = None,
        segment_time: Optional[float] = None,
        rotation: Optional[float] = None,
        reconnect: "str | bool" = _DEFAULTS.source.reconnect,
        reconnect_delay: float = _DEFAULTS.source.reconnect_delay,
        reconnect_delay_max: float = _DEFAULTS.source.reconnect_delay_max,
        reconnect_attempts: Optional[int] = _DEFAULTS.source.reconnect_attempts,
        on_disconnect: Optional[ConnectionCallback] = None,
        on_reconnect: Optional[ConnectionCallback] = None,
        on_error: Optional[ConnectionCallback] = None,
        device: str = _DEFAULTS.source.device,
        cache_device_bytes: int = _DEFAULTS.source.cache_device_bytes,
        web: "int | WebOptions | None" = None,
    ) -> None:
        web_options = web_options_of(web)  # checked before anything is opened
        dispatch = connection_dispatcher(on_disconnect, on_reconnect, on_error)
        url, demuxer, demuxer_options = _input_arguments(source, camera, input_format, input_options, capture_size,
                                                         capture_fps, capture_format)
        show_window = _resolve_display(display)
        self._pending: Optional[PendingOutput] = None
        self._pending_all: "list[PendingOutput]" = []
        self._written: Optional[str] = None
        self._output_finished = False
        if output is not None:
            names = output_names(output)
            for name in names:
                if same_file(name, url):
                    raise ValueError(f"output {name!r} is the source file: writing it would destroy the input; "
                                     "choose another name")
            self._pending_all = pending_outputs(names, segment_time, output_format)
            self._pending = self._pending_all[0]
        # Forwarded as given: the engine converts (TypeError naming the option) and checks
        # (ValueError naming the option) every value, and decides what is left unset.
        open_timeout, read_timeout = _timeout_pair(timeout)
        options = _core.PlayerOptions(
            source=_core.SourceOptions(format=format, vfilter=vfilter, hwaccel=hwaccel, threads=threads,
                                       cache_bytes=cache_bytes, open_timeout=open_timeout,
                                       read_timeout=read_timeout, input_format=demuxer or None,
                                       input_options=demuxer_options, autorotate=autorotate,
                                       low_latency=low_latency, reconnect=reconnect,
                                       reconnect_delay=reconnect_delay, reconnect_delay_max=reconnect_delay_max,
                                       reconnect_attempts=reconnect_attempts, device=device,
                                       cache_device_bytes=cache_device_bytes),
            encoder=_core.EncoderOptions(encoder=encoder, codec=codec, bitrate=bitrate, crf=crf, preset=preset,
                                         gop=gop, output_format=output_format,
                                         output_options=output_option_pairs(output_options),
                                         segment_time=segment_time, rotation=rotation,
                                         reconnect_delay_max=reconnect_delay_max,
                                         extra_outputs=[p.partial for p in self._pending_all[1:]]),
            display_options=_core.DisplayOptions(fullscreen=fullscreen, osd=osd, title=title),
            output=self._pending.partial if self._pending else None,
            afilter=afilter, audio=audio, start=start, end=end, mode=mode, speed=speed, paused=paused,
            exit_at_end=exit_at_end, loop=loop, play_audio=play_audio, display=show_window,
        )
        self.source = url
        #: "offline" or "realtime"
        self.mode = mode
        self.output = self._pending.name if self._pending else None
        self._callback: Optional[FrameCallback] = None
        _logging.sync_level()
        self._core = _open_engine(self._pending, url, options)
        if dispatch is not None:
            self._core._set_connection_callback(dispatch)
        _warn_unused(self._core, url)
        self.display = show_window
        self._web = web_options
        #: the running web view (``web=``): set while ``run()`` runs, else None
        self.web_view = None

    def on_frame(self, fn: FrameCallback) -> FrameCallback:
        """Registers the per-frame callback; usable as a decorator.

        ``fn(frame)`` runs once per frame, in display order, on the thread running ``run()``.
        Edit ``frame.array`` in place, or return an array of the same shape and dtype to
        replace the frame's pixels.
        """
        if not callable(fn):
            raise TypeError("on_frame() needs a callable")
        self._callback = fn
        self._core.set_callback(fn)
        bind = getattr(fn, "_bind_player", None)  # a Pipeline: decoupled inference needs the mode
        if callable(bind):
            bind(self)
        return fn

    def on_key(self, fn: Callable[[str], Optional[bool]]) -> Callable[[str], Optional[bool]]:
        """Registers a handler for keys pressed in the window; usable as a decorator.

        ``fn(key)`` gets the key's name in lower case with modifiers ("space", "a",
        "shift+left", "ctrl+s") on the window's thread, before the built-in bindings; return
        True to mark the key handled (the built-in action is skipped).
        """
        if not callable(fn):
            raise TypeError("on_key() needs a callable")
        self._key_callback = fn
        self._core.set_key_callback(fn)
        return fn

    def run(self) -> PlayerStats:
        """Processes the source to the end (or ``stop()``), then returns ``stats`` (a ``PlayerStats``).

        An exception raised by the callback stops the pipeline, the output file is finalized
        with every frame before the failure (kept under its partial name, see ``output``), and
        the same exception is re-raised here.
        """
        error: Optional[BaseException] = None
        view = None
        try:
            view = self._start_web_view()
            self._core.run()
        except BaseException as caught:
            error = caught
            raise
        finally:
            try:
                if view is not None:
                    view.stop()
                    self.web_view = None
            finally:
                self._finish_output(error)
        return self.stats

    def _start_web_view(self):
        """``web=``: the view serving this run, its callback publishing every annotated frame."""
        if self._web is None:
            return None
        from .web import WebView

        callback = self._callback
        pipeline = callback if callable(getattr(callback, "dashboard", None)) else getattr(callback, "pipeline", None)
        view = WebView.from_options(self, self._web, pipeline=pipeline)
        view.install()
        view.start()
        self.web_view = view
        return view

    def _finish_output(self, error: Optional[BaseException]) -> None:
        if not self._pending_all or self._output_finished:
            return  # run() called again: it raised before touching the output
        self._output_finished = True
        encoded = self._core._stats()["frames_encoded"]  # the native snapshot is a dict
        finalized = self._core._output_finalized()
        for number, pending in enumerate(self._pending_all):
            try:
                written = pending.finish(error, wrote_anything=encoded > 0, finalized=finalized)
            except OSError as rename_error:
                if error is None:
                    raise
                note_partial(error, pending.partial, pending.final)  # the run's own error is the one to raise
                logging.getLogger("vistream").warning("could not move %s into place: %s", pending.partial,
                                                      rename_error)
                continue
            if number == 0:
                self._written = written
            if error is not None:
                note_partial(error, written, pending.final)
                if written is None and encoded > 0 and hasattr(error, "add_note"):
                    error.add_note(f"the output could not be completed and was removed; {pending.final} "
                                   "was left as it was")
            elif written is None and encoded > 0 and not pending.direct:
                # Frames were written, yet there is no file: the partial file (or its folder) was
                # removed under the run. Returning normally would report a success that lost them.
                raise EncoderError(f"{encoded} frames were encoded into {pending.partial}, but it is gone "
                                   f"(removed, or its folder was); {pending.final} was not written")
            elif written is None:
                logging.getLogger("vistream").warning("no frame was encoded: %s not written", pending.name)

    def stop(self) -> None:
        """Asks ``run()`` to finish early (thread-safe, callable from the callback).

        Ends any wait at once, including a read from a stalled network source: ``run()``
        returns within a fraction of a second, with the output finalized."""
        self._core.stop()

    def pause(self) -> None:
        """Pauses playback (thread-safe; callable from the callback)."""
        self._core.pause()

    def resume(self) -> None:
        """Resumes playback."""
        self._core.resume()

    @property
    def paused(self) -> bool:
        return self._core.paused()

    def seek(self, time: Optional[float] = None, index: Optional[int] = None) -> None:
        """Frame-exact seek: the next frame the callback gets is exactly ``index`` (or the
        first frame at or after ``time`` seconds). Past the end clamps to the last frame.
        While paused, the callback runs once on the frame sought to. Raises ``SourceError``
        on sources that cannot seek (live streams). Thread-safe.
        """
        kind, target = _arguments.seek_target(time, index)
        if kind == "index":
            self._core.seek_index(target)
        else:
            self._core.seek_time(target)

    def step(self, frames: int = 1) -> None:
        """Pauses, then moves ``frames`` frames from the current position (negative = back).

        The callback runs on the frame stepped to (``frame.revisit`` tells whether it has
        seen that index before). Backward steps of any distance are exact: recent frames
        come from a cache, older ones are re-decoded from the previous keyframe.
        """
        if isinstance(frames, bool) or not isinstance(frames, int):
            raise TypeError("frames must be an int")
        self._core.step(frames)

    def set_speed(self, speed: float) -> None:
        """Changes the real-time playback speed (1.0 = normal)."""
        if isinstance(speed, bool) or not isinstance(speed, (int, float)):
            raise TypeError("speed must be a number")
        self._core.set_speed(float(speed))  # the engine checks the range (ValueError)

    @property
    def speed(self) -> float:
        """Current playback speed (1.0 = the media's pace)."""
        return self._core.speed()

    @property
    def position(self) -> Position:
        """The last frame handed to the callback: ``Position(index, time)``."""
        return Position(*self._core.position())

    @property
    def stats(self) -> PlayerStats:
        """The counters now (see ``PlayerStats``); ``output`` is set once ``run()`` ended."""
        counters = self._core._stats()
        counters["cache"] = CacheStats(**counters["cache"])
        outputs = []
        for status, pending in zip(counters.pop("outputs"), self._pending_all):
            status["url"] = pending.name  # the user's name, not the temporary one
            outputs.append(OutputStats(**status))
        return PlayerStats(**counters, output=self._written, outputs=tuple(outputs))

    @property
    def frames_shown(self) -> int:
        """Frames the window has shown so far (0 without a window)."""
        return self._core.frames_shown()

    @property
    def info(self) -> MediaInfo:
        return MediaInfo(**self._core._info())

    def __repr__(self) -> str:
        return f"<vistream.Player {self.source!r} -> {self.output!r}>"
