"""Command line: ``vistream demo`` (and ``python -m vistream demo``).

``demo`` makes a sample clip, detects motion on every frame, draws it, and encodes the
annotated video with the source audio::

    python -m vistream demo --output demo.mp4
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from .motion_box import MotionBox, draw_box
from .player import Player
from .sample_media import sample_video


def _demo(args: argparse.Namespace) -> int:
    source = args.source or str(sample_video())
    player = Player(source, output=args.output, encoder=args.encoder)
    detect = MotionBox()
    boxes = 0

    @player.on_frame
    def annotate(frame):
        nonlocal boxes
        image = frame.array
        box = detect(image)
        if box is not None:
            draw_box(image, box)
            boxes += 1
        # progress bar along the bottom edge
        done = int(image.shape[1] * (frame.index + 1) / max(1, player.info.frame_count))
        image[-6:, :done] = (0, 255, 0)

    stats = player.run()
    print(f"{source} -> {args.output}: {stats['frames_encoded']} frames, motion boxes on {boxes}, "
          f"{stats['fps']:.1f} fps, encoder {stats['encoder']}, audio {stats['audio']}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="vistream", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="show FFmpeg's log")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="annotate a generated sample clip (or SOURCE) and encode it")
    demo.add_argument("source", nargs="?", help="video to annotate (default: a generated sample)")
    demo.add_argument("--output", default="demo.mp4", help="annotated output file (default demo.mp4)")
    demo.add_argument("--encoder", default="auto", help="FFmpeg encoder name or 'auto'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    if args.command == "demo":
        return _demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
