"""Export tracks to CSV and plot them: detector + ByteTrack, results as CSV, paths drawn as a PNG.

The pipeline writes one CSV row per tracked box and frame (``Pipeline(results="tracks.csv")``:
frame, time, tracker_id, class_id, confidence, x1, y1, x2, y2); the script then reads the CSV
back and draws each track's path (its box centre over time) on the video's first frame.

    python examples/tracks_to_csv.py street.mp4 tracks.csv tracks.png --min-length 10

The last line printed is a JSON summary ``{"rows": N, "tracks": M, "plotted": K, "colors":
{id: "#rrggbb"}}`` (the colour of each plotted track in the PNG).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from typing import Dict, List, Tuple

import vistream as vs
from vistream.detect import MotionDetector
from vistream.track import ByteTrack

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#e377c2", "#bcbd22", "#17becf")


def track_tracks(source: str, csv_path: str) -> int:
    """Runs detector + tracker over ``source`` (no window, no output video); returns the frames processed."""
    player = vs.Player(source)
    pipeline = vs.Pipeline(MotionDetector(), ByteTrack(frame_rate=player.info.fps or 30), results=csv_path)
    player.on_frame(pipeline)
    error = None
    try:
        stats = player.run()
    except BaseException as caught:
        error = caught
        raise
    finally:
        pipeline.close(error)  # a failed run keeps its rows in a partial file and says where
    return stats.frames_processed


def read_paths(csv_path: str) -> Tuple[int, Dict[int, List[Tuple[int, float, float]]]]:
    """Rows in the CSV, and per track id its (frame, centre x, centre y), in frame order."""
    paths: Dict[int, List[Tuple[int, float, float]]] = defaultdict(list)
    rows = 0
    with open(csv_path, newline="") as file:
        for row in csv.DictReader(file):
            rows += 1
            x1, y1, x2, y2 = (float(row[k]) for k in ("x1", "y1", "x2", "y2"))
            paths[int(row["tracker_id"])].append((int(row["frame"]), (x1 + x2) / 2, (y1 + y2) / 2))
    return rows, {track_id: sorted(points) for track_id, points in paths.items()}


def plot_paths(source: str, paths: Dict[int, List[Tuple[int, float, float]]], png_path: str,
               min_length: int) -> Dict[int, str]:
    """Draws the paths of tracks seen on at least ``min_length`` frames; returns their colours."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with vs.Reader(source, format="rgb24") as reader:
        background = reader.frame_at(0).array.copy()
    height, width = background.shape[:2]
    figure = Figure(figsize=(8, 8 * height / width), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(background, alpha=0.5)
    colors: Dict[int, str] = {}
    for track_id, points in paths.items():
        if len(points) < min_length:
            continue
        color = COLORS[len(colors) % len(COLORS)]
        colors[track_id] = color
        xs, ys = [p[1] for p in points], [p[2] for p in points]
        axes.plot(xs, ys, color=color, linewidth=2.5)
        axes.annotate(str(track_id), (xs[-1], ys[-1]), color=color, fontsize=9, fontweight="bold")
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.axis("off")
    figure.savefig(png_path, format="png")
    return colors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="video to track")
    parser.add_argument("csv", help="CSV file to write (one row per tracked box and frame)")
    parser.add_argument("png", help="PNG with the tracks' paths")
    parser.add_argument("--min-length", type=int, default=10, help="plot tracks seen on at least this many frames")
    args = parser.parse_args(argv)

    frames = track_tracks(args.source, args.csv)
    rows, paths = read_paths(args.csv)
    colors = plot_paths(args.source, paths, args.png, args.min_length)
    print(f"{frames} frames: {rows} rows, {len(paths)} tracks in {args.csv}; {len(colors)} paths drawn in {args.png}")
    print(json.dumps({"rows": rows, "tracks": len(paths), "plotted": len(colors), "colors": colors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
