"""
vistream native engine (private; use the vistream package)
"""
from __future__ import annotations
import collections.abc
import typing
import typing_extensions
__all__: list[str] = ['Frame', 'Player', 'Reader', 'SPEED_RANGE', 'av_log_level', 'encoder_candidates', 'ffmpeg_versions', 'flush_logs', 'set_av_log_level']
class Frame:
    """
    A decoded video frame.
    
    ``frame.array`` is a writable numpy view of the frame's own buffer (no copy); edits made in a
    Player callback are what gets encoded and shown. For bgr24/rgb24/rgba/bgra it is HxWxC, for gray
    HxW, for yuv420p and nv12 the stacked (H*3/2)xW layout (Y rows, then U and V, or interleaved UV);
    ``frame.planes`` are views of the same memory, one per plane. ``np.asarray(frame)``,
    ``np.from_dlpack(frame)`` and ``torch.from_dlpack(frame)`` (packed formats) share it too.
    
    Example::
    
        for frame in vistream.Reader("clip.mp4"):
            frame.array[:10] = 0          # black band on top
            print(frame.index, frame.time)
    """
    def __array__(self, dtype: typing.Any = None, copy: typing.Any = None) -> typing.Any:
        ...
    def __dlpack__(self, *args, **kwargs) -> typing_extensions.CapsuleType:
        ...
    def __dlpack_device__(self) -> tuple[int, int]:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def array(self) -> typing.Any:
        """
        uint8 numpy view, zero-copy: HxWxC (HxW for gray; (H*3/2)xW for yuv420p/nv12)
        """
    @property
    def discontinuity(self) -> bool:
        """
        True on the first frame the callback gets of a new timeline generation (the run's first frame, after a seek, a backward step, a loop restart); False for the next frame in order and after frames dropped in real time. Always False for Reader frames.
        """
    @property
    def format(self) -> str:
        ...
    @property
    def height(self) -> int:
        ...
    @property
    def index(self) -> int:
        """
        0-based index in display order
        """
    @property
    def planes(self) -> list:
        """
        zero-copy numpy view of each image plane
        """
    @property
    def pts(self) -> int:
        """
        timestamp in the stream time base
        """
    @property
    def revisit(self) -> bool:
        """
        True when the player shows this index again (seek/step back)
        """
    @property
    def serial(self) -> typing.Any:
        """
        Timeline generation of a Player's frame (int): a seek, a backward step and a loop restart start a new one. None for frames not from a Player (Reader).
        """
    @property
    def shape(self) -> tuple:
        ...
    @property
    def time(self) -> float:
        """
        timestamp in seconds
        """
    @property
    def width(self) -> int:
        ...
class Reader:
    def __init__(self, source: str, format: str, vfilter: str, hwaccel: str, threads: typing.SupportsInt | typing.SupportsIndex, open_timeout: typing.SupportsFloat | typing.SupportsIndex = -1.0, read_timeout: typing.SupportsFloat | typing.SupportsIndex = -1.0, input_format: str = '', input_options: collections.abc.Sequence[tuple[str, str]] = []) -> None:
        ...
    def __next__(self) -> typing.Any:
        ...
    def _frame_at(self, index: typing.SupportsInt | typing.SupportsIndex) -> typing.Any:
        ...
    def _info(self) -> dict:
        ...
    def _stats(self) -> dict:
        ...
    def _unused_input_options(self) -> list[str]:
        ...
    def close(self) -> None:
        ...
    def count_frames(self) -> int:
        ...
    def seek_index(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def seek_time(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class Player:
    @staticmethod
    def display_available() -> tuple[bool, str]:
        ...
    def __init__(self, source: str, format: str, vfilter: str, afilter: str, output: str, encoder: str, codec: str, bitrate: typing.SupportsInt | typing.SupportsIndex, crf: typing.SupportsInt | typing.SupportsIndex, preset: str, gop: typing.SupportsInt | typing.SupportsIndex, hwaccel: str, threads: typing.SupportsInt | typing.SupportsIndex, audio: bool, start: typing.SupportsFloat | typing.SupportsIndex, end: typing.SupportsFloat | typing.SupportsIndex, mode: str, speed: typing.SupportsFloat | typing.SupportsIndex, start_paused: bool, exit_at_end: bool, cache_bytes: typing.SupportsInt | typing.SupportsIndex, display: bool, fullscreen: bool, osd: bool, title: str, loop: bool, play_audio: bool, open_timeout: typing.SupportsFloat | typing.SupportsIndex = -1.0, read_timeout: typing.SupportsFloat | typing.SupportsIndex = -1.0, input_format: str = '', input_options: collections.abc.Sequence[tuple[str, str]] = []) -> None:
        ...
    def _audio_clock(self) -> tuple[typing.Any, int]:
        ...
    def _info(self) -> dict:
        ...
    def _stats(self) -> dict:
        ...
    def _unused_input_options(self) -> list[str]:
        ...
    def frames_shown(self) -> int:
        ...
    def pause(self) -> None:
        ...
    def paused(self) -> bool:
        ...
    def position(self) -> tuple[int, float]:
        ...
    def resume(self) -> None:
        ...
    def run(self) -> None:
        ...
    def seek_index(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def seek_time(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    def set_callback(self, arg0: typing.Any) -> None:
        ...
    def set_key_callback(self, arg0: typing.Any) -> None:
        ...
    def set_speed(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    def speed(self) -> float:
        ...
    def step(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def stop(self) -> None:
        ...
def av_log_level() -> int:
    ...
def encoder_candidates(arg0: str) -> list[str]:
    ...
def ffmpeg_versions() -> dict:
    ...
def flush_logs() -> None:
    ...
def set_av_log_level(arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Level (AV_LOG_*) above which FFmpeg messages are dropped
    """
SPEED_RANGE: tuple = (0.0625, 16.0)
