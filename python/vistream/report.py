"""Plots and a self-contained HTML page from a results file (``vistream report``).

Reads the JSON Lines file that ``Pipeline(..., results="run.jsonl")`` and
``vistream play ... --results run.jsonl`` write (one record per frame:
``{"frame", "time", "detections": [{"xyxy", "confidence", "class_id", "tracker_id"?, "class_name"?}],
"processing_ms"?, "plugins"?}``) and draws:

- objects per frame, one line per class;
- track timelines: one row per tracker id, a bar over each run of frames it was seen on;
- a histogram of track lengths (frames per id);
- a heatmap of box centres, over a frame of the source video when it is given;
- the pipeline's processing time per frame (files written before ``processing_ms`` existed say so);
- each plugin's numeric values over the frames (``"plugins"`` of the records: a zone's in/out and
  occupancy counts, a speed, any number a plugin returns, nested dicts flattened to dotted names);
- a strip of thumbnails of the annotated output video, when it is given.

Each plot is a PNG in ``<report name>_files/`` beside the page; the page itself inlines them
(base64 ``data:`` URLs), so it can be mailed or archived alone. Example::

    from vistream.report import load_results, write_report

    report = write_report("run.jsonl", "report.html", video="street.mp4", annotated="tracked.mp4")
    report.html, report.images["timelines"]

Needs matplotlib (``pip install matplotlib``).
"""

from __future__ import annotations

import base64
import html
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import MissingDependencyError

PathLike = Union[str, Path]

# Saturated, distinguishable colours and no greys: grey is what the axes, grid and text use, so a
# coloured pixel in a plot area is always data (the report's tests count timeline rows that way).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
           "#17becf", "#0050ff", "#ff0090", "#00b050")

THUMBNAIL_COUNT = 8
THUMBNAIL_WIDTH = 240


@dataclass(frozen=True)
class FrameResult:
    """One frame of a results file."""

    frame: int
    time: float
    detections: Tuple[dict, ...]
    processing_ms: Optional[float] = None
    #: the record's ``"plugins"``: what each plugin returned on this frame (None: no plugins ran)
    plugins: Optional[dict] = None


@dataclass(frozen=True)
class Report:
    """What ``write_report`` wrote: the page and the PNG of each plot (by name)."""

    html: Path
    images: Dict[str, Path] = field(default_factory=dict)


def load_results(path: PathLike) -> List[FrameResult]:
    """Reads a results ``.jsonl`` file into one ``FrameResult`` per line, in file order.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the line for a line
    that is not a results record (or for a file with none, or a ``.txt``/``.csv`` export, which
    lacks the per-frame records).
    """
    path = Path(path)
    if path.suffix.lower() in (".txt", ".csv"):
        raise ValueError(f"{path.name}: the report reads the .jsonl results (one record per frame); "
                         "write them with --results NAME.jsonl")
    frames: List[FrameResult] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path.name} is not a results file (not text; the report reads the .jsonl that "
                         "--results writes)") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            detections = tuple(record["detections"])
            for detection in detections:
                if len(detection["xyxy"]) != 4:
                    raise ValueError("xyxy needs 4 numbers")
            timing = record.get("processing_ms")
            plugins = record.get("plugins")
            if plugins is not None and not isinstance(plugins, dict):
                raise ValueError("plugins must be an object")
            frames.append(FrameResult(int(record["frame"]), float(record["time"]), detections,
                                      None if timing is None else float(timing), plugins))
        except (ValueError, KeyError, TypeError) as error:
            reason = f"missing {error}" if isinstance(error, KeyError) else str(error)
            raise ValueError(f"{path.name} line {number} is not a results record ({reason})") from None
    if not frames:
        raise ValueError(f"{path.name} holds no results records")
    return frames


def _class_label(detection: dict) -> str:
    name = detection.get("class_name")
    return str(name) if name is not None else f"class {detection.get('class_id', 0)}"


def track_segments(frames: Sequence[FrameResult]) -> Dict[int, List[Tuple[int, int]]]:
    """Per tracker id, the runs of consecutive frame indices it was seen on, as ``(first, last)``."""
    seen: Dict[int, List[int]] = defaultdict(list)
    for result in frames:
        for detection in result.detections:
            if detection.get("tracker_id") is not None:
                seen[int(detection["tracker_id"])].append(result.frame)
    segments: Dict[int, List[Tuple[int, int]]] = {}
    for track_id, indices in seen.items():
        indices = sorted(set(indices))
        runs = [[indices[0], indices[0]]]
        for index in indices[1:]:
            if index == runs[-1][1] + 1:
                runs[-1][1] = index
            else:
                runs.append([index, index])
        segments[track_id] = [(a, b) for a, b in runs]
    return dict(sorted(segments.items()))


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("vistream report draws with matplotlib: pip install matplotlib") from None
    # A Figure with its own Agg canvas: no pyplot, no global backend switch in the caller's process.
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    figure.savefig(path, format="png")
    return path


def plot_objects_per_frame(frames: Sequence[FrameResult], path: Path) -> Path:
    """Objects per frame, one line per class."""
    figure = _figure(9, 3.2)
    axes = figure.add_subplot()
    indices = [r.frame for r in frames]
    classes = sorted({_class_label(d) for r in frames for d in r.detections})
    for number, label in enumerate(classes):
        counts = [sum(1 for d in r.detections if _class_label(d) == label) for r in frames]
        axes.plot(indices, counts, color=PALETTE[number % len(PALETTE)], label=label, linewidth=1.5)
    if classes:
        axes.legend(loc="upper right", fontsize=8)
    axes.set_xlabel("frame")
    axes.set_ylabel("objects")
    axes.set_title("Objects per frame by class")
    axes.grid(True, color="#dddddd")
    figure.tight_layout()
    return _save(figure, path)


def plot_track_timelines(frames: Sequence[FrameResult], path: Path) -> Path:
    """A Gantt-like chart: one row per tracker id (first seen at the top), a bar per run of frames."""
    segments = track_segments(frames)
    order = sorted(segments, key=lambda t: (segments[t][0][0], t))
    rows = max(1, len(order))
    # 14 px per row at 100 dpi keeps every row visible (and countable) for a few hundred tracks.
    figure = _figure(9, max(2.5, 1.3 + rows * 0.14))
    axes = figure.add_subplot()
    for row, track_id in enumerate(order):
        spans = [(first, last - first + 1) for first, last in segments[track_id]]
        axes.broken_barh(spans, (row - 0.35, 0.7), facecolors=PALETTE[track_id % len(PALETTE)])
    axes.set_ylim(rows - 0.5, -0.5)
    axes.set_xlim(min(r.frame for r in frames) - 0.5, max(r.frame for r in frames) + 1.5)
    if len(order) <= 40:
        axes.set_yticks(range(len(order)), [str(t) for t in order], fontsize=7)
    else:
        axes.set_yticks([])
    axes.set_xlabel("frame")
    axes.set_ylabel("track id")
    axes.set_title(f"Track timelines ({len(order)} tracks)" if order else "Track timelines (no tracker ids)")
    figure.tight_layout()
    return _save(figure, path)


def plot_track_lengths(frames: Sequence[FrameResult], path: Path) -> Path:
    """Histogram of track lengths (frames each id was seen on)."""
    lengths = [sum(b - a + 1 for a, b in runs) for runs in track_segments(frames).values()]
    figure = _figure(6, 3.2)
    axes = figure.add_subplot()
    if lengths:
        bins = min(30, max(1, len(set(lengths))))
        axes.hist(lengths, bins=bins, color=PALETTE[0])
    axes.set_xlabel("frames per track")
    axes.set_ylabel("tracks")
    axes.set_title(f"Track lengths (median {np.median(lengths):g} frames)" if lengths else "Track lengths (no tracks)")
    figure.tight_layout()
    return _save(figure, path)


def _video_frame(video: PathLike, index: int) -> np.ndarray:
    from .reader import Reader

    with Reader(str(video), format="rgb24") as reader:
        last = max(0, len(reader) - 1)
        return reader.frame_at(min(index, last)).array.copy()


def plot_heatmap(frames: Sequence[FrameResult], path: Path, video: Optional[PathLike] = None) -> Path:
    """Where box centres were, as a heatmap; over the video's middle frame when ``video`` is given."""
    centres = np.array([((d["xyxy"][0] + d["xyxy"][2]) / 2, (d["xyxy"][1] + d["xyxy"][3]) / 2)
                        for r in frames for d in r.detections], dtype=float).reshape(-1, 2)
    background = _video_frame(video, frames[len(frames) // 2].frame) if video is not None else None
    if background is not None:
        height, width = background.shape[:2]
    else:
        width = max(1.0, float(centres[:, 0].max()) if len(centres) else 1.0)
        height = max(1.0, float(centres[:, 1].max()) if len(centres) else 1.0)
    figure = _figure(8, max(2.5, 8 * height / width * 0.85))
    axes = figure.add_subplot()
    cells = 48
    grid, _, _ = np.histogram2d(centres[:, 1], centres[:, 0], bins=(max(1, round(cells * height / width)), cells),
                                range=((0, height), (0, width)))
    if background is not None:
        axes.imshow(background, extent=(0, width, height, 0))
    masked = np.ma.masked_equal(grid, 0)  # cells nobody visited stay clear, the frame shows through
    image = axes.imshow(masked, extent=(0, width, height, 0), cmap="inferno", alpha=0.65 if background is not None
                        else 1.0, interpolation="nearest")
    figure.colorbar(image, ax=axes, label="box centres")
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.set_title(f"Box centres ({len(centres)} boxes)")
    figure.tight_layout()
    return _save(figure, path)


def plot_processing_time(frames: Sequence[FrameResult], path: Path) -> Optional[Path]:
    """Milliseconds the pipeline spent per frame; None when the file has no timings."""
    timed = [(r.frame, r.processing_ms) for r in frames if r.processing_ms is not None]
    if not timed:
        return None
    figure = _figure(9, 3.2)
    axes = figure.add_subplot()
    indices, milliseconds = zip(*timed)
    axes.plot(indices, milliseconds, color=PALETTE[3], linewidth=1)
    median = float(np.median(milliseconds))
    axes.axhline(median, color=PALETTE[0], linestyle="--", linewidth=1, label=f"median {median:.1f} ms")
    axes.legend(loc="upper right", fontsize=8)
    axes.set_xlabel("frame")
    axes.set_ylabel("ms")
    axes.set_title("Processing time per frame (detect, track, plugins, annotate)")
    axes.grid(True, color="#dddddd")
    figure.tight_layout()
    return _save(figure, path)


#: lines drawn per plugin at most (the first by name; the page says how many were left out)
MAX_PLUGIN_LINES = 10


def _numeric_leaves(value: object, prefix: str, into: Dict[str, float]) -> None:
    """The numbers in ``value`` by dotted path (dicts are walked; lists, strings and bools are not
    values to plot: event lists, labels, flags)."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if np.isfinite(value):
            into[prefix] = float(value)
    elif isinstance(value, dict):
        for key, inner in value.items():
            _numeric_leaves(inner, f"{prefix}.{key}" if prefix else str(key), into)


def plugin_series(frames: Sequence[FrameResult]) -> Dict[str, Dict[str, Tuple[List[int], List[float]]]]:
    """Per plugin, per numeric value (dotted path inside what the plugin returned), the frames it
    was given on and its values there. A plugin that runs every N frames has points on those only.

    Example: a ``ZoneAnalytics`` plugin named "zones" with a line "gate" gives
    ``{"zones": {"counts.gate.in": ([0, 1, ...], [0.0, 0.0, ...]), "counts.gate.out": ...}}``.
    """
    series: Dict[str, Dict[str, Tuple[List[int], List[float]]]] = {}
    for result in frames:
        for plugin, value in (result.plugins or {}).items():
            leaves: Dict[str, float] = {}
            _numeric_leaves(value, "", leaves)
            for path, number in leaves.items():
                indices, values = series.setdefault(str(plugin), {}).setdefault(path or "value", ([], []))
                indices.append(result.frame)
                values.append(number)
    return {plugin: dict(sorted(lines.items())) for plugin, lines in sorted(series.items()) if lines}


def plot_plugin_values(frames: Sequence[FrameResult], path: Path) -> Optional[Path]:
    """One panel per plugin with numeric values, a line per value; None when no plugin gave a number."""
    series = plugin_series(frames)
    if not series:
        return None
    figure = _figure(9, 0.6 + 2.6 * len(series))
    for number, (plugin, lines) in enumerate(series.items(), 1):
        axes = figure.add_subplot(len(series), 1, number)
        for colour, (name, (indices, values)) in enumerate(list(lines.items())[:MAX_PLUGIN_LINES]):
            axes.plot(indices, values, color=PALETTE[colour % len(PALETTE)], label=name, linewidth=1.5,
                      drawstyle="steps-post", marker="." if len(indices) < 40 else None)
        left_out = len(lines) - MAX_PLUGIN_LINES
        axes.set_title(f"{plugin}" + (f" (first {MAX_PLUGIN_LINES} of {len(lines)} values)" if left_out > 0 else ""))
        axes.legend(loc="upper left", fontsize=7)
        axes.set_xlabel("frame")
        axes.grid(True, color="#dddddd")
    figure.tight_layout()
    return _save(figure, path)


def thumbnail_strip(annotated: PathLike, path: Path, count: int = THUMBNAIL_COUNT) -> Path:
    """``count`` evenly spaced frames of the annotated video side by side, each labelled with its index."""
    import cv2

    from .reader import Reader

    with Reader(str(annotated), format="bgr24") as reader:
        total = len(reader)
        indices = sorted({round(i * (total - 1) / max(1, count - 1)) for i in range(count)})
        tiles = []
        for frame in reader.frames_at(indices):
            image = frame.array
            height = round(image.shape[0] * THUMBNAIL_WIDTH / image.shape[1])
            tile = cv2.resize(image, (THUMBNAIL_WIDTH, height), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"#{frame.index}", (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2,
                        cv2.LINE_AA)
            tiles.append(tile)
    gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
    strip = np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
    if not cv2.imwrite(str(path), strip):
        raise OSError(f"cannot write {path}")
    return path


def _summary(frames: Sequence[FrameResult]) -> List[Tuple[str, str]]:
    segments = track_segments(frames)
    lengths = [sum(b - a + 1 for a, b in runs) for runs in segments.values()]
    classes = Counter(_class_label(d) for r in frames for d in r.detections)
    timings = [r.processing_ms for r in frames if r.processing_ms is not None]
    rows = [("frames", f"{len(frames)} ({frames[0].frame}–{frames[-1].frame}, "
                       f"{frames[0].time:.2f}–{frames[-1].time:.2f} s)"),
            ("detections", f"{sum(classes.values())}"
                           + (f" ({', '.join(f'{n} {c}' for c, n in classes.most_common())})" if classes else "")),
            ("tracks", f"{len(segments)}" + (f", median length {np.median(lengths):g} frames" if lengths else ""))]
    if timings:
        rows.append(("processing", f"median {np.median(timings):.1f} ms, max {max(timings):.1f} ms per frame"))
    return rows


def _inline(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_PAGE_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}img{max-width:100%;border:1px solid #ddd}
table{border-collapse:collapse}td{padding:.2rem .8rem;border-bottom:1px solid #eee}.note{color:#666}"""


def write_report(results: PathLike, output: PathLike = "report.html", *, video: Optional[PathLike] = None,
                 annotated: Optional[PathLike] = None) -> Report:
    """Draws every plot of ``results`` (a ``.jsonl`` results file) and writes the HTML page.

    Args:
        results: the results file (see ``load_results``).
        output: the HTML page; the PNGs go to ``<output stem>_files/`` beside it.
        video: the source video: the heatmap is drawn over its middle frame.
        annotated: the annotated output video: a strip of its frames ends the page.

    Returns the paths written. Raises what ``load_results`` raises, ``SourceError`` for a video
    that cannot be read, and ``MissingDependencyError`` without matplotlib.
    """
    frames = load_results(results)
    output = Path(output)
    folder = output.with_name(output.stem + "_files")
    folder.mkdir(parents=True, exist_ok=True)
    images: Dict[str, Path] = {
        "objects": plot_objects_per_frame(frames, folder / "objects_per_frame.png"),
        "timelines": plot_track_timelines(frames, folder / "track_timelines.png"),
        "lengths": plot_track_lengths(frames, folder / "track_lengths.png"),
        "heatmap": plot_heatmap(frames, folder / "heatmap.png", video),
    }
    timing = plot_processing_time(frames, folder / "processing_time.png")
    if timing is not None:
        images["timing"] = timing
    plugins = plot_plugin_values(frames, folder / "plugin_values.png")
    if plugins is not None:
        images["plugins"] = plugins
    if annotated is not None:
        images["thumbnails"] = thumbnail_strip(annotated, folder / "thumbnails.png")

    sections = [
        ("Objects per frame", "objects", ""),
        ("Track timelines", "timelines", "One row per track id, a bar for each run of frames it was seen on."),
        ("Track lengths", "lengths", ""),
        ("Where the boxes were", "heatmap", "Box centres" + (" over the middle frame of "
                                                             f"{Path(video).name}." if video else ".")),
        ("Processing time", "timing", "" if timing else
         "This results file records no processing time (written before vistream recorded processing_ms)."),
        ("Plugin values", "plugins", "What each plugin returned, as numbers over the frames: "
         + ", ".join(plugin_series(frames)) + "." if plugins else ""),
        ("Annotated frames", "thumbnails", f"Evenly spaced frames of {Path(annotated).name}." if annotated else ""),
    ]
    body = [f"<h1>vistream report: {html.escape(Path(results).name)}</h1>", "<table>"]
    body += [f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in _summary(frames)]
    body.append("</table>")
    for title, key, note in sections:
        if key not in images and not note:
            continue
        body.append(f"<h2>{html.escape(title)}</h2>")
        if note:
            body.append(f'<p class="note">{html.escape(note)}</p>')
        if key in images:
            body.append(f'<img id="{key}" alt="{html.escape(title)}" src="{_inline(images[key])}">')
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>vistream report: {html.escape(Path(results).name)}</title>"
            f"<style>{_PAGE_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    output.write_text(page, encoding="utf-8")
    return Report(output, images)


__all__ = ["FrameResult", "Report", "load_results", "track_segments", "write_report", "plot_objects_per_frame",
           "plot_track_timelines", "plot_track_lengths", "plot_heatmap", "plot_processing_time", "plot_plugin_values",
           "plugin_series", "thumbnail_strip"]
