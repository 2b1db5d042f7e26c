"""Count the objects that cross a line, in each direction (detector + ByteTrack + a line test).

Every frame: ``MotionDetector`` finds what moves, ``ByteTrack`` gives each object a stable id,
and each track's box is checked against the line. A track counts once per crossing: ``in`` when
it crosses to the right-hand side of the line as drawn from its first point to its second (for a
horizontal line drawn left to right: moving down the picture), ``out`` the other way. A box is on
a side only when all four of its corners are, so a box straddling the line (or jittering on it)
counts nothing until it has crossed whole. The annotated video shows the line, the boxes with their ids and the counts.

    python examples/count_line_crossings.py street.mp4 counted.mp4 --line 0,400,1280,400

The last line printed is a JSON summary ``{"in": N, "out": M, "crossings": [[frame, id, "in"], ...]}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, List, Tuple

import cv2
import numpy as np

import vistream as vs
from vistream.annotate import BoxAnnotator, LabelAnnotator
from vistream.detect import MotionDetector
from vistream.track import ByteTrack

Point = Tuple[float, float]


class LineCounter:
    """Counts track centres crossing the segment ``start``-``end``."""

    def __init__(self, start: Point, end: Point) -> None:
        self.start = np.asarray(start, float)
        self.end = np.asarray(end, float)
        self.counts = {"in": 0, "out": 0}
        self.crossings: List[Tuple[int, int, str]] = []
        # track id -> (centre, side) when last seen wholly on one side
        self._last: Dict[int, Tuple[np.ndarray, float]] = {}

    def _side(self, point: np.ndarray) -> float:
        # z of the 2-D cross product: > 0 on the right-hand side of start->end in image coordinates (y down)
        direction, offset = self.end - self.start, point - self.start
        return float(direction[0] * offset[1] - direction[1] * offset[0])

    def _within_segment(self, a: np.ndarray, b: np.ndarray) -> bool:
        # where the move a->b meets the line, as a fraction along start->end: on the segment or not
        side_a, side_b = self._side(a), self._side(b)
        meeting = a + (b - a) * (side_a / (side_a - side_b))
        direction = self.end - self.start
        along = float(np.dot(meeting - self.start, direction) / np.dot(direction, direction))
        return 0.0 <= along <= 1.0

    def update(self, frame_index: int, detections: vs.Detections) -> None:
        if detections.tracker_id is None:
            return
        for box, track_id in zip(detections.xyxy, detections.tracker_id):
            centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], float)
            corners = [self._side(np.array(corner, float)) for corner in
                       ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3]))]
            if all(c > 0 for c in corners):
                side = 1.0
            elif all(c < 0 for c in corners):
                side = -1.0
            else:  # on the line: wait until the whole box is on one side
                continue
            previous = self._last.get(int(track_id))
            if previous is not None and previous[1] * side < 0 and self._within_segment(previous[0], centre):
                direction = "in" if side > 0 else "out"
                self.counts[direction] += 1
                self.crossings.append((frame_index, int(track_id), direction))
            self._last[int(track_id)] = (centre, side)

    def draw(self, image: np.ndarray) -> None:
        start, end = tuple(int(v) for v in self.start), tuple(int(v) for v in self.end)
        cv2.line(image, start, end, (0, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(image, f"in {self.counts['in']}  out {self.counts['out']}", (10, 30),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 255, 255), 2, cv2.LINE_AA)


def parse_line(text: str) -> Tuple[Point, Point]:
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--line takes x1,y1,x2,y2 in pixels, got {text!r}") from None
    if (x1, y1) == (x2, y2):
        raise argparse.ArgumentTypeError("--line needs two different points")
    return (x1, y1), (x2, y2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="video to analyse")
    parser.add_argument("output", help="annotated video (.mp4, .mkv, ...)")
    parser.add_argument("--line", type=parse_line, help="x1,y1,x2,y2 in pixels (default: across the middle)")
    args = parser.parse_args(argv)

    player = vs.Player(args.source, output=args.output)
    width, height = player.info.width, player.info.height
    start, end = args.line or ((0.0, height / 2), (float(width), height / 2))
    counter = LineCounter(start, end)
    pipeline = vs.Pipeline(MotionDetector(), ByteTrack(frame_rate=player.info.fps or 30),
                           [BoxAnnotator(), LabelAnnotator()])

    @player.on_frame
    def count(frame: vs.Frame) -> None:
        pipeline(frame)  # detect, track, draw boxes and ids
        if not frame.revisit:  # a frame seen again (seek, step back) must not count twice
            counter.update(frame.index, pipeline.last)
        counter.draw(frame.array)

    stats = player.run()
    pipeline.close()
    print(f"{args.output}: {stats.frames_encoded} frames; crossed in {counter.counts['in']}, "
          f"out {counter.counts['out']}")
    print(json.dumps({**counter.counts, "crossings": counter.crossings}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
