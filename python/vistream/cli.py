"""Command line: ``vistream play`` and ``vistream demo`` (also ``python -m vistream ...``).

``play`` plays a file or URL in a window (or headless), optionally writing what it shows::

    vistream play clip.mp4 --speed 1.5 --start 10
    vistream play rtsp://camera/stream --realtime --output recording.mp4

``demo`` makes a sample clip, detects and tracks what moves on every frame (MotionDetector +
ByteTrack, no download), draws boxes, ids and trails, and encodes the annotated video with the
source audio::

    python -m vistream demo --output demo.mp4
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import Optional, Sequence

from .errors import VistreamError
from .player import Player
from .sample_media import sample_video


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
    followed = sum(1 for n in frames_per_track.values() if n >= stats["frames_encoded"] / 2)
    print(f"{source} -> {args.output}: {stats['frames_encoded']} frames, motion boxes on {frames_with_boxes}, "
          f"{followed} objects tracked over half the clip or more, {stats['fps']:.1f} fps, "
          f"encoder {stats['encoder']}, audio {stats['audio']}")
    return 0


def add_play_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``vistream play`` (shared with python/play.py)."""
    parser.add_argument("source", help="file or URL to play")
    parser.add_argument("--vfilter", help="FFmpeg video filter graph, e.g. 'scale=1280:-2'")
    parser.add_argument("--afilter", help="FFmpeg audio filter graph for the output file, e.g. 'volume=0.5'")
    parser.add_argument("--no-audio", action="store_true", help="leave the audio out of --output")
    parser.add_argument("--no-video", action="store_true", help="no window (same as --headless)")
    parser.add_argument("--start", type=float, default=0.0, help="start at this time (seconds)")
    parser.add_argument("--end", type=float, help="stop at this time (seconds)")
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed, 0.25 to 4")
    parser.add_argument("--fullscreen", action="store_true")
    parser.add_argument("--no-osd", action="store_true", help="no progress bar / status line")
    parser.add_argument("--headless", action="store_true", help="never open a window")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--realtime", dest="mode", action="store_const", const="realtime",
                      help="play at the media's pace, dropping frames the callback cannot take "
                           "(default with a window)")
    mode.add_argument("--offline", dest="mode", action="store_const", const="offline",
                      help="process every frame (default headless; shown at the media's pace with a window)")
    parser.set_defaults(mode=None)
    parser.add_argument("--output", help="write the processed video (with the source audio) to this file")
    parser.add_argument("--encoder", default="auto", help="FFmpeg encoder name or 'auto'")
    parser.add_argument("--hwaccel", default="none", help="decoding device: none, auto, cuda, vaapi, ...")
    parser.add_argument("--loop", action="store_true", help="start over at the end")
    parser.add_argument("--paused", action="store_true", help="start paused")
    plugins = parser.add_argument_group("analysis plugins")
    plugins.add_argument("--detector", choices=["none", "motion", "hog", "mtcnn", "yolox"], default="none",
                         help="detector run on every frame (motion/hog/mtcnn need no download; "
                              "mtcnn finds faces and needs facenet-pytorch)")
    plugins.add_argument("--bytetrack", metavar="OPTIONS",
                         help="YOLOX + ByteTrack, e.g. \"ckpt_file=auto;fp16=True\"; keys: ckpt_file, model "
                              "(default yolox_s, people only), fp16, device, conf, nms, track_thresh, "
                              "match_thresh, track_buffer, classes, trt_file, onnx_file")
    plugins.add_argument("--botsort", metavar="OPTIONS",
                         help="YOLOX + BoT-SORT (camera-motion compensated), e.g. \"ckpt_file=auto;gmc=ecc\"; "
                              "keys: those of --bytetrack plus gmc (sparse_flow, ecc, none), new_track_thresh, "
                              "proximity_thresh, appearance_thresh")
    plugins.add_argument("--tracker", choices=["none", "bytetrack", "botsort", "sort"], default="none",
                         help="tracker giving each detection a stable id (botsort: compensates camera motion)")
    plugins.add_argument("--annotate", default="box,label,trail",
                         help="comma list of box,label,trail,dot,blur,pixelate,mask,keypoints "
                              "(default box,label,trail)")
    plugins.add_argument("--every", type=int, default=1, help="run the detector every N frames")
    plugins.add_argument("--interval", type=float, metavar="SECONDS",
                         help="run the detector at most once per SECONDS of media time (with --every: both)")
    plugins.add_argument("--results", help="write per-frame results (.jsonl, .txt MOTChallenge, .csv)")


def player_from_arguments(args: argparse.Namespace) -> Player:
    if not 0.25 <= args.speed <= 4.0:
        raise SystemExit("--speed must be between 0.25 and 4")
    headless = args.headless or args.no_video
    if args.mode is None:
        args.mode = "offline" if headless else "realtime"
    return Player(
        args.source,
        vfilter=args.vfilter,
        afilter=args.afilter,
        output=args.output,
        encoder=args.encoder,
        hwaccel=args.hwaccel,
        display=False if headless else "auto",
        mode=args.mode,
        audio=not args.no_audio,
        start=args.start,
        end=args.end,
        speed=args.speed,
        fullscreen=args.fullscreen,
        osd=not args.no_osd,
        loop=args.loop,
        paused=args.paused,
    )


_ANNOTATORS = {
    "box": "BoxAnnotator", "label": "LabelAnnotator", "trail": "TraceAnnotator", "trace": "TraceAnnotator",
    "dot": "DotAnnotator", "blur": "BlurAnnotator", "pixelate": "PixelateAnnotator",
    "mask": "MaskAnnotator", "keypoints": "KeypointAnnotator", "keypoint": "KeypointAnnotator",
}


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
                                    trust_checkpoint=bool(options.get("trust_checkpoint", False)))
    common = dict(frame_rate=frame_rate, match_thresh=float(options.get("match_thresh", 0.8)),
                  track_buffer=int(options.get("track_buffer", 30)))
    if tracker_name == "botsort":
        extra = {key: float(options[key]) for key in ("new_track_thresh", "proximity_thresh", "appearance_thresh")
                 if key in options}
        tracker = lambda: track.BoTSORT(  # noqa: E731
            track_thresh=float(options.get("track_thresh", 0.6)), gmc=str(options.get("gmc", "sparse_flow")),
            **common, **extra)
    else:
        tracker = lambda: track.ByteTrack(track_thresh=float(options.get("track_thresh", 0.5)), **common)  # noqa: E731
    return detector, tracker


def _default_device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def pipeline_from_arguments(args: argparse.Namespace, frame_rate: float):
    """The detector -> tracker -> annotators chain the options ask for (None when none)."""
    if args.every < 1:
        raise SystemExit("--every must be >= 1")
    if args.interval is not None and not args.interval > 0:
        raise SystemExit("--interval must be > 0 seconds")
    # The tracker is updated on detector frames only: it runs at the detector's rate, which
    # scales how long lost tracks are kept (track_buffer is in frames at 30 fps).
    frame_rate = (frame_rate or 30.0) / args.every
    if args.interval is not None:
        frame_rate = min(frame_rate, 1.0 / args.interval)
    if (args.detector == "none" and args.tracker == "none" and not args.results and args.bytetrack is None
            and args.botsort is None):
        return None
    from . import annotate, detect, track
    from .pipeline import Pipeline
    from .plugin_options import BOTSORT_KEYS, BYTETRACK_KEYS, parse_options

    if args.bytetrack is not None and args.botsort is not None:
        raise SystemExit("--bytetrack and --botsort are alternatives: give one")

    detector = {"none": None, "motion": detect.MotionDetector, "hog": detect.HOGPeopleDetector,
                "mtcnn": lambda: detect.MTCNNFaceDetector(device=_default_device(), keypoints=True), "yolox": None}[args.detector]
    tracker = {"none": None, "bytetrack": lambda: track.ByteTrack(frame_rate=frame_rate),
               # the offline detectors' scores sit around 0.5-0.8: ByteTrack's thresholds suit them
               "botsort": lambda: track.BoTSORT(frame_rate=frame_rate, track_thresh=0.5),
               "sort": track.IoUTracker}[args.tracker]
    if args.bytetrack is not None or args.botsort is not None or args.detector == "yolox":
        name = "botsort" if args.botsort is not None else "bytetrack"
        try:
            if name == "botsort":
                options = parse_options(args.botsort, BOTSORT_KEYS, "--botsort")
            else:
                options = parse_options(args.bytetrack or "", BYTETRACK_KEYS, "--bytetrack")
            gmc = str(options.get("gmc", "sparse_flow"))
            track.CameraMotion(gmc)  # a bad method name fails here, before any weights are loaded
        except ValueError as error:
            raise SystemExit(f"--{name}: {error}" if not str(error).startswith("--") else str(error)) from None
        detector, yolox_tracker = _yolox_tracker(options, frame_rate, name)
        if args.bytetrack is not None or args.botsort is not None:
            tracker = yolox_tracker
    names = [n.strip().lower() for n in args.annotate.split(",") if n.strip()]
    unknown = [n for n in names if n not in _ANNOTATORS]
    if unknown:
        raise SystemExit(f"--annotate: unknown {', '.join(unknown)}; valid: {', '.join(sorted(_ANNOTATORS))}")
    annotators = [getattr(annotate, _ANNOTATORS[n])() for n in names]
    return Pipeline(detector() if detector else None, tracker() if tracker else None, annotators,
                    every_n_frames=args.every, interval=args.interval, results=args.results)


def _play(args: argparse.Namespace) -> int:
    player = player_from_arguments(args)
    pipeline = pipeline_from_arguments(args, player.info.fps)
    if pipeline is not None:
        player.on_frame(pipeline)
    try:
        stats = player.run()
    finally:
        if pipeline is not None:
            pipeline.close()
    print(f"{args.source}: {stats['frames_processed']} frames processed, {stats['frames_dropped']} dropped, "
          f"{stats['elapsed']:.1f} s" + (f", written to {args.output}" if args.output else ""))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="vistream", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="show FFmpeg's log")
    sub = parser.add_subparsers(dest="command", required=True)
    play = sub.add_parser("play", help="play a file or URL (window when a display is available)")
    add_play_arguments(play)
    demo = sub.add_parser("demo", help="annotate a generated sample clip (or SOURCE) and encode it")
    demo.add_argument("source", nargs="?", help="video to annotate (default: a generated sample)")
    demo.add_argument("--output", default="demo.mp4", help="annotated output file (default demo.mp4)")
    demo.add_argument("--encoder", default="auto", help="FFmpeg encoder name or 'auto'")
    args = parser.parse_args(argv)
    # command-line users get the warning's text, not the library line that raised it
    warnings.formatwarning = lambda message, category, *_args, **_kwargs: f"vistream: warning: {message}\n"
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "play":
            return _play(args)
    except (VistreamError, ImportError) as error:  # ImportError: an optional plugin's package
        print(f"vistream: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
