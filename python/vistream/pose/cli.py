"""``vistream pose VIDEO --model DIR``: DeepLabCut pose on a video, to an annotated video and/or poses.

Kept out of ``vistream/cli.py`` (which only registers the subcommand) so torch loads only for it.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Tuple


def _dynamic(text: str) -> Tuple[bool, float, float]:
    """``off``, ``on`` (threshold 0.5, margin 10), ``THRESHOLD,MARGIN`` or ``on,THRESHOLD,MARGIN``."""
    parts = [p.strip() for p in text.split(",")]
    if parts == ["off"]:
        return False, 0.5, 10
    if parts == ["on"]:
        return True, 0.5, 10
    if len(parts) == 3 and parts[0] in ("on", "off", "true", "false", "1", "0"):
        enabled = parts[0] in ("on", "true", "1")
        parts = parts[1:]
    else:
        enabled = True
    try:
        threshold, margin = float(parts[0]), float(parts[1])
        if len(parts) != 2:
            raise ValueError
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"--dynamic wants off, on, THRESHOLD,MARGIN or on,THRESHOLD,MARGIN; "
                                         f"got {text!r}") from None
    if not 0 <= threshold <= 1 or margin < 0:
        raise argparse.ArgumentTypeError(f"--dynamic threshold must be in [0, 1] and margin >= 0, got {text!r}")
    return enabled, threshold, margin


def _box(text: str) -> Tuple[int, int, int, int]:
    try:
        x1, y1, x2, y2 = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--cropping wants X1,Y1,X2,Y2 integers, got {text!r}") from None
    if x1 < 0 or y1 < 0 or x2 <= x1 or y2 <= y1:
        raise argparse.ArgumentTypeError(f"--cropping wants 0 <= X1 < X2 and 0 <= Y1 < Y2, got {text!r}")
    return x1, y1, x2, y2


def _unit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _skeleton(text: str) -> List[Tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        ends = item.split("-")
        if len(ends) != 2 or not all(ends):
            raise argparse.ArgumentTypeError(f"--skeleton wants NAME-NAME pairs separated by commas, got {item!r}")
        pairs.append((ends[0], ends[1]))
    return pairs


def add_pose_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``vistream pose`` options."""
    from .. import __version__

    parser.add_argument("source", help="video file or URL")
    parser.add_argument("--model", required=True,
                        help="DeepLabCut model: exported folder/.pt, training folder (pytorch_config.yaml + "
                             "snapshot-*.pt) or .onnx")
    parser.add_argument("--output", help="annotated video to write (keypoints, names, skeleton)")
    parser.add_argument("--csv", help="poses in DeepLabCut's CSV layout (scorer/bodyparts/coords header)")
    parser.add_argument("--h5", help="poses as DeepLabCut's HDF5 (needs pandas + PyTables)")
    parser.add_argument("--runtime", choices=("torch", "onnx", "tensorrt"), default=None,
                        help="inference runtime (default: onnx for .onnx models, else torch)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    parser.add_argument("--fp16", action="store_true", help="half precision (torch, TensorRT)")
    parser.add_argument("--pcutoff", type=_unit, default=0.5,
                        help="likelihood below which keypoints are not drawn (default 0.5)")
    parser.add_argument("--dynamic", type=_dynamic, default=(False, 0.5, 10), metavar="SPEC",
                        help="dynamic cropping: off (default), on, THRESHOLD,MARGIN or on,THRESHOLD,MARGIN")
    parser.add_argument("--cropping", type=_box, default=None, metavar="X1,Y1,X2,Y2",
                        help="analyse only this rectangle (source pixels)")
    parser.add_argument("--resize", type=float, default=None, help="scale frames by this factor before the network")
    parser.add_argument("--skeleton", type=_skeleton, default=None, metavar="A-B,C-D",
                        help="draw lines between these bodyparts in --output")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show FFmpeg's log and tracebacks")
    parser.add_argument("--version", action="version", version=f"vistream {__version__}")


def run_pose(args: argparse.Namespace) -> int:
    """Runs ``vistream pose``; returns the exit status. Output files are finalized on every exit."""
    from .. import Reader, Writer
    from ..annotate import KeypointAnnotator
    from .estimator import DLCPoseEstimator
    from .export import PoseWriter

    if not (args.output or args.csv or args.h5):
        raise ValueError("vistream pose: nothing to write; give --output, --csv and/or --h5")
    estimator = DLCPoseEstimator(args.model, runtime=args.runtime, device=args.device, fp16=args.fp16,
                                 pcutoff=args.pcutoff, resize=args.resize, cropping=args.cropping,
                                 dynamic=args.dynamic)
    annotator = KeypointAnnotator(names=estimator.bodyparts, show_names=True, colors="rainbow",
                                  pcutoff=args.pcutoff, skeleton=args.skeleton)
    poses = None
    if args.csv or args.h5:
        scorer = f"DLC_vistream_{estimator.summary['net_type'] or 'model'}"
        poses = PoseWriter(estimator.bodyparts, csv=args.csv, h5=args.h5, scorer=scorer)
    frames = 0
    writer: Optional[Writer] = None
    error: Optional[BaseException] = None
    try:
        with Reader(args.source) as reader:
            if args.output:
                writer = Writer(args.output, fps=reader.info.fps_fraction)
            for frame in reader:
                pose = estimator.estimate(frame)
                if poses is not None:
                    poses.process(pose)
                if writer is not None:
                    image = frame.array
                    annotator.annotate(image, estimator.to_detections(pose))
                    writer.write(frame)
                frames += 1
    except BaseException as caught:  # Ctrl-C / SIGTERM included: the files below are still finalized
        error = caught
        raise
    finally:
        if poses is not None:
            poses.close()
        if writer is not None:
            writer.close(error)
    cropped = estimator.frames_cropped
    print(f"vistream pose: {frames} frames, {len(estimator.bodyparts)} bodyparts"
          + (f", {cropped} on a dynamic crop" if args.dynamic[0] else ""), file=sys.stderr)
    return 0
