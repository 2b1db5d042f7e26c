"""
vistream native engine (private; use the vistream package)
"""
from __future__ import annotations
import collections.abc
import numpy
import typing
import typing_extensions
__all__: list[str] = ['CancelToken', 'DisplayOptions', 'EncoderOptions', 'Frame', 'FramePlane', 'ImageWindow', 'Player', 'PlayerOptions', 'Reader', 'SPEED_RANGE', 'SourceOptions', 'Writer', 'av_log_level', 'capabilities', 'copy_with_embedding', 'cuda_kernels_built', 'encoder_candidates', 'ffmpeg_versions', 'flush_logs', 'read_embedded_text', 'set_av_log_level', 'transfer_stats', 'video_frame_times']
class FramePlane:
    """
    One plane of a frame, exported with DLPack (np/torch.from_dlpack).
    """
    def __dlpack__(self, *args, **kwargs) -> typing_extensions.CapsuleType:
        ...
    def __dlpack_device__(self) -> tuple:
        ...
    @property
    def data_ptr(self) -> int:
        """
        address of the plane's first sample (a CUdeviceptr for device frames)
        """
    @property
    def device(self) -> str:
        ...
    @property
    def dtype(self) -> str:
        ...
    @property
    def shape(self) -> tuple:
        ...
    @property
    def strides(self) -> tuple:
        """
        strides in elements (DLPack's unit), from the frame's pitch
        """
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
        """
        DLPack export (array API): bgr24/rgb24/gray/rgba/bgra host frames as they are; device frames as
        BGR (H, W, 3) uint8 on their GPU, converted once. stream: the consumer's CUDA stream (None = legacy
        default, 1, 2, a handle, -1 = no sync); must be None for host frames.
        """
    def __dlpack_device__(self) -> tuple:
        ...
    def __repr__(self) -> str:
        ...
    def download(self) -> Frame:
        """
        A host-memory copy of a device frame (nv12/p010le; counted in vistream.transfer_stats()).
        """
    def export_planes(self) -> list:
        """
        One DLPack exporter per plane (nv12: Y (H, W) and UV (H/2, W/2, 2); p010le the same in uint16;
        yuv420p: Y, U, V), strides from the frame's pitch; on the GPU for device frames.
        """
    @property
    def array(self) -> typing.Any:
        """
        uint8 numpy view, zero-copy: HxWxC (HxW for gray; (H*3/2)xW for yuv420p/nv12)
        """
    @property
    def capture_time(self) -> float | None:
        """
        live sources: when the frame was captured, seconds since the Unix epoch (see PlayerStats.latency_clock for the clock); None for files
        """
    @property
    def color_matrix(self) -> int:
        """
        the stream's YUV matrix as FFmpeg's AVColorSpace number (1 bt709, 5/6 bt601, 9 bt2020, 2 unspecified)
        """
    @property
    def device(self) -> str:
        """
        'cpu', or 'cuda:N' for a frame in GPU memory
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
    def full_range(self) -> bool:
        """
        True for full-range (JPEG) YUV, False for limited (TV) or unspecified
        """
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
    def reconnected(self) -> bool:
        """
        True on the frames of a generation a live source's reconnect started: they continue the previous frames in time (a gap while the source was down, not a seek), so a Pipeline keeps its tracks across it. False otherwise and for Reader frames.
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
class SourceOptions:
    """
    What to decode and how: a Reader's options, a Player's `source`.
    """
    def __init__(self, **kwargs) -> None:
        """
        Keyword arguments: any of the attributes below; the others keep their defaults.
        """
    def __repr__(self) -> str:
        ...
    @property
    def autorotate(self) -> bool:
        """
        Turn frames upright as the stream's rotation metadata asks (like ffmpeg); False: as stored.
        """
    @autorotate.setter
    def autorotate(self, arg0: bool) -> None:
        ...
    @property
    def cache_bytes(self) -> int:
        """
        Bytes of recently decoded frames kept for instant backward steps (0 = none; indexed sources).
        """
    @cache_bytes.setter
    def cache_bytes(self, arg1: int) -> None:
        ...
    @property
    def cache_device_bytes(self) -> int:
        """
        Bytes of GPU memory the back-step cache may hold in device frames (device='cuda'), apart from cache_bytes (0 = device frames are not cached).
        """
    @cache_device_bytes.setter
    def cache_device_bytes(self, arg1: int) -> None:
        ...
    @property
    def device(self) -> str:
        """
        Where decoded frames live: 'cpu', 'cuda[:N]' (NVDEC frames stay in that GPU's memory), or 'auto' (cuda:0 when NVDEC opens there, else the CPU; info.hwaccel_note says why).
        """
    @device.setter
    def device(self, arg1: str) -> None:
        ...
    @property
    def format(self) -> str:
        """
        Pixel format of the frames: bgr24, rgb24, gray, rgba, bgra, yuv420p, nv12 (aliases bgr, rgb, grey).
        """
    @format.setter
    def format(self, arg1: str) -> None:
        ...
    @property
    def hwaccel(self) -> str:
        """
        Decoding device: 'none' (None), 'auto' (cuda, vaapi, then software) or a device type.
        """
    @hwaccel.setter
    def hwaccel(self, arg1: str | None) -> None:
        ...
    @property
    def input_format(self) -> str | None:
        """
        FFmpeg input format or device (v4l2, lavfi, rawvideo...); None: probed from the source.
        """
    @input_format.setter
    def input_format(self, arg1: str | None) -> None:
        ...
    @property
    def input_options(self) -> list[tuple[str, str]]:
        """
        Options for the protocol and demuxer (avformat_open_input's dictionary), in order.
        """
    @input_options.setter
    def input_options(self, arg1: collections.abc.Sequence[tuple[str, str]]) -> None:
        ...
    @property
    def low_latency(self) -> bool:
        """
        FFmpeg's low-delay flags: fflags=nobuffer, max_delay=0 (unless input_options set them), decoder flag low_delay and slice threads only.
        """
    @low_latency.setter
    def low_latency(self, arg0: bool) -> None:
        ...
    @property
    def open_timeout(self) -> float | None:
        """
        Seconds a network source may take to open (None: the default, inf: never).
        """
    @open_timeout.setter
    def open_timeout(self, arg1: float | None) -> None:
        ...
    @property
    def read_timeout(self) -> float | None:
        """
        Seconds a network read may stall (None: the default, inf: never).
        """
    @read_timeout.setter
    def read_timeout(self, arg1: float | None) -> None:
        ...
    @property
    def reconnect(self) -> str:
        """
        When a source is lost, reopen it: 'auto' (live sources: network URLs and devices; files never), 'always' (True), 'never' (False).
        """
    @reconnect.setter
    def reconnect(self, arg1: bool | str) -> None:
        ...
    @property
    def reconnect_attempts(self) -> int | None:
        """
        Reconnect attempts per outage before the error is raised (None: forever).
        """
    @reconnect_attempts.setter
    def reconnect_attempts(self, arg1: int | None) -> None:
        ...
    @property
    def reconnect_delay(self) -> float:
        """
        Seconds before the first reconnect attempt; each further wait doubles (with 10% jitter).
        """
    @reconnect_delay.setter
    def reconnect_delay(self, arg1: float) -> None:
        ...
    @property
    def reconnect_delay_max(self) -> float:
        """
        The longest wait between reconnect attempts.
        """
    @reconnect_delay_max.setter
    def reconnect_delay_max(self, arg1: float) -> None:
        ...
    @property
    def threads(self) -> int:
        """
        Decoder threads, 0 = one per core.
        """
    @threads.setter
    def threads(self, arg1: int) -> None:
        ...
    @property
    def vfilter(self) -> str | None:
        """
        FFmpeg video filter graph applied before the pixel conversion (None: none).
        """
    @vfilter.setter
    def vfilter(self, arg1: str | None) -> None:
        ...
class EncoderOptions:
    """
    How a Player encodes its output.
    """
    def __init__(self, **kwargs) -> None:
        """
        Keyword arguments: any of the attributes below; the others keep their defaults.
        """
    def __repr__(self) -> str:
        ...
    @property
    def bitrate(self) -> int | None:
        """
        Bits per second (None: the encoder's default).
        """
    @bitrate.setter
    def bitrate(self, arg1: int | None) -> None:
        ...
    @property
    def codec(self) -> str:
        """
        What 'auto' looks for: h264, hevc, av1, mpeg4, vp9, vp8 (a container that cannot carry it, such as .webm, gets the first of h264, hevc, vp9, av1, vp8, mpeg4 it can).
        """
    @codec.setter
    def codec(self, arg1: str) -> None:
        ...
    @property
    def crf(self) -> int | None:
        """
        Constant rate factor (None: the encoder's default).
        """
    @crf.setter
    def crf(self, arg1: int | None) -> None:
        ...
    @property
    def device(self) -> str:
        """
        Where the frames to encode live: 'cpu', or 'cuda[:N]' (BGR0 pictures in that GPU's memory: NVENC takes them without a host copy, other encoders get one download per frame).
        """
    @device.setter
    def device(self, arg1: str) -> None:
        ...
    @property
    def encoder(self) -> str:
        """
        'auto' (the best available for `codec`) or an FFmpeg encoder name.
        """
    @encoder.setter
    def encoder(self, arg1: str) -> None:
        ...
    @property
    def extra_outputs(self) -> list[str]:
        """
        More outputs written from the same encoding (several outputs at once).
        """
    @extra_outputs.setter
    def extra_outputs(self, arg1: collections.abc.Sequence[str]) -> None:
        ...
    @property
    def gop(self) -> int | None:
        """
        Frames between keyframes (None: the encoder's default).
        """
    @gop.setter
    def gop(self, arg1: int | None) -> None:
        ...
    @property
    def output_format(self) -> str | None:
        """
        Container of every output (flv, mpegts, rtsp, hls, segment...); None: from each name.
        """
    @output_format.setter
    def output_format(self, arg1: str | None) -> None:
        ...
    @property
    def output_options(self) -> list[tuple[str, str]]:
        """
        Protocol and muxer options of every output (avio_open2/avformat_write_header), in order.
        """
    @output_options.setter
    def output_options(self, arg1: collections.abc.Sequence[tuple[str, str]]) -> None:
        ...
    @property
    def preset(self) -> str | None:
        """
        Encoder preset (None: the encoder's default).
        """
    @preset.setter
    def preset(self, arg1: str | None) -> None:
        ...
    @property
    def reconnect_delay_max(self) -> float | None:
        """
        Network outputs: longest wait between reconnect attempts (None: 10 s).
        """
    @reconnect_delay_max.setter
    def reconnect_delay_max(self, arg1: float | None) -> None:
        ...
    @property
    def rotation(self) -> float | None:
        """
        Display rotation written into the outputs (None: the source's, unless frames are upright).
        """
    @rotation.setter
    def rotation(self, arg1: float | None) -> None:
        ...
    @property
    def segment_time(self) -> float | None:
        """
        Segmented recording: a new file every this many seconds (HLS: the segment length).
        """
    @segment_time.setter
    def segment_time(self, arg1: float | None) -> None:
        ...
class DisplayOptions:
    """
    The Player's window.
    """
    def __init__(self, **kwargs) -> None:
        """
        Keyword arguments: any of the attributes below; the others keep their defaults.
        """
    def __repr__(self) -> str:
        ...
    @property
    def fullscreen(self) -> bool:
        """
        Start in full screen.
        """
    @fullscreen.setter
    def fullscreen(self, arg0: bool) -> None:
        ...
    @property
    def osd(self) -> bool:
        """
        Progress bar and status line, shown on mouse move.
        """
    @osd.setter
    def osd(self, arg0: bool) -> None:
        ...
    @property
    def title(self) -> str | None:
        """
        Window title (None: 'vistream - ' and the source's name).
        """
    @title.setter
    def title(self, arg1: str | None) -> None:
        ...
class PlayerOptions:
    """
    Everything a Player is asked to do. Checked by the Player's constructor (ValueError naming the option).
    """
    def __init__(self, **kwargs) -> None:
        """
        Keyword arguments: any of the attributes below; the others keep their defaults.
        """
    def __repr__(self) -> str:
        ...
    @property
    def afilter(self) -> str | None:
        """
        FFmpeg audio filter graph, for the output and the sound played (None: none).
        """
    @afilter.setter
    def afilter(self, arg1: str | None) -> None:
        ...
    @property
    def audio(self) -> bool:
        """
        Copy (or transcode) the source audio into `output`.
        """
    @audio.setter
    def audio(self, arg0: bool) -> None:
        ...
    @property
    def display(self) -> bool:
        """
        Open a window.
        """
    @display.setter
    def display(self, arg0: bool) -> None:
        ...
    @property
    def display_options(self) -> DisplayOptions:
        """
        The window, when `display` (edited in place).
        """
    @display_options.setter
    def display_options(self, arg0: DisplayOptions) -> None:
        ...
    @property
    def encoder(self) -> EncoderOptions:
        """
        Encoding of `output` (edited in place).
        """
    @encoder.setter
    def encoder(self, arg0: EncoderOptions) -> None:
        ...
    @property
    def end(self) -> float | None:
        """
        Where to stop, seconds (> start; None: the end).
        """
    @end.setter
    def end(self, arg1: float | None) -> None:
        ...
    @property
    def exit_at_end(self) -> bool:
        """
        End run() when the source ends while playing (False: until stop()).
        """
    @exit_at_end.setter
    def exit_at_end(self, arg0: bool) -> None:
        ...
    @property
    def loop(self) -> bool:
        """
        Start over at the end, until stop().
        """
    @loop.setter
    def loop(self, arg0: bool) -> None:
        ...
    @property
    def mode(self) -> str:
        """
        'offline' (every frame, as fast as possible) or 'realtime' (at the media's pace, dropping).
        """
    @mode.setter
    def mode(self, arg1: str) -> None:
        ...
    @property
    def output(self) -> str | None:
        """
        File or URL written (None: none).
        """
    @output.setter
    def output(self, arg1: str | None) -> None:
        ...
    @property
    def paused(self) -> bool:
        """
        Start paused.
        """
    @paused.setter
    def paused(self, arg0: bool) -> None:
        ...
    @property
    def play_audio(self) -> bool | None:
        """
        Play the sound (None: when `audio` and the playback is paced; see plays_audio).
        """
    @play_audio.setter
    def play_audio(self, arg0: bool | None) -> None:
        ...
    @property
    def plays_audio(self) -> bool:
        """
        Whether a Player with these options plays the sound: the one place this is decided.
        """
    @property
    def source(self) -> SourceOptions:
        """
        Decoding (edited in place).
        """
    @source.setter
    def source(self, arg0: SourceOptions) -> None:
        ...
    @property
    def speed(self) -> float:
        """
        Playback speed of the real-time clock, within SPEED_RANGE.
        """
    @speed.setter
    def speed(self, arg1: float) -> None:
        ...
    @property
    def start(self) -> float:
        """
        Where to start, seconds (>= 0); the output's timestamps start at 0 there.
        """
    @start.setter
    def start(self, arg1: float) -> None:
        ...
class Writer:
    """
    Encodes frames once and writes them to one or more outputs (use vistream.Writer).
    """
    def __init__(self, outputs: collections.abc.Sequence[str], options: EncoderOptions, width: typing.SupportsInt | typing.SupportsIndex, height: typing.SupportsInt | typing.SupportsIndex, pixel_format: str, fps: typing.SupportsFloat | typing.SupportsIndex, audio: str | None = None, scale_other_sizes: bool = False) -> None:
        ...
    def _stats(self) -> dict:
        ...
    def close(self) -> None:
        """
        Flushes the encoder and finalizes every output. Idempotent.
        """
    def write_array(self, array: numpy.ndarray, time: typing.SupportsFloat | typing.SupportsIndex | None = None) -> bool:
        """
        Encodes an HxWxC uint8 array in the writer's pixel format (read in place).
        """
    def write_frame(self, frame: Frame, time: typing.SupportsFloat | typing.SupportsIndex | None = None) -> bool:
        """
        Encodes a core Frame (referenced, not copied); False when the timestamp guard dropped it.
        """
    def write_tensor(self, tensor: typing.Any, time: typing.SupportsFloat | typing.SupportsIndex | None = None) -> bool:
        """
        Encodes an (H, W, 4) uint8 BGR0 CUDA tensor (DLPack, writer opened with device='cuda'): NVENC takes it from device memory, other encoders after one download.
        """
    @property
    def encoder(self) -> str:
        """
        The FFmpeg encoder in use.
        """
    @property
    def size(self) -> tuple:
        """
        (width, height) of the frames written.
        """
class ImageWindow:
    """
    A window showing BGR numpy pictures with text on top; reports keys and clicks.
    """
    def __init__(self, title: str, width: typing.SupportsInt | typing.SupportsIndex, height: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def close(self) -> None:
        """
        Closes the window (idempotent).
        """
    def poll_events(self) -> list:
        """
        Events since the last call, oldest first: dicts with kind ('key', 'click', 'close'), key, x, y (a click's picture pixel, -1 outside the picture).
        """
    def show(self, picture: numpy.ndarray, texts: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex, str]] = []) -> bool:
        """
        Shows an (H, W, 3) uint8 BGR picture (copied) with texts [(x, y, text)] in picture pixels. False once closed.
        """
    @property
    def closed(self) -> bool:
        ...
    @property
    def frames_shown(self) -> int:
        ...
class CancelToken:
    """
    Ends a Reader's blocking calls from another thread, including its open: pass it as Reader(..., cancel=token), then token.cancel() (sticky; the Reader raises CancelledError).
    """
    def __init__(self) -> None:
        ...
    def cancel(self) -> None:
        """
        Ends the blocking call in progress and every later one.
        """
    @property
    def cancelled(self) -> bool:
        """
        True once cancel() was called.
        """
class Reader:
    def __init__(self, source: str, options: SourceOptions, cancel: CancelToken = None) -> None:
        ...
    def __next__(self) -> typing.Any:
        ...
    def _frame_at(self, index: typing.SupportsInt | typing.SupportsIndex) -> typing.Any:
        ...
    def _frames_at(self, indices: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], stack: bool) -> typing.Any:
        ...
    def _frames_played_at(self, times: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], stack: bool) -> typing.Any:
        ...
    def _info(self) -> dict:
        ...
    def _set_connection_callback(self, callback: typing.Any) -> None:
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
    def __init__(self, source: str, options: PlayerOptions) -> None:
        ...
    def _audio_clock(self) -> tuple[typing.Any, int]:
        ...
    def _info(self) -> dict:
        ...
    def _output_finalized(self) -> bool:
        ...
    def _set_connection_callback(self, callback: typing.Any) -> None:
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
def _count_host_to_device(bytes: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Counts an upload made in Python (a callback's numpy array copied into a device picture).
    """
def _cuda_device(device: str) -> int:
    """
    Opens the process's CUDA device object for 'cuda'/'cuda:N' (its ordinal); HardwareError naming libcuda, the driver or the device when it cannot.
    """
def _dlpack_consumer_stream(stream: typing.Any, device_ordinal: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    The CUDA stream handle __dlpack__(stream=...) orders after vistream's work (0: none); raises as __dlpack__ does. For tests of the array-API stream rules on machines without a GPU.
    """
def av_log_level() -> int:
    ...
def capabilities() -> dict:
    """
    Probes FFmpeg, hardware devices, encoders, the CUDA driver and SDL (see vistream.capabilities()).
    """
def copy_with_embedding(source: str, destination: str, tracks: list, attachments: list, video_width: typing.SupportsInt | typing.SupportsIndex = 0, video_height: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
    """
    Copies every stream of `source` into the new file `destination` and adds text tracks ({'name', 'language', 'default', 'samples': [(start_ms, duration_ms, text)]}: mov_text in mp4/mov, ASS in mkv) and attachments ({'filename', 'mimetype', 'data': bytes}; mkv only).
    """
def cuda_kernels_built() -> bool:
    """
    True when this build embeds the CUDA colour-conversion kernels (else device frames convert with torch).
    """
def encoder_candidates(arg0: str) -> list[str]:
    ...
def ffmpeg_versions() -> dict:
    ...
def flush_logs() -> None:
    ...
def read_embedded_text(path: str, samples_of: str = '') -> dict:
    """
    The text subtitle tracks and attachments of a file; samples only of the tracks named `samples_of`.
    """
def set_av_log_level(arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Level (AV_LOG_*) above which FFmpeg messages are dropped
    """
def transfer_stats() -> dict:
    """
    Host<->device copies of this process so far (decoder downloads, frame.download()).
    """
def video_frame_times(path: str) -> list[float]:
    """
    Presentation times (seconds, ascending) of the first video stream's packets.
    """
SPEED_RANGE: tuple = (0.0625, 16.0)
