"""The files of a new app (``__APP__`` is replaced by its name)."""

README = '''# __APP__

A video-analysis app built on [vistream](https://pypi.org/project/vistream/): it reads a
source, runs a detector, tracks what it finds, draws the results and writes an annotated
video plus a results file.

## Run it

    python -m __APP__ path/to/video.mp4          # or an rtsp:// / http:// URL
    python -m __APP__ --display                  # the source named in config.toml, in a window

What runs is set in `config.toml`: the source, the detector (`module:Class` and its options),
the tracker, the annotators, and the outputs.

## Test it

    pytest

`tests/test_app.py` generates a short clip (a bright square moving over a dark background),
runs the app on it and checks the tracked results read back from the results file.

## Make it yours

- `__APP__/predictor.py`: `BrightObjectDetector` is a stub that satisfies the
  `vistream.Detector` protocol (`detector(image) -> vistream.Detections`). Replace its body with
  your model: an ONNX/torch model, `vistream.Detections.from_ultralytics(model(image))`, ...
  A segmenter returns masks (`vistream.InstanceMasks.from_crops`), a pose estimator keypoints.
- `__APP__/app.py`: `build_pipeline()` wires detector, tracker and annotators into a
  `vistream.Pipeline`; add `vistream.Schedule` plugins there for per-frame analysis.
- `config.toml`: sources and plugin options.
- `vistream generate detector|segmenter|classifier|pose|tracker NAME --model MODEL` adds
  `__APP__/NAME.py` (a predictor wired for that model: ONNX, torch, ultralytics, DeepLabCut) and
  `tests/test_NAME.py`, and registers it as `[plugins.NAME]` in `config.toml`; select it with
  `[detector] use = "NAME"` (or `--select`).

Results (`results.jsonl`): one line per frame; read them back with
`vistream.results.read_results("results.jsonl")` → `(frame, time, vistream.Detections)`.
'''

CONFIG = '''# __APP__: what to read, which plugins to run, where the results go.

[source]
# a file, or a URL (rtsp://, rtmp://, srt://, http(s)://); `python -m __APP__ SOURCE` overrides it
uri = "video.mp4"

[detector]
# "module:Class" of a vistream.Detector, built with these keyword options; or `use = "NAME"` for a
# [plugins.NAME] entry that `vistream generate detector NAME --model ...` added at the end
class = "__APP__.predictor:BrightObjectDetector"
options = { threshold = 200, min_area = 40 }

[tracker]
# "bytetrack", "botsort", "iou", or "" for none (`use = "NAME"` picks a [plugins.NAME] tracker instead)
kind = "bytetrack"

[classifier]
# `use = "NAME"` runs a [plugins.NAME] classifier (vistream generate classifier NAME --model ...):
# per = "box" classifies each detection's crop, "frame" the whole frame; every_n_frames: its cadence
per = "box"
every_n_frames = 1

[pipeline]
# run the detector on every n-th frame (the tracker runs at the detector's rate)
every_n_frames = 1
# annotators drawn in this order: box, label, trace, dot, mask, keypoint
annotators = ["box", "label", "trace"]

[output]
video = "annotated.mp4"      # "" for none
results = "results.jsonl"    # .jsonl, .csv or .txt (MOTChallenge); "" for none
display = false
'''

PYPROJECT = '''[project]
name = "__APP__"
version = "0.1.0"
description = "A vistream video-analysis app"
requires-python = ">=3.9"
dependencies = ["vistream"]

[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[tool.setuptools]
packages = ["__APP__"]

[tool.pytest.ini_options]
# the app's package imports from the project folder without installing it
pythonpath = ["."]
testpaths = ["tests"]
'''

GITIGNORE = '''__pycache__/
*.mp4
*.jsonl
'''

PACKAGE_INIT = '''"""__APP__: a vistream video-analysis app (see README.md)."""

from .app import build_pipeline, load_config, run
from .predictor import BrightObjectDetector

__all__ = ["BrightObjectDetector", "build_pipeline", "load_config", "run"]
'''

MAIN = '''"""python -m __APP__ [SOURCE] [--config config.toml] [--display]"""

import argparse
import sys

from .app import load_config, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m __APP__", description=__doc__)
    parser.add_argument("source", nargs="?", help="file or URL (default: [source] uri of the config)")
    parser.add_argument("--config", default="config.toml", help="config file (default config.toml)")
    parser.add_argument("--display", action="store_true", help="show the annotated video in a window")
    args = parser.parse_args()
    config = load_config(args.config)
    if args.display:
        config["output"]["display"] = True
    summary = run(config, source=args.source)
    print(f"__APP__: {summary['frames']} frames; results: {summary['results']}; video: {summary['video']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

APP = '''"""The app: config → vistream Pipeline (detector → tracker → annotators) → Player."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import vistream as vs
from vistream import annotate, track

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

TRACKERS = {"bytetrack": track.ByteTrack, "botsort": track.BoTSORT, "iou": track.IoUTracker}
ANNOTATORS = {"box": annotate.BoxAnnotator, "label": annotate.LabelAnnotator, "trace": annotate.TraceAnnotator,
              "dot": annotate.DotAnnotator, "mask": annotate.MaskAnnotator,
              "keypoint": annotate.KeypointAnnotator}


def load_config(path: "str | Path") -> Dict[str, Any]:
    """The config file as a dict (every section present)."""
    with open(path, "rb") as file:
        config = tomllib.load(file)
    for section in ("source", "detector", "tracker", "classifier", "pipeline", "output"):
        config.setdefault(section, {})
    return config


def build_plugin(config: Dict[str, Any], section: str, default: Optional[str] = None, **extra: Any) -> Any:
    """The plugin ``[section]`` names: ``use = "NAME"`` (a ``[plugins.NAME]`` entry, as ``vistream
    generate`` adds them) or ``class = "module:Class"``, built with its ``options`` (None if neither)."""
    entry = config.get(section, {})
    if entry.get("use"):
        plugins = config.get("plugins", {})
        if entry["use"] not in plugins:
            raise ValueError(f"[{section}] use = {entry['use']!r}, but the config has no [plugins.{entry['use']}]")
        entry = plugins[entry["use"]]
    spec = entry.get("class", default)
    if not spec:
        return None
    module_name, _, class_name = spec.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(**{**extra, **entry.get("options", {})})


def build_detector(config: Dict[str, Any]) -> vs.Detector:
    """The detector ``[detector]`` names (``class = "module:Class"`` or ``use = "NAME"``), built with its options."""
    detector = build_plugin(config, "detector", "__APP__.predictor:BrightObjectDetector")
    if not isinstance(detector, vs.Detector):
        raise TypeError(f"{type(detector).__name__} is not a vistream.Detector (detector(image) -> Detections)")
    return detector


def build_pipeline(config: Dict[str, Any], fps: float = 30.0) -> vs.Pipeline:
    """Detector → tracker → annotators, with the results file of the config."""
    every = int(config["pipeline"].get("every_n_frames", 1))
    kind = config["tracker"].get("kind", "bytetrack")
    if config["tracker"].get("use"):
        tracker = build_plugin(config, "tracker", frame_rate=fps / every)
    else:
        tracker = TRACKERS[kind](frame_rate=fps / every) if kind in ("bytetrack", "botsort") else (
            TRACKERS[kind]() if kind else None)
    names = config["pipeline"].get("annotators", ["box", "label"])
    unknown = [name for name in names if name not in ANNOTATORS]
    if unknown:
        raise ValueError(f"unknown annotators {unknown}: choose from {sorted(ANNOTATORS)}")
    classifier = config.get("classifier", {})
    return vs.Pipeline(build_detector(config), tracker, [ANNOTATORS[name]() for name in names],
                       every_n_frames=every, results=config["output"].get("results") or None,
                       classifier=build_plugin(config, "classifier") if classifier.get("use") else None,
                       classify=classifier.get("per", "box"),
                       classifier_every_n_frames=int(classifier.get("every_n_frames", 1)))


def run(config: Dict[str, Any], source: Optional[str] = None) -> Dict[str, Any]:
    """Plays the source through the pipeline; returns ``{"frames", "results", "video"}``."""
    source = source or config["source"].get("uri")
    if not source:
        raise ValueError("no source: give one on the command line or as [source] uri in the config")
    output = config["output"]
    video = output.get("video") or None
    player = vs.Player(source, output=video, display=bool(output.get("display", False)))
    pipeline = build_pipeline(config, fps=player.info.fps or 30.0)
    player.on_frame(pipeline)
    error: Optional[BaseException] = None
    try:
        stats = player.run()
    except BaseException as caught:  # the results file is finalized either way
        error = caught
        raise
    finally:
        pipeline.close(error)
    return {"frames": stats.frames_processed, "results": output.get("results") or None, "video": video}
'''

PREDICTOR = '''"""The app's predictor: replace ``BrightObjectDetector`` with your model.

Anything that satisfies ``vistream.Detector`` works: called with an (H, W, 3) uint8 BGR image,
it returns ``vistream.Detections`` (boxes in the image's pixels, scores, class ids, names).
"""

from __future__ import annotations

import cv2
import numpy as np

import vistream as vs


class BrightObjectDetector:
    """Finds bright blobs (grey value >= ``threshold``, at least ``min_area`` pixels).

    A stand-in with the shape of a real predictor: load your model in ``__init__``, run it in
    ``__call__``. For example, with ultralytics::

        self.model = YOLO("yolov8n.pt")
        ...
        return vs.Detections.from_ultralytics(self.model(image, verbose=False))
    """

    def __init__(self, threshold: int = 200, min_area: int = 40) -> None:
        self.threshold = int(threshold)
        self.min_area = int(min_area)

    def __call__(self, image: np.ndarray) -> vs.Detections:
        grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY)
        _, bright = cv2.threshold(grey, self.threshold - 1, 255, cv2.THRESH_BINARY)
        count, _, stats, _ = cv2.connectedComponentsWithStats(bright)
        boxes, scores = [], []
        for x, y, w, h, area in stats[1:count]:
            if area >= self.min_area:
                boxes.append((x, y, x + w, y + h))
                scores.append(min(1.0, area / (w * h)))  # how much of its box the blob fills
        return vs.Detections(xyxy=np.array(boxes, np.float32).reshape(-1, 4), confidence=scores,
                             class_names={0: "bright object"})
'''

TEST_APP = '''"""The app end to end on a generated clip: a bright square moving over a dark background."""

from __future__ import annotations

import numpy as np
import pytest

import vistream as vs
from vistream.results import read_results

from __APP__ import BrightObjectDetector, load_config, run

FRAMES, WIDTH, HEIGHT, SIDE = 45, 320, 240, 32


def _square_x(index: int) -> int:
    return 20 + 5 * index


@pytest.fixture
def clip(tmp_path):
    """The generated clip (H.264, 30 fps)."""
    path = tmp_path / "square.mp4"
    with vs.Writer(str(path), fps=30) as writer:
        for index in range(FRAMES):
            image = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
            x = _square_x(index)
            image[100:100 + SIDE, x:x + SIDE] = 255
            writer.write(image)
    return path


def test_the_predictor_is_a_vistream_detector_and_finds_the_square():
    detector = BrightObjectDetector()
    assert isinstance(detector, vs.Detector)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[100:132, 50:82] = 255
    detections = detector(image)
    assert detections.xyxy.tolist() == [[50, 100, 82, 132]]
    assert detections.class_name.tolist() == ["bright object"]


def test_the_app_tracks_the_square_through_the_clip(clip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(__import__("pathlib").Path(__file__).parents[1] / "config.toml")
    summary = run(config, source=str(clip))
    assert summary["frames"] == FRAMES
    frames = list(read_results(summary["results"]))
    assert [index for index, _, _ in frames] == list(range(FRAMES))
    tracked = [(index, d) for index, _, d in frames if len(d)]
    assert len(tracked) >= FRAMES - 2          # the tracker confirms the square on its 2nd frame
    assert {int(d.tracker_id[0]) for _, d in tracked} == {1}  # one object, one id throughout
    for index, d in tracked:
        x1, y1, x2, y2 = d.xyxy[0]
        assert abs(x1 - _square_x(index)) < 4 and abs(y1 - 100) < 4, (index, d.xyxy[0])
    with vs.Reader(summary["video"]) as annotated:
        assert len(annotated) == FRAMES
'''
