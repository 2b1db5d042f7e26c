"""Command line: ``vistream play``, ``vistream demo`` and ``vistream report`` (also ``python -m vistream ...``).

``play`` plays a file or URL in a window (or headless), optionally writing what it shows::

    vistream play clip.mp4 --speed 1.5 --start 10
    vistream play rtsp://camera/stream --realtime --output recording.mp4

``demo`` makes a sample clip, detects and tracks what moves on every frame (MotionDetector +
ByteTrack, no download), draws boxes, ids and trails, and encodes the annotated video with the
source audio::

    python -m vistream demo --output demo.mp4

``serve`` runs the play pipeline in real-time mode and serves a web page showing the annotated
video live, with pause/seek/step/speed and the pipeline's panels (docs/web.md)::

    vistream serve clip.mp4 --detector motion --tracker bytetrack --port 8000

``report`` turns a ``--results`` .jsonl file into plots and one self-contained HTML page::

    vistream report tracks.jsonl -o report.html --video street.mp4 --annotated tracked.mp4

Exit status: 0 done, 1 the run failed (or processed no frame), 2 a usage error (one line on
stderr, no traceback; ``-v`` shows tracebacks), 130 Ctrl-C, 143 SIGTERM (both keep the output
written so far, finalized and playable).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import statistics
import sys
import threading
import traceback
import warnings
from collections import Counter
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

from . import _arguments
from ._output_file import check_folder_writable, is_url, same_file
from .errors import VistreamError
from .player import MAX_SPEED, MIN_SPEED, Player, _resolve_display
from .results import RESULTS_FORMATS
from .sample_media import sample_video
from .stats import PlayerStats

# Containers the H.264 + AAC/copied-audio output can go into (FFmpeg picks the muxer from the extension).
OUTPUT_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".ts", ".m2ts", ".avi", ".flv", ".nut", ".m3u8")

_DETECTORS = ("none", "motion", "hog", "mtcnn", "yolox")
_TRACKERS = ("none", "bytetrack", "botsort", "ocsort", "sort")


class UsageError(Exception):
    """A mistake in the command line: reported as one line, exit status 2."""


class Terminated(SystemExit):
    """SIGTERM, raised in the main thread at the run loop's next check (as Ctrl-C raises
    KeyboardInterrupt): the player and the results writer finalize and keep what was written."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + message and exits; we want one line
        raise UsageError(message)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM (docker stop, systemd, timeout) raises ``Terminated`` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_stop_between_frames(stop: Callable[[], None]) -> Iterator[None]:
    """While inside, the first Ctrl-C or SIGTERM calls ``stop()`` instead of raising wherever the
    main thread is, which could be inside the frame callback, after the frame's results record was
    written and before the frame was counted and encoded (a record the video does not have). The
    run then ends after the frame in hand, so the results and the video hold the same frames. A
    second signal raises at once (a callback that hangs). On leaving, the signal that stopped the
    run is raised as ``KeyboardInterrupt`` or ``Terminated``, as before."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    received: List[int] = []

    def raised(signum: int) -> BaseException:
        return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def handler(signum, frame):
        if received:
            raise raised(signum)
        received.append(signum)
        stop()

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, action in previous.items():
            signal.signal(number, action)
    if received:
        raise raised(received[0])


def _demo(args: argparse.Namespace) -> int:
    from .annotate import BoxAnnotator, LabelAnnotator, TraceAnnotator
    from .detect import MotionDetector
    from .pipeline import Pipeline
    from .track import ByteTrack

    source = args.source or str(sample_video())
    player = Player(source, output=args.output, encoder=args.encoder)
    pipeline = Pipeline(MotionDetector(), ByteTrack(frame_rate=player.info.fps or 30),
                        [TraceAnnotator(), BoxAnnotator(), LabelAnnotator()])
    frames_with_boxes = 0
    frames_per_track: dict = {}

    @player.on_frame
    def annotate(frame):
        nonlocal frames_with_boxes
        pipeline(frame)
        frames_with_boxes += bool(len(pipeline.last))
        for track_id in pipeline.last.tracker_id:
            frames_per_track[int(track_id)] = frames_per_track.get(int(track_id), 0) + 1
        image = frame.array  # progress bar along the bottom edge
        done = int(image.shape[1] * (frame.index + 1) / max(1, player.info.frame_count))
        image[-6:, :done] = (0, 255, 0)

    stats = player.run()
    followed = sum(1 for n in frames_per_track.values() if n >= stats.frames_encoded / 2)
    print(f"{source} -> {args.output}: {stats.frames_encoded} frames, motion boxes on {frames_with_boxes}, "
          f"{followed} objects tracked over half the clip or more, {stats.fps:.1f} fps, "
          f"encoder {stats.encoder}, audio {stats.audio}")
    return 0


def _report_command(args: argparse.Namespace) -> int:
    from .report import write_report

    for flag, path in (("results", args.results), ("--video", args.video), ("--annotated", args.annotated)):
        if path is not None and not is_url(path) and not os.path.isfile(path):
            raise UsageError(f"{flag} {path!r}: no such file")
    if not args.output.lower().endswith((".html", ".htm")):
        raise UsageError(f"--output {args.output!r}: the report is an HTML page, name it .html")
    _check_writable(args.output, "--output")
    report = write_report(args.results, args.output, video=args.video, annotated=args.annotated)
    print(f"wrote {report.html} ({len(report.images)} plots, PNGs in {report.html.stem}_files/)")
    return 0


def add_play_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``vistream play`` (shared with python/play.py)."""
    parser.add_argument("source", nargs="?",
                        help="file or URL to play ('-' reads standard input); omit with --camera")
    parser.add_argument("--vfilter", help="FFmpeg video filter graph, e.g. 'scale=1280:-2'")
    parser.add_argument("--afilter", help="FFmpeg audio filter graph for the output file, e.g. 'volume=0.5'")
    parser.add_argument("--no-audio", action="store_true", help="leave the audio out of --output")
    parser.add_argument("--no-video", action="store_true", help="no window (same as --headless)")
    parser.add_argument("--start", type=float, default=0.0, help="start at this time (seconds)")
    parser.add_argument("--end", type=float, help="stop at this time (seconds)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help=f"playback speed of the window / real-time clock, {MIN_SPEED:g} to {MAX_SPEED:g}")
    parser.add_argument("--fullscreen", action="store_true")
    parser.add_argument("--no-osd", action="store_true", help="no progress bar / status line in the window")
    parser.add_argument("--headless", action="store_true", help="never open a window")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--realtime", dest="mode", action="store_const", const="realtime",
                      help="play at the media's pace, dropping frames the callback cannot take (default only "
                           "with a window and neither --output nor --results; drops are counted in the summary)")
    mode.add_argument("--offline", dest="mode", action="store_const", const="offline",
                      help="process every frame (the default with --output/--results or without a window; "
                           "shown at the media's pace with a window)")
    parser.set_defaults(mode=None)
    parser.add_argument("--output", help="write the processed video (with the source audio) to this file "
                                         f"({', '.join(OUTPUT_EXTENSIONS)}) or URL")
    parser.add_argument("--also-output", action="append", default=[], metavar="PATH_OR_URL",
                        help="another output written from the same encoding, e.g. a stream beside the "
                             "--output recording (repeatable); a failing stream is retried, the file goes on")
    parser.add_argument("--output-format", metavar="MUXER",
                        help="FFmpeg muxer of the outputs (flv, mpegts, rtsp, hls...; default: from the "
                             "name or protocol: rtmp:// flv, srt:// and udp:// mpegts, rtsp:// rtsp)")
    parser.add_argument("--output-option", action="append", default=[], metavar="KEY=VALUE",
                        help="FFmpeg protocol/muxer option of the outputs, e.g. rtsp_transport=tcp (repeatable)")
    parser.add_argument("--segment-time", type=float, metavar="SECONDS",
                        help="record in segments of this length (name them with %%03d or strftime fields "
                             "such as %%Y%%m%%d-%%H%%M%%S); for .m3u8 the HLS segment length")
    parser.add_argument("--encoder", default="auto", help="FFmpeg encoder name or 'auto'")
    parser.add_argument("--gop", type=int, metavar="FRAMES",
                        help="frames between keyframes of the output (segments and stream joins start at one)")
    parser.add_argument("--hwaccel", default="auto",
                        help="decoding device: auto (NVDEC, VAAPI, else the CPU; the default), none, cuda, cuda:N, vaapi")
    parser.add_argument("--loop", action="store_true", help="start over at the end")
    parser.add_argument("--paused", action="store_true", help="start paused (needs a window)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or progress lines")
    inputs = parser.add_argument_group("input (how the source is opened; see 'Live sources' in docs/api.md)")
    inputs.add_argument("--input-format", metavar="NAME",
                        help="FFmpeg demuxer or device instead of probing: v4l2, lavfi, mpegts, rawvideo, ...")
    inputs.add_argument("--input-option", metavar="KEY=VALUE", action="append", default=[],
                        help="FFmpeg option for opening the source (repeatable), e.g. probesize=32768, "
                             "tls_verify=0, use_wallclock_as_timestamps=1")
    inputs.add_argument("--rtsp-transport", choices=("tcp", "udp", "auto"),
                        help="RTSP transport (auto: UDP, then TCP; FFmpeg's default)")
    inputs.add_argument("--camera", type=int, metavar="N", help="open V4L2 camera N (/dev/videoN) instead of a source")
    inputs.add_argument("--capture-size", metavar="WxH", help="size to ask a camera/device for, e.g. 1280x720")
    inputs.add_argument("--capture-fps", metavar="RATE", help="frame rate to ask a camera/device for, e.g. 30")
    inputs.add_argument("--low-latency", action="store_true",
                        help="FFmpeg's low-delay flags (nobuffer, small probe, no decoder frame delay)")
    inputs.add_argument("--reconnect", choices=("auto", "always", "never"),
                        help="when the source is lost (read error, stall, end of a stream): auto reconnects "
                             "live sources (network, cameras) and never files (the default); always; never")
    inputs.add_argument("--reconnect-delay", type=float, metavar="SECONDS",
                        help="wait before the first reconnect attempt (doubles per attempt; default 0.5)")
    inputs.add_argument("--reconnect-delay-max", type=float, metavar="SECONDS",
                        help="longest wait between reconnect attempts (default 10; also caps network outputs')")
    inputs.add_argument("--reconnect-attempts", type=int, metavar="N",
                        help="attempts per outage before giving up with the last error (default: forever)")
    plugins = parser.add_argument_group("analysis plugins")
    plugins.add_argument("--detector", choices=_DETECTORS, default="none",
                         help="detector run on every frame (motion/hog/mtcnn need no download; "
                              "mtcnn finds faces and needs facenet-pytorch)")
    plugins.add_argument("--bytetrack", metavar="OPTIONS",
                         help="YOLOX + ByteTrack, e.g. \"ckpt_file=auto;fp16=True\"; keys: ckpt_file (path, auto "
                              "or URL), model, fp16, bf16, device, conf, nms, track_thresh, match_thresh, "
                              "track_buffer, classes (e.g. 0+2), trt_file, onnx_file, trust_checkpoint")
    plugins.add_argument("--botsort", metavar="OPTIONS",
                         help="YOLOX + BoT-SORT (camera-motion compensated), e.g. \"ckpt_file=auto;gmc=ecc\"; "
                              "keys: those of --bytetrack plus gmc (sparse_flow, ecc, none), new_track_thresh, "
                              "proximity_thresh, appearance_thresh")
    plugins.add_argument("--tracker", choices=_TRACKERS, default="none",
                         help="tracker giving each detection a stable id (botsort: compensates camera motion; "
                              "ocsort: keeps ids through occlusions)")
    plugins.add_argument("--annotate", default="box,label,trail",
                         help="comma list of box,label,trail,dot,blur,pixelate,mask,keypoints,heatmap "
                              "(default box,label,trail)")
    plugins.add_argument("--line", action="append", default=[], metavar="[NAME=]X1,Y1,X2,Y2",
                         help="count tracks crossing this line, each way (repeatable; pixels, or 0..1 of the "
                              "frame when all four are within 0..1); needs a tracker; see docs/analytics.md")
    plugins.add_argument("--zones", metavar="FILE",
                         help="named lines and polygons from a YAML/JSON file: crossings, occupancy, dwell times "
                              "and enter/exit events, drawn, printed at the end and in --results .jsonl")
    plugins.add_argument("--classifier", metavar="MODEL",
                         help="an image classifier (.onnx or TensorRT .engine: vistream.OnnxClassifier) run on each "
                              "detection's box (top-1 name in the label, classifications in --results) or, with "
                              "--classify frame, on the whole frame")
    plugins.add_argument("--classify", choices=("box", "frame"), default="box", help="what --classifier classifies")
    plugins.add_argument("--classifier-every", type=int, default=1, metavar="N",
                         help="run the --classifier every N frames (held in between)")
    plugins.add_argument("--every", type=int, help="run the detector every N frames")
    plugins.add_argument("--interval", type=float, metavar="SECONDS",
                         help="run the detector at most once per SECONDS of media time (with --every: both)")
    plugins.add_argument("--results", help="write per-frame results (.jsonl, .txt MOTChallenge, .csv)")
    plugins.add_argument("--embed-results", action="store_true",
                         help="put the per-frame results into the --output video (.mp4, .m4v, .mov, .mkv) once it "
                              "is written: a subtitle track of labels and track ids any player shows, and the "
                              "full .jsonl records (mkv: attachment vistream-results.jsonl; mp4/mov: text track "
                              "'vistream-results'); read them with vistream.read_results(VIDEO)")
    # no argparse choices: "play --decoupled clip.mp4" must keep working (_check_decoupled_worker)
    plugins.add_argument("--decoupled", nargs="?", const="thread", default=False, metavar="{thread,process}",
                         help="real-time playback never waits for the detector: it runs apart on the newest frame "
                              "and every frame shows the latest tracks moved forward to it (implies --realtime; "
                              "the summary and .jsonl results say how many frames behind the results were); "
                              "on a worker thread (default) or, for a detector that holds the GIL (pure Python), "
                              "in a worker process ('--decoupled process')")
    from .sinks.spec import SPEC_HELP, sink_argument
    plugins.add_argument("--sink", action="append", type=sink_argument, metavar="SPEC",
                         help=f"also send every frame's results record (the --results .jsonl line) to {SPEC_HELP}; "
                              "repeatable; network sinks are batched and retried without slowing the run "
                              "(see docs/sinks.md)")


def _source_url(source: str) -> str:
    return "pipe:0" if source == "-" else source


def check_play_arguments(args: argparse.Namespace) -> None:
    """Every check that needs no file opened: conflicting flags, ranges, extensions, folders,
    plugin options, detector/tracker/results combinations. Raises ``UsageError``."""
    headless = args.headless or args.no_video
    _check_decoupled_worker(args)
    _check_input_arguments(args)
    source = _source_url(args.source)
    if headless and args.fullscreen:
        raise UsageError("--fullscreen needs a window: drop --headless/--no-video or --fullscreen")
    if headless and args.paused:
        raise UsageError("--paused needs a window to resume from: drop --headless/--no-video or --paused")
    if not MIN_SPEED <= args.speed <= MAX_SPEED:
        raise UsageError(f"--speed must be between {MIN_SPEED:g} and {MAX_SPEED:g}, got {args.speed:g}")
    if args.start < 0:
        raise UsageError(f"--start must be >= 0 seconds, got {args.start:g}")
    if args.end is not None and args.end <= args.start:
        raise UsageError(f"--start ({args.start:g} s) must be before --end ({args.end:g} s)")

    yolox_options = args.bytetrack is not None or args.botsort is not None
    if args.bytetrack is not None and args.botsort is not None:
        raise UsageError("--bytetrack and --botsort are alternatives: give one")
    if yolox_options and (args.detector != "none" or args.tracker != "none"):
        flag = "--bytetrack" if args.bytetrack is not None else "--botsort"
        raise UsageError(f"{flag} brings its own detector (YOLOX) and tracker: drop --detector/--tracker "
                         "(or use --detector yolox --tracker NAME)")
    has_detector = args.detector != "none" or yolox_options
    has_tracker = args.tracker != "none" or yolox_options
    if args.tracker != "none" and not has_detector:
        raise UsageError(f"--tracker {args.tracker} needs a detector to track: add --detector "
                         f"{'|'.join(_DETECTORS[1:])} (or use --bytetrack / --botsort)")
    if (args.every is not None or args.interval is not None) and not has_detector:
        raise UsageError("--every/--interval set the detector's cadence: add a detector")
    if args.every is not None and args.every < 1:
        raise UsageError(f"--every must be >= 1, got {args.every}")
    if getattr(args, "classifier", None) and args.classify == "box" and not has_detector:
        raise UsageError("--classifier classifies each detection's box: add a detector, or --classify frame")
    if getattr(args, "classifier_every", 1) < 1:
        raise UsageError(f"--classifier-every must be >= 1, got {args.classifier_every}")
    if args.interval is not None and not args.interval > 0:
        raise UsageError(f"--interval must be > 0 seconds, got {args.interval:g}")
    if (getattr(args, "line", None) or getattr(args, "zones", None)) and not has_tracker:
        raise UsageError("--line/--zones count tracks: add --tracker bytetrack (with a --detector), or --bytetrack")
    _check_zone_arguments(args)
    if getattr(args, "decoupled", False) and not has_detector:
        raise UsageError("--decoupled runs the detector apart from playback: add a detector")
    if getattr(args, "decoupled", False) and args.mode == "offline":
        raise UsageError("--decoupled is for real-time playback (--offline runs the detector on every frame): "
                         "drop one of them")
    names = [n.strip().lower() for n in args.annotate.split(",") if n.strip()]
    unknown = [n for n in names if n not in _ANNOTATORS]
    if unknown:
        raise UsageError(f"--annotate: unknown {', '.join(unknown)}; valid: {', '.join(sorted(_ANNOTATORS))}")

    if args.segment_time is not None and not args.segment_time > 0:
        raise UsageError(f"--segment-time must be > 0 seconds, got {args.segment_time:g}")
    args.output_options = {}
    for item in args.output_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--output-option {item!r}: expected KEY=VALUE")
        args.output_options[key.strip()] = value
    if args.also_output and args.output is None:
        raise UsageError("--also-output needs --output (the first output)")
    for extra in args.also_output:
        if same_file(extra, source):
            raise UsageError(f"--also-output {extra!r} is the source file: writing it would destroy the input")
    if args.output is not None:
        if not is_url(args.output) and args.output_format is None and args.segment_time is None:
            extension = os.path.splitext(args.output)[1].lower()
            if extension not in OUTPUT_EXTENSIONS and not (os.path.exists(args.output)
                                                           and not os.path.isfile(args.output)):
                raise UsageError(f"--output {args.output!r}: the extension picks the container; use one of "
                                 f"{', '.join(OUTPUT_EXTENSIONS)}")
        if same_file(args.output, source):
            raise UsageError(f"--output {args.output!r} is the source file: writing it would destroy the input")
        if not is_url(args.output):
            _check_writable(args.output, "--output")
    if args.results is not None:
        extension = os.path.splitext(args.results)[1].lower()
        if extension not in RESULTS_FORMATS:
            raise UsageError(f"--results {args.results!r}: unknown format {extension or '(no extension)'}; "
                             "use .jsonl, .txt (MOTChallenge) or .csv")
        if same_file(args.results, source):
            raise UsageError(f"--results {args.results!r} is the source file: writing it would destroy the input")
        if args.output is not None and os.path.abspath(args.results) == os.path.abspath(args.output):
            raise UsageError("--results and --output name the same file")
        if not has_detector and not getattr(args, "classifier", None):  # a frame classifier writes too
            raise UsageError("--results writes what a detector finds: add --detector "
                             f"{'|'.join(_DETECTORS[1:])} (or --bytetrack / --botsort)")
        if RESULTS_FORMATS[extension] == "mot" and not has_tracker:
            raise UsageError(f"--results {args.results!r}: MOTChallenge rows need track ids: add --tracker "
                             f"{'|'.join(_TRACKERS[1:])}, or write .jsonl / .csv")
        _check_writable(args.results, "--results")
    if getattr(args, "embed_results", False):
        _check_embed_arguments(args, has_detector)
    if getattr(args, "sink", None) and not has_detector:
        raise UsageError("--sink sends what a detector finds: add --detector "
                         f"{'|'.join(_DETECTORS[1:])} (or --bytetrack / --botsort)")
    args.plugin_options = _plugin_options(args)


def _check_zone_arguments(args: argparse.Namespace) -> None:
    """--line values and the --zones file parse (relative coordinates checked against a 1x1 frame:
    the real size is known once the source is open)."""
    from .analytics import ZoneFileError, load_zones, parse_line

    try:
        for text in getattr(args, "line", None) or ():
            parse_line(text, (1, 1))
        if getattr(args, "zones", None):
            load_zones(args.zones, (1, 1))
    except ZoneFileError as error:
        raise UsageError(str(error)) from None


def _zone_analytics(args: argparse.Namespace):
    """The ZoneAnalytics of --line/--zones (None without them), in the frame's pixels."""
    from .analytics import ZoneAnalytics, load_zones, parse_line

    if not (getattr(args, "line", None) or getattr(args, "zones", None)):
        return None
    size = getattr(args, "frame_size", None)
    zones = dict(load_zones(args.zones, size)) if getattr(args, "zones", None) else {}
    for number, text in enumerate(getattr(args, "line", None) or (), start=1):
        line = parse_line(text, size)
        name = line.name or f"line{number}"
        if name in zones:
            raise UsageError(f"--line {text!r}: the name {name!r} is already a zone; name it NAME=X1,Y1,X2,Y2")
        zones[name] = line
    return ZoneAnalytics(zones)


def _zone_analytics_of(pipeline) -> "Any":
    """The ZoneAnalytics behind a pipeline's "zones" plugin, if any."""
    for plugin in getattr(pipeline, "plugins", ()):
        analytics = getattr(plugin.fn, "analytics", None)
        if analytics is not None:
            return analytics
    return None


def _embed_targets(args: argparse.Namespace) -> List[str]:
    """The outputs --embed-results writes into: the local mp4/mov/mkv files among them."""
    from .embedded_results import can_embed

    if not getattr(args, "embed_results", False) or args.output is None or args.segment_time is not None:
        return []
    return [path for path in [args.output, *args.also_output] if can_embed(path)]


def _check_embed_arguments(args: argparse.Namespace, has_detector: bool) -> None:
    if not has_detector:
        raise UsageError("--embed-results embeds what a detector finds: add --detector "
                         f"{'|'.join(_DETECTORS[1:])} (or --bytetrack / --botsort)")
    if args.output is None:
        raise UsageError("--embed-results puts the results into the --output video: add --output NAME.mp4|.mkv")
    if args.segment_time is not None or not _embed_targets(args) or _embed_targets(args)[0] != args.output:
        raise UsageError(f"--embed-results: --output {args.output!r} must be one local .mp4, .m4v, .mov or .mkv "
                         "file (subtitle tracks and attachments need one of these containers)")


def _check_decoupled_worker(args: argparse.Namespace) -> None:
    """--decoupled [thread|process]: a word that is neither, before a missing source, is the source."""
    worker = getattr(args, "decoupled", False)
    if worker in (False, "thread", "process"):
        return
    if args.source is None:
        args.source, args.decoupled = worker, "thread"
        return
    raise UsageError(f"--decoupled takes thread or process (or nothing: thread), got {worker!r}")


def _check_input_arguments(args: argparse.Namespace) -> None:
    """--camera / source, and the input flags parsed into ``args.input_options`` (a dict)."""
    if args.camera is not None:
        if args.source is not None:
            raise UsageError(f"give either a source or --camera, not both (got {args.source!r} and --camera "
                             f"{args.camera})")
        if args.camera < 0:
            raise UsageError(f"--camera must be a device number >= 0, got {args.camera}")
        args.source = f"/dev/video{args.camera}"
    elif args.source is None:
        raise UsageError("play needs a source (file, URL, '-' for standard input) or --camera N")
    options = {}
    try:
        for text in args.input_option:
            key, value = _arguments.input_option(text)
            options[key] = value
        args.capture_size_pair = (_arguments.capture_size(args.capture_size)
                                  if args.capture_size is not None else None)
        args.capture_rate = _arguments.capture_fps(args.capture_fps) if args.capture_fps is not None else None
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.rtsp_transport is not None:
        if "rtsp_transport" in options and options["rtsp_transport"] != args.rtsp_transport:
            raise UsageError("--rtsp-transport and --input-option rtsp_transport=... disagree: give one")
        options["rtsp_transport"] = args.rtsp_transport
    for flag, key, given in (("--capture-size", "video_size", args.capture_size),
                             ("--capture-fps", "framerate", args.capture_fps)):
        if given is not None and key in options:
            raise UsageError(f"{flag} and --input-option {key}=... set the same thing: give one")
    args.input_options = options
    for flag, value in (("--reconnect-delay", args.reconnect_delay), ("--reconnect-delay-max", args.reconnect_delay_max)):
        if value is not None and not value > 0:  # also refuses nan
            raise UsageError(f"{flag} must be > 0 seconds, got {value}")
    if args.reconnect_delay is not None and args.reconnect_delay_max is not None \
            and args.reconnect_delay_max < args.reconnect_delay:
        raise UsageError(f"--reconnect-delay-max ({args.reconnect_delay_max}) must be >= --reconnect-delay "
                         f"({args.reconnect_delay})")
    if args.reconnect_attempts is not None and args.reconnect_attempts < 0:
        raise UsageError(f"--reconnect-attempts must be >= 0, got {args.reconnect_attempts}")


def _reconnect_arguments(args: argparse.Namespace) -> dict:
    """The --reconnect* flags given, as Player keywords (the Player's defaults for the others)."""
    given = {"reconnect": getattr(args, "reconnect", None), "reconnect_delay": getattr(args, "reconnect_delay", None),
             "reconnect_delay_max": getattr(args, "reconnect_delay_max", None),
             "reconnect_attempts": getattr(args, "reconnect_attempts", None)}
    return {key: value for key, value in given.items() if value is not None}


def _check_writable(path: str, flag: str) -> None:
    try:
        check_folder_writable(path, flag)
    except OSError as error:
        raise UsageError(str(error)) from None


def _plugin_options(args: argparse.Namespace) -> Optional[dict]:
    """The typed --bytetrack / --botsort options (None when neither is given nor --detector yolox)."""
    from .plugin_options import BOTSORT_KEYS, BYTETRACK_KEYS, parse_options

    if args.botsort is not None:
        text, keys, flag = args.botsort, BOTSORT_KEYS, "--botsort"
    elif args.bytetrack is not None or args.detector == "yolox":
        text, keys, flag = args.bytetrack or "", BYTETRACK_KEYS, "--bytetrack"
    else:
        return None
    try:
        return parse_options(text, keys, flag)
    except ValueError as error:
        raise UsageError(str(error)) from None


def player_from_arguments(args: argparse.Namespace, **overrides: Any) -> Player:
    """The Player the (checked) play options ask for (``overrides``: further Player keywords).

    Runs offline (every frame) unless ``--realtime`` is given or a window opens with neither
    ``--output`` nor ``--results``: real-time mode drops frames the callback cannot take, which
    must never happen silently to a file being written.
    """
    headless = args.headless or args.no_video
    window = False if headless else _resolve_display("auto")
    if args.mode is None:
        writes = args.output is not None or getattr(args, "results", None) is not None
        args.mode = "realtime" if (window and not writes) or getattr(args, "decoupled", False) else "offline"
    return Player(
        _source_url(args.source),
        vfilter=args.vfilter,
        afilter=args.afilter,
        output=[args.output, *args.also_output] if args.output is not None else None,
        output_format=args.output_format,
        output_options=args.output_options,
        segment_time=args.segment_time,
        gop=args.gop,
        encoder=args.encoder,
        hwaccel=args.hwaccel,
        display=window,
        mode=args.mode,
        audio=not args.no_audio,
        start=args.start,
        end=args.end,
        speed=args.speed,
        fullscreen=args.fullscreen,
        osd=not args.no_osd,
        loop=args.loop,
        paused=args.paused,
        input_format=getattr(args, "input_format", None),
        input_options=getattr(args, "input_options", None) or None,
        capture_size=getattr(args, "capture_size_pair", None),
        capture_fps=getattr(args, "capture_rate", None),
        low_latency=getattr(args, "low_latency", False),
        **_reconnect_arguments(args),
        **_device_frames(args),
        **overrides,
    )


def _device_frames(args: argparse.Namespace) -> dict:
    """``device="auto"`` for ``--hwaccel auto``: NVDEC's frames stay on the GPU through the whole
    chain (torch plugins, NVENC) when there is one; not with ``--vfilter`` (a CPU filter graph).
    Empty where this Player has no ``device=`` keyword (it lands with the encoder's GPU path)."""
    import inspect

    if args.hwaccel != "auto" or args.vfilter or "device" not in inspect.signature(Player).parameters:
        return {}
    return {"device": "auto"}


def _frames_on_device(player: Player) -> bool:
    """Whether the callback gets frames in GPU memory (``stats.device`` "cuda:N")."""
    return _device_of(player.stats) != "cpu"


def _device_of(stats: PlayerStats) -> str:
    return str(getattr(stats, "device", "cpu") or "cpu")


_ANNOTATORS = {
    "box": "BoxAnnotator", "label": "LabelAnnotator", "trail": "TraceAnnotator", "trace": "TraceAnnotator",
    "dot": "DotAnnotator", "blur": "BlurAnnotator", "pixelate": "PixelateAnnotator",
    "mask": "MaskAnnotator", "keypoints": "KeypointAnnotator", "keypoint": "KeypointAnnotator",
    "heatmap": "HeatmapAnnotator",
}
# The same drawings on torch tensors, chosen when frames are on the device (no host copy for them)
_TORCH_ANNOTATORS = {"BoxAnnotator": "TorchBoxAnnotator", "LabelAnnotator": "TorchLabelAnnotator",
                     "TraceAnnotator": "TorchTraceAnnotator", "PixelateAnnotator": "TorchPixelateAnnotator"}


def _yolox_tracker(options: dict, frame_rate: float, tracker_name: str = "bytetrack"):
    """The (detector, tracker) factories for --bytetrack / --botsort / --detector yolox."""
    from . import detect, track

    device = options.get("device") or _default_device()
    # people, as ByteTrack tracks: class 0 is "person" in COCO and in the 1-class mix_det models
    classes = options.get("classes", [0])
    model = options.get("model")  # None: the checkpoint decides; "auto" loads ByteTrack's yolox_m_mix_det
    detector = lambda: detect.YOLOX(model=None if model is None else str(model),  # noqa: E731
                                    ckpt_file=options.get("ckpt_file", "auto"), device=device,
                                    fp16=bool(options.get("fp16", False)), bf16=bool(options.get("bf16", False)),
                                    conf=float(options.get("conf", 0.1)),
                                    nms=float(options.get("nms", 0.7)), classes=classes,
                                    # an existing onnx_file is used as is; a missing one is exported
                                    # from ckpt_file on first use; trt_file needs CUDA + tensorrt
                                    onnx_file=options.get("onnx_file"), trt_file=options.get("trt_file"),
                                    trust_checkpoint=options.get("trust_checkpoint", False))
    common = dict(frame_rate=frame_rate, match_thresh=float(options.get("match_thresh", 0.8)),
                  track_buffer=int(options.get("track_buffer", 30)))
    if tracker_name == "botsort":
        extra = {key: float(options[key]) for key in ("new_track_thresh", "proximity_thresh", "appearance_thresh")
                 if key in options}
        tracker = lambda: track.BoTSORT(  # noqa: E731
            track_thresh=float(options.get("track_thresh", 0.25)), gmc=str(options.get("gmc", "sparse_flow")),
            **common, **extra)
    else:
        tracker = lambda: track.ByteTrack(track_thresh=float(options.get("track_thresh", 0.25)), **common)  # noqa: E731
    return detector, tracker


def _default_device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def pipeline_from_arguments(args: argparse.Namespace, frame_rate: float, tensors: bool = False):
    """The detector -> tracker -> annotators chain the (checked) options ask for (None when none).

    ``tensors``: frames go to the plugins as torch tensors (device frames: the player's frames are
    in GPU memory) and the annotators are the torch ones where there is one, so the frame stays
    where it is; the numpy-only ones share one counted host copy (``pipeline.transfers``).
    """
    if not hasattr(args, "plugin_options"):
        check_play_arguments(args)
    every = args.every or 1
    # The tracker is updated on detector frames only: it runs at the detector's rate, which
    # scales how long lost tracks are kept (track_buffer is in frames at 30 fps).
    decoupled = getattr(args, "decoupled", False)
    frame_rate = (frame_rate or 30.0) / (1 if decoupled else every)  # decoupled: the tracker counts frames
    if args.interval is not None and not decoupled:
        frame_rate = min(frame_rate, 1.0 / args.interval)
    options = args.plugin_options
    classifier_model = getattr(args, "classifier", None)
    if args.detector == "none" and options is None and not classifier_model:
        return None
    from . import annotate, detect, sinks, track
    from .pipeline import Pipeline

    detector = {"none": None, "motion": detect.MotionDetector, "hog": detect.HOGPeopleDetector,
                "mtcnn": lambda: detect.MTCNNFaceDetector(device=_default_device(), keypoints=True), "yolox": None}[args.detector]
    tracker = {"none": None, "bytetrack": lambda: track.ByteTrack(frame_rate=frame_rate),
               # the offline detectors' scores sit around 0.5-0.8: ByteTrack's thresholds suit them
               "botsort": lambda: track.BoTSORT(frame_rate=frame_rate, track_thresh=0.5),
               "ocsort": lambda: track.OCSORT(frame_rate=frame_rate),
               "sort": track.IoUTracker}[args.tracker]
    if options is not None:
        name = "botsort" if args.botsort is not None else "bytetrack"
        detector, yolox_tracker = _yolox_tracker(options, frame_rate, name)
        if args.bytetrack is not None or args.botsort is not None:
            tracker = yolox_tracker
    names = [n.strip().lower() for n in args.annotate.split(",") if n.strip()]
    classes = [_ANNOTATORS[n] for n in names]
    if tensors:
        classes = [_TORCH_ANNOTATORS.get(name, name) for name in classes]
    annotators = [getattr(annotate, name)() for name in classes]
    analytics = _zone_analytics(args)
    if analytics is not None:  # the zones drawn over the other drawings, with their counts
        from .analytics import LineZone

        annotators += [annotate.LineZoneAnnotator(zone) if isinstance(zone, LineZone) else annotate.ZoneAnnotator(zone)
                       for zone in analytics.zones.values()]
    return Pipeline(detector() if detector else None, tracker() if tracker else None, annotators,
                    every_n_frames=every, interval=args.interval, results=args.results,
                    plugins=[analytics.schedule()] if analytics is not None else (),
                    tensors=True if tensors else None,
                    embed_results=getattr(args, "embed_results", False), decoupled=decoupled,
                    sinks=[sinks.sink_from_spec(spec) for spec in getattr(args, "sink", None) or ()],
                    **(_classifier_options(args) if classifier_model else {}))


def _classifier_options(args: argparse.Namespace) -> dict:
    """The Pipeline's classifier slot from --classifier, --classify, --classifier-every."""
    from .predict import OnnxClassifier

    return {"classifier": OnnxClassifier(args.classifier), "classify": args.classify,
            "classifier_every_n_frames": args.classifier_every}


class _TrackLengths:
    """The pipeline as the player's callback, counting the frames each track id appears on."""

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self.frames_per_track: Counter = Counter()

    def _bind_player(self, player) -> None:  # Player.on_frame: the pipeline learns the player's mode
        self.pipeline._bind_player(player)

    def __call__(self, frame) -> None:
        self.pipeline(frame)
        ids = self.pipeline.last.tracker_id
        if ids is not None and len(ids) and not frame.revisit:
            self.frames_per_track.update(ids.tolist())


def _summary(source: str, stats: PlayerStats, track_lengths: Optional[_TrackLengths], written: List[str],
             interrupted: str = "") -> str:
    line = (f"{source}: {stats.frames_processed} frames processed, {stats.frames_dropped} dropped"
            + (" (real-time mode: frames the analysis could not keep up with)" if stats.frames_dropped else "")
            + f", {stats.fps:.1f} fps, {stats.elapsed:.1f} s")
    if interrupted:
        line += f" ({interrupted})"
    lines = [line]
    if stats.latency_samples and stats.latency_p50 is not None and stats.latency_p95 is not None:
        lines.append(f"latency (capture to callback, {stats.latency_clock}): p50 {stats.latency_p50 * 1000:.0f} ms, "
                     f"p95 {stats.latency_p95 * 1000:.0f} ms")
    if stats.reconnects or stats.frames_late:
        lines.append(f"source: {stats.reconnects} reconnects, {stats.downtime:.1f} s down, "
                     f"{stats.frames_late} frames skipped to catch up with the stream")
    if track_lengths is not None and track_lengths.pipeline.tracker is not None:
        lengths = list(track_lengths.frames_per_track.values())
        median = f", median length {statistics.median(lengths):g} frames" if lengths else ""
        lines.append(f"tracks: {len(lengths)}{median}")
    analytics = _zone_analytics_of(track_lengths.pipeline) if track_lengths is not None else None
    if analytics is not None:
        lines += analytics.summary_lines()
    inference = track_lengths.pipeline.decoupled_stats if track_lengths is not None else None
    if inference is not None and inference.frames_with_result:
        lines.append(f"inference (decoupled): {inference.detector_runs} detector runs, results "
                     f"{inference.frames_behind_mean:.1f} frames behind on average (p50 {inference.latency_ms_p50:.0f} ms, "
                     f"max {inference.latency_ms_max:.0f} ms)")
    transfers = track_lengths.pipeline.transfers if track_lengths is not None else None
    if transfers is not None and transfers.tensor_frames:
        lines.append(f"plugins: {transfers.tensor_frames} frames as tensors on {_device_of(stats)}, "
                     f"{transfers.host_copies} host copies, {transfers.host_uploads} uploads")
    for sink in track_lengths.pipeline.sinks if track_lengths is not None else ():
        counts = sink.stats
        lines.append(f"sink {counts.sink}: {counts.sent} of {counts.records} records sent"
                     + (f", {counts.dropped} dropped (last error: {counts.last_error})" if counts.dropped else ""))
    for path in written:
        lines.append(f"wrote {path}")
    return "\n".join(lines)


def _play(args: argparse.Namespace) -> int:
    check_play_arguments(args)
    player = player_from_arguments(args)
    info = player.info
    if info.duration > 0 and args.start >= info.duration and not is_url(player.source):
        raise UsageError(f"--start {args.start:g} is at or past the end of {args.source} ({info.duration:.1f} s)")
    args.frame_size = (info.width, info.height)  # what --line/--zones relative coordinates scale to
    pipeline = pipeline_from_arguments(args, info.fps, tensors=_frames_on_device(player))
    track_lengths = None
    if pipeline is not None:
        track_lengths = _TrackLengths(pipeline)
        player.on_frame(track_lengths)
    from ._progress import Progress, expected_frames

    total = None if args.loop else expected_frames(info.fps, info.duration, info.frame_count, args.start, args.end)
    progress = (contextlib.nullcontext() if args.quiet
                else Progress(player, total, first_index=round(args.start * (info.fps or 0))))
    error: Optional[BaseException] = None
    try:
        with progress, _signals_stop_between_frames(player.stop):
            player.run()
    except BaseException as caught:
        error = caught
        raise
    finally:
        results = pipeline.close(error, video=_embed_targets(args) or None) if pipeline is not None else None
        if error is None or not isinstance(error, Exception):  # finished, or interrupted: what was kept
            stats = player.stats
            written = [str(path) for path in (stats.output, results) if path]
            embedded = [os.path.realpath(path) for path in pipeline.embedded] if pipeline is not None else []
            written = [f"{path} (results embedded)" if os.path.realpath(path) in embedded else path for path in written]
            written += [f"{path} (results embedded)" for path in embedded if os.path.realpath(str(stats.output)) != path]
            reason = "" if error is None else "stopped by SIGTERM" if isinstance(error, Terminated) else "interrupted"
            print(_summary(args.source, stats, track_lengths, written, reason), flush=True)
    if player.stats.frames_processed == 0:
        raise _NothingDone(f"no frame was processed ({_why_no_frames(args)}); nothing written")
    return 0


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    add_play_arguments(parser)
    web = parser.add_argument_group("web view")
    web.add_argument("--port", type=int, default=8000, help="TCP port of the page (default 8000; 0: a free one)")
    web.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only); any other needs a token")
    web.add_argument("--token", help="the token every request must carry (default: none on 127.0.0.1, "
                                     "generated and printed for another --host)")
    web.add_argument("--window", action="store_true", help="also open the player's window")
    parser.add_argument("more_sources", nargs="*", metavar="SOURCE",
                        help="more sources: every source on one page (a MultiPlayer run, one pipeline per "
                             "source; no seek or step, no --output/--results)")


def _serve(args: argparse.Namespace) -> int:
    """``vistream serve``: the play pipeline in real-time mode, shown and steered in a browser."""
    from .web import WebOptions, WebView

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in [0, 65535], got {args.port}")
    if args.more_sources:
        return _serve_many(args)
    args.headless = args.headless or not args.window
    paused, args.paused = args.paused, False  # the page resumes: no window needed for --paused
    check_play_arguments(args)
    args.paused = paused
    if args.mode is None:
        args.mode = "realtime"
    options = WebOptions(port=args.port, host=args.host, token=args.token)  # TypeError/ValueError: bad values
    # at the end the page can still seek back; the sound plays on the server, not in the browser: none
    player = player_from_arguments(args, exit_at_end=False, play_audio=False)
    info = player.info
    args.frame_size = (info.width, info.height)
    pipeline = pipeline_from_arguments(args, info.fps, tensors=_frames_on_device(player))
    track_lengths = None
    if pipeline is not None:
        track_lengths = _TrackLengths(pipeline)
        player.on_frame(track_lengths)
    view = WebView.from_options(player, options, pipeline=pipeline)
    view.install()
    with view:
        print(f"vistream: serving {args.source} at {view.url} (Ctrl-C stops)", flush=True)
        def run_to_a_frame_boundary() -> None:
            with _signals_stop_between_frames(player.stop):
                player.run()

        reason, results = _run_until_stopped(
            run_to_a_frame_boundary,
            lambda error: pipeline.close(error, video=_embed_targets(args) or None) if pipeline is not None else None)
    stats = player.stats
    written = [str(path) for path in (stats.output, results) if path]
    print(_summary(args.source, stats, track_lengths, written, reason), flush=True)
    return 0


def _run_until_stopped(run: Callable[[], Any], finish: Callable[[Optional[BaseException]], Any]) -> Tuple[str, Any]:
    """``run()`` until it ends; Ctrl-C or SIGTERM end it quietly. ``finish(error)`` always runs
    after it (error: what ``run`` raised, re-raised afterwards; None when it ended or was stopped).
    Returns (why it stopped: "" when it ended, "interrupted", "stopped by SIGTERM"; what ``finish``
    returned)."""
    error: Optional[BaseException] = None
    reason = ""
    try:
        run()
    except (KeyboardInterrupt, Terminated) as stopped:
        reason = "stopped by SIGTERM" if isinstance(stopped, Terminated) else "interrupted"
    except BaseException as caught:
        error = caught
        raise
    finally:
        finished = finish(error)
    return reason, finished


# What a many-sources run cannot do (a MultiPlayer has no seek, loop, window or per-run output).
_SINGLE_SOURCE_ONLY = {"output": "--output", "results": "--results", "embed_results": "--embed-results",
                       "loop": "--loop", "window": "--window", "paused": "--paused", "camera": "--camera",
                       "start": "--start", "end": "--end", "decoupled": "--decoupled", "sink": "--sink"}


def _serve_many(args: argparse.Namespace) -> int:
    """``vistream serve A B ...``: every source decoded in parallel (``MultiPlayer``, realtime), each
    through its own pipeline (detector, tracker, annotators of the play options), on one page."""
    import numpy as np

    from .multi import MultiPlayer
    from .web import WebOptions

    for name, flag in _SINGLE_SOURCE_ONLY.items():
        value = getattr(args, name, None)
        if value not in (None, False, 0, 0.0, []):
            raise UsageError(f"{flag} works with one source; serve each source on its own for it")
    sources = [args.source, *args.more_sources]
    args.headless, args.mode = True, "realtime"
    for source in sources:  # the play options' checks, once per source (each names its own problem)
        args.source = source
        check_play_arguments(args)
    options = WebOptions(port=args.port, host=args.host, token=args.token)  # TypeError/ValueError: bad values
    pipelines: dict = {}
    # the input options of play that a Reader takes too (each source gets the same)
    reader_options = {"vfilter": args.vfilter, "hwaccel": args.hwaccel,
                      "input_format": getattr(args, "input_format", None),
                      "input_options": getattr(args, "input_options", None) or None,
                      "low_latency": getattr(args, "low_latency", False), **_reconnect_arguments(args)}
    names = _source_names(sources)
    multi = MultiPlayer(dict(zip(names, (_source_url(s) for s in sources))), realtime=True,
                        reader_options=reader_options, web=options)

    @multi.on_batch
    def run_pipelines(batch) -> None:
        for item in batch:
            pipeline = pipelines.get(item.source)
            if pipeline is None:
                info = multi.source_info(item.source)
                pipeline = pipelines[item.source] = pipeline_from_arguments(args, info.fps if info else 30.0)
            if pipeline is None:
                continue
            picture = pipeline(item.frame)
            if isinstance(picture, np.ndarray) and picture is not item.array and picture.shape == item.array.shape:
                item.array[...] = picture  # the page shows the tile's frame: the annotated one
            item.detections = pipeline.last

    def close_pipelines(error: Optional[BaseException]) -> None:
        for pipeline in pipelines.values():
            if pipeline is not None:
                pipeline.close(error)

    print(f"vistream: serving {len(sources)} sources ({', '.join(names)}) on port {options.port} "
          f"(Ctrl-C stops)", flush=True)
    reason, _ = _run_until_stopped(
        lambda: multi.run(on_start=lambda started: print(f"vistream: page at {started.web_view.url}", flush=True)),
        close_pipelines)
    stats = multi.stats
    for name, source in stats.sources.items():
        line = f"vistream: {name}: {source.state}, {source.frames} frames, {source.drops} dropped"
        print(line + (f" ({source.error})" if source.error else ""), flush=True)
    print(f"vistream: {stats.frames} frames from {len(sources)} sources in {stats.elapsed:.1f} s"
          + (f" ({reason})" if reason else ""), flush=True)
    return 0


def _source_names(sources: List[str]) -> List[str]:
    """Page names for the sources: the file (or URL path) stem, made unique with -2, -3..."""
    names: List[str] = []
    for source in sources:
        stem = os.path.splitext(os.path.basename(source.split("?", 1)[0].rstrip("/")))[0] or "source"
        name, n = stem, 2
        while name in names:
            name, n = f"{stem}-{n}", n + 1
        names.append(name)
    return names


def _why_no_frames(args: argparse.Namespace) -> str:
    if args.vfilter:
        return f"no frame came out of --vfilter {args.vfilter!r}"
    return "the source has no video frame in the range asked for"


class _NothingDone(Exception):
    """A run that processed zero frames: exit status 1."""


def _scan_seconds(text: str) -> float:
    if text.strip().lower() == "all":
        return float("inf")
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'all', got {text!r}") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds or 'all', got {text!r}")
    return seconds


def _info(args: argparse.Namespace) -> int:
    from .info import main_json, probe

    report = probe(_source_url(args.source), scan_seconds=args.scan)
    print(main_json(report) if args.json else report.to_text())
    return 0


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _ArgumentParser(prog="vistream", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"vistream {__version__}")
    verbose_help = "show FFmpeg's log and tracebacks"
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose_help)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)
    play = sub.add_parser("play", help="play a file or URL (window when a display is available)")
    add_play_arguments(play)
    serve = sub.add_parser("serve", help="show and steer the play pipeline in a browser (live video, controls, panels)")
    _add_serve_arguments(serve)
    demo = sub.add_parser("demo", help="annotate a generated sample clip (or SOURCE) and encode it")
    demo.add_argument("source", nargs="?", help="video to annotate (default: a generated sample)")
    demo.add_argument("--output", default="demo.mp4", help="annotated output file (default demo.mp4)")
    demo.add_argument("--encoder", default="auto", help="FFmpeg encoder name or 'auto'")
    info = sub.add_parser("info", help="describe a file or URL: streams, codec, size, fps, frames, keyframes")
    info.add_argument("source", help="file or URL")
    info.add_argument("--json", action="store_true", help="print the report as JSON")
    info.add_argument("--scan", metavar="SECONDS", type=_scan_seconds, default=None,
                      help="decode this much from the start to measure the keyframe interval ('all': the whole "
                           "video, also counting frames exactly; 0: none; default 60 for files, 0 for URLs)")
    report = sub.add_parser("report", help="plots and one self-contained HTML page from a --results .jsonl file")
    report.add_argument("results", help="results file written with --results NAME.jsonl")
    report.add_argument("-o", "--output", default="report.html",
                        help="HTML page (default report.html); the PNGs go to <name>_files/ beside it")
    report.add_argument("--video", help="the source video: the box-centre heatmap is drawn over its middle frame")
    report.add_argument("--annotated", metavar="VIDEO",
                        help="the annotated output video (--output of the run): adds a strip of its frames")
    doctor = sub.add_parser("doctor", help="what this machine can do (FFmpeg, GPUs, encoders, runtimes), for bug reports")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    pose = sub.add_parser("pose", help="DeepLabCut pose estimation on a video: annotated video, CSV/HDF5 poses")
    from .pose.cli import add_pose_arguments

    add_pose_arguments(pose)
    new = sub.add_parser("new", help="create a runnable, tested app: config, predictor stub, pipeline, test, README")
    new.add_argument("name", help="the app's name, also its Python package (e.g. demoapp)")
    new.add_argument("--directory", default=".", help="where the app's folder is made (default: here)")
    new.add_argument("--force", action="store_true", help="write into an existing non-empty folder")
    export = sub.add_parser("export", help="a checkpoint or model config to ONNX or a TensorRT engine (cached by hash)")
    _add_export_arguments(export)
    batch = sub.add_parser("batch", help="run a pipeline config over many files: process pool or Ray, resumable")
    _add_batch_arguments(batch)
    generate = sub.add_parser("generate", help="add a predictor class wired for a model (and its test) to an app")
    from .scaffold.generate import add_generate_arguments

    add_generate_arguments(generate)
    for subparser in (play, serve, demo, info, report, doctor, new, export, batch, generate):
        # also after the subcommand (`vistream play x.mp4 -v`, `python play.py x.mp4 -v`); SUPPRESS keeps
        # a -v given before it
        subparser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=verbose_help)
        subparser.add_argument("--version", action="version", version=f"vistream {__version__}")
    return parser


def _add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="*", metavar="SOURCE",
                        help="files or URLs (after the config's own sources:)")
    parser.add_argument("--pipeline", required=True, metavar="CONFIG",
                        help="pipeline config (YAML: detector, tracker, annotators, schedule, outputs; docs/batch.md)")
    parser.add_argument("--output-dir", required=True, metavar="DIR",
                        help="directory or fsspec URL for the outputs, manifest.json and results.parquet")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes (default: sized so that workers x threads <= cores; 0: in this process)")
    parser.add_argument("--threads", type=int, metavar="T", help="decoder threads per source (default: cores / workers)")
    parser.add_argument("--ray", nargs="?", const=True, default=False, metavar="ADDRESS",
                        help="run one Ray task per source: on ADDRESS (ray://head:10001, auto) or a local runtime")
    parser.add_argument("--num-cpus", type=float, default=1, help="CPUs each Ray task asks for (default 1)")
    parser.add_argument("--num-gpus", type=float, default=0, help="GPUs each Ray task asks for (default 0)")
    parser.add_argument("--max-retries", type=int, default=1,
                        help="retries of a source whose worker process died (default 1)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display")


def _batch(args: argparse.Namespace) -> int:
    """Exit status 0 when every source is done, 1 when any failed."""
    from . import batch

    if args.workers is not None and args.workers < 0:
        raise UsageError(f"--workers must be >= 0, got {args.workers}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}")
    if args.max_retries < 0:
        raise UsageError(f"--max-retries must be >= 0, got {args.max_retries}")
    results = batch.run(args.sources, pipeline=args.pipeline, output_dir=args.output_dir, workers=args.workers,
                        threads=args.threads, ray=args.ray, num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                        max_retries=args.max_retries, progress=not args.quiet)
    for result in results:
        state = "skipped (done before)" if result.skipped else "failed" if result.error else "done"
        line = f"{result.source}: {state}, {result.frames} frames"
        print(line + (f": {result.error}" if result.error else ""), flush=True)
    failed = sum(1 for result in results if result.error)
    print(f"{len(results) - failed} of {len(results)} sources done; outputs in {args.output_dir}", flush=True)
    return 1 if failed else 0


def _add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="CHECKPOINT|MODEL",
                        help="ultralytics .pt/.yaml, YOLOX .pth/.pth.tar or a YOLOX model name")
    parser.add_argument("--format", choices=("onnx", "engine"), default="onnx",
                        help="onnx (default) or engine (TensorRT: needs tensorrt and an NVIDIA GPU)")
    parser.add_argument("--imgsz", type=int, default=640, help="input size in pixels, a multiple of 32 (default 640)")
    parser.add_argument("--fp16", action="store_true", help="half-precision TensorRT engine")
    parser.add_argument("--int8", action="store_true", help="int8 TensorRT engine (needs --calib)")
    parser.add_argument("--calib", metavar="CLIP", help="video whose frames calibrate --int8")
    parser.add_argument("-o", "--output", help="also copy the export to this file or folder")


def _export(args: argparse.Namespace) -> int:
    """Prints the exported file's path (the cache's, or --output's) on stdout."""
    from .predict.export import copy_export, export_cache_dir, export_model

    before = set(export_cache_dir().glob("*")) if export_cache_dir().is_dir() else set()
    path = export_model(args.source, format=args.format, imgsz=args.imgsz, fp16=args.fp16, int8=args.int8,
                        calib=args.calib)
    if path in before:
        print(f"vistream: cached export (same content and options): {path}", file=sys.stderr)
    if args.output:
        path = copy_export(path, args.output)
    print(path)
    return 0


def _report(error: BaseException, verbose: bool) -> None:
    if verbose:
        traceback.print_exception(type(error), error, error.__traceback__)
    message = str(error) or type(error).__name__
    if not isinstance(error, (VistreamError, OSError, ValueError, ImportError, UsageError, _NothingDone)):
        # not a user mistake (a plugin's bug?): name the kind of failure and where to look
        message = f"{type(error).__name__}: {message}" + ("" if verbose else " (run with -v for the traceback)")
    print(f"vistream: error: {message}", file=sys.stderr)
    for note in getattr(error, "__notes__", None) or ():
        print(f"vistream: {note}", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line; returns the exit status (see the module doc)."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        print(f"vistream: error: {error}", file=sys.stderr)
        return 2
    # command-line users get the warning's text, not the library line that raised it
    warnings.formatwarning = lambda message, category, *_args, **_kwargs: f"vistream: warning: {message}\n"
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    with _sigterm_raises():
        try:
            if args.command == "serve":
                return _serve(args)
            if args.command == "demo":
                return _demo(args)
            if args.command == "info":
                return _info(args)
            if args.command == "report":
                return _report_command(args)
            if args.command == "export":
                return _export(args)
            if args.command == "batch":
                return _batch(args)
            if args.command == "pose":
                from .pose.cli import run_pose

                return run_pose(args)
            if args.command == "doctor":
                from .doctor import run as run_doctor

                return run_doctor(as_json=args.json)
            if args.command == "new":
                from .scaffold import create_app

                folder = create_app(args.name, args.directory, force=args.force)
                print(f"created {folder}: cd {folder} && pytest, then python -m {args.name} VIDEO")
                return 0
            if args.command == "generate":
                from .scaffold.generate import run_generate

                return run_generate(args)
            return _play(args)
        except UsageError as error:
            _report(error, args.verbose)
            return 2
        except Terminated:
            return 128 + signal.SIGTERM
        except KeyboardInterrupt:
            return 130
        except Exception as error:  # noqa: BLE001 - every failure becomes one line (-v: traceback)
            _report(error, args.verbose)
            return 1


if __name__ == "__main__":
    sys.exit(main())
