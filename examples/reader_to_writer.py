"""Decode with a Reader, draw with annotators, encode with a Writer: your own loop, no Player.

Every frame is read (``vistream.Reader``), what moves is detected (``MotionDetector``) and tracked
(``ByteTrack``), boxes and track ids are drawn into the frame in place, and the frame is encoded
(``vistream.Writer``) with its own timestamp; the source's sound is copied along. The loop is
yours: skip frames, write some twice, write several outputs from one encoding, stop when you like.

    python examples/reader_to_writer.py street.mp4 boxed.mp4

The last line printed is a JSON summary ``{"frames": N, "frames_with_boxes": M, "audio": "copy" |
"aac" | null, "boxes": {frame: [[x1, y1, x2, y2], ...]}}`` (the boxes drawn on each frame).
"""

from __future__ import annotations

import argparse
import json
import sys

import vistream as vs
from vistream.annotate import BoxAnnotator, LabelAnnotator
from vistream.detect import MotionDetector
from vistream.track import ByteTrack


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="video to read")
    parser.add_argument("output", help="annotated video to write (.mp4, .mkv, ...)")
    args = parser.parse_args(argv)

    detector = MotionDetector()
    annotators = [BoxAnnotator(), LabelAnnotator()]
    boxes = {}
    with vs.Reader(args.source) as reader:
        info = reader.info
        tracker = ByteTrack(frame_rate=info.fps or 30)
        # The Writer copies the source's sound along the frames written (the sound stops where
        # the last frame ends); fps times frames written without a time.
        audio = args.source if info.has_audio else None
        with vs.Writer(args.output, fps=info.fps or 30, audio=audio) as writer:
            for frame in reader:
                tracked = tracker.update(detector(frame.array), frame=frame.array)
                for annotator in annotators:
                    annotator.annotate(frame.array, tracked)  # in place: the Writer encodes these pixels
                writer.write(frame, time=frame.time)          # the frame's own timestamp (VFR-safe)
                if len(tracked):
                    boxes[frame.index] = [[round(float(v), 1) for v in box] for box in tracked.xyxy]
        stats = writer.stats
    print(f"{args.source} -> {args.output}: {stats.frames_written} frames, boxes on {len(boxes)}, "
          f"encoder {stats.encoder}, audio {stats.audio}")
    print(json.dumps({"frames": stats.frames_written, "frames_with_boxes": len(boxes), "audio": stats.audio,
                      "boxes": boxes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
