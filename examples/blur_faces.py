"""Blur every face in a video (MTCNN face detector + BlurAnnotator), keeping the audio.

MTCNN comes from ``facenet-pytorch`` (``pip install --no-deps facenet-pytorch``; its weights ship
inside the wheel, nothing is downloaded). Boxes are grown by ``--grow`` (a fraction of their size
on each side) so hair and chin are covered too.

    python examples/blur_faces.py interview.mp4 anonymised.mp4

The last line printed is a JSON summary ``{"frames": N, "frames_with_faces": M, "faces": K,
"boxes": {frame: [[x1, y1, x2, y2], ...]}}`` with the blurred regions of each frame.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

import vistream as vs
from vistream.annotate import BlurAnnotator
from vistream.detect import MTCNNFaceDetector


def grown(detections: vs.Detections, fraction: float, width: int, height: int) -> vs.Detections:
    """The same detections with boxes grown by ``fraction`` of their size on each side (clipped)."""
    if not len(detections):
        return detections
    xyxy = detections.xyxy.copy()
    margin = np.stack([xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]], axis=1) * fraction
    xyxy[:, :2] -= margin
    xyxy[:, 2:] += margin
    np.clip(xyxy, 0, [width, height, width, height], out=xyxy)
    return vs.Detections(xyxy=xyxy, confidence=detections.confidence, class_id=detections.class_id)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="video with faces")
    parser.add_argument("output", help="video with the faces blurred (.mp4, .mkv, ...)")
    parser.add_argument("--grow", type=float, default=0.15, help="grow each face box by this fraction per side")
    parser.add_argument("--min-face", type=int, default=20, help="smallest face looked for, in pixels")
    parser.add_argument("--device", default="cpu", help="torch device for MTCNN (cpu, cuda)")
    args = parser.parse_args(argv)

    detector = MTCNNFaceDetector(device=args.device, min_face_size=args.min_face)
    blur = BlurAnnotator()
    player = vs.Player(args.source, output=args.output)
    width, height = player.info.width, player.info.height
    boxes = {}

    @player.on_frame
    def anonymise(frame: vs.Frame) -> None:
        faces = grown(detector(frame.array), args.grow, width, height)
        blur.annotate(frame.array, faces)  # in place: what is encoded
        if len(faces):
            boxes[frame.index] = [[round(float(v), 1) for v in box] for box in faces.xyxy]

    stats = player.run()
    faces = sum(len(b) for b in boxes.values())
    print(f"{args.output}: {stats.frames_encoded} frames, {faces} faces blurred on {len(boxes)} frames")
    print(json.dumps({"frames": stats.frames_encoded, "frames_with_faces": len(boxes), "faces": faces,
                      "boxes": boxes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
