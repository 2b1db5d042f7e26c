"""Record only when something moves: the output keeps the frames with motion (plus a margin).

Two passes over the source, both through vistream's engine:

1. a ``vistream.Reader`` scores every frame by how much of it changed since the previous one
   (frame differencing on a small gray copy), and picks the frames to keep;
2. a ``vistream.Player`` encodes exactly those frames, selected by an FFmpeg ``select`` filter,
   re-timed back to back so the output is shorter than the input.

    python examples/record_motion.py camera.mp4 motion_only.mp4 --margin 15

Prints the kept frame ranges; the last line is a JSON summary ``{"kept": [[first, last], ...],
"frames_in": N, "frames_out": M}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Tuple

import cv2
import numpy as np

import vistream as vs

# A pixel "changed" when its gray level moved by more than this: above video compression noise.
PIXEL_THRESHOLD = 25


def motion_scores(source: str, width: int = 160) -> List[float]:
    """For each frame, the fraction of pixels that changed since the previous frame (0 for the first)."""
    scores: List[float] = []
    previous = None
    with vs.Reader(source, format="gray") as reader:
        height = max(1, round(reader.info.height * width / reader.info.width))
        for frame in reader:
            small = cv2.resize(frame.array, (width, height), interpolation=cv2.INTER_AREA).astype(np.int16)
            changed = 0.0 if previous is None else float(np.mean(np.abs(small - previous) > PIXEL_THRESHOLD))
            scores.append(changed)
            previous = small
    return scores


def frames_to_keep(scores: List[float], min_changed: float, margin: int) -> List[Tuple[int, int]]:
    """Ranges (first, last) of frames with motion, widened by ``margin`` frames and merged."""
    ranges: List[Tuple[int, int]] = []
    last_frame = len(scores) - 1
    for index, score in enumerate(scores):
        if score < min_changed:
            continue
        first, last = max(0, index - margin), min(last_frame, index + margin)
        if ranges and first <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], last))
        else:
            ranges.append((first, last))
    return ranges


def record(source: str, output: str, ranges: List[Tuple[int, int]]) -> vs.PlayerStats:
    """Encodes only the frames in ``ranges``, back to back (audio left out: it would not match)."""
    # select keeps the chosen frames (n = the decoded frame number); setpts closes the gaps
    wanted = "+".join(f"between(n\\,{first}\\,{last})" for first, last in ranges)
    player = vs.Player(source, output=output, vfilter=f"select='{wanted}',setpts=N/FRAME_RATE/TB", audio=False)
    return player.run()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="video to watch")
    parser.add_argument("output", help="video with only the frames that move (.mp4, .mkv, ...)")
    parser.add_argument("--min-changed", type=float, default=0.001,
                        help="fraction of the picture that must change to count as motion (default 0.001)")
    parser.add_argument("--margin", type=int, default=0, help="frames kept before and after each motion")
    args = parser.parse_args(argv)

    scores = motion_scores(args.source)
    ranges = frames_to_keep(scores, args.min_changed, args.margin)
    if not ranges:
        print(f"no motion in {args.source}: nothing written", file=sys.stderr)
        return 1
    stats = record(args.source, args.output, ranges)
    for first, last in ranges:
        print(f"motion: frames {first}-{last}")
    print(f"{args.output}: {stats.frames_encoded} of {len(scores)} frames")
    print(json.dumps({"kept": ranges, "frames_in": len(scores), "frames_out": stats.frames_encoded}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
