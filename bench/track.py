#!/usr/bin/env python3
"""Tracker and detector speed benchmark: vistream vs ultralytics vs supervision, same run.

This is a benchmark, not a test: it never fails on a slow result, it reports it.

    python bench/track.py               # writes bench/results/track-*.json + BENCHMARKS.md section
    python bench/track.py --no-write    # print the table only
    python bench/track.py --no-detector # trackers only (no torch needed)

What it measures (median over repetitions, contenders interleaved in one process):

1. Tracker-only time per frame: the same detections (made from the MOTChallenge ground truth
   that ``motmetrics`` ships, with seeded misses, jitter, low scores and false positives — the
   data of tests/test_tracker_parity.py — plus a dense synthetic crowd of 100 walkers) go to
   vistream ByteTrack / BoT-SORT / OC-SORT, supervision ByteTrack, ultralytics BYTETracker /
   BOTSORT and (when installed) boxmot's OcSort, each at its own defaults.
   BoT-SORT runs without camera-motion compensation here (no images); MOTA/IDF1 are printed
   alongside so a fast-but-wrong tracker is visible.
2. Camera-motion estimate per 1280x720 frame (BoT-SORT's GMC): vistream ``CameraMotion`` vs
   ultralytics ``GMC``, sparse optical flow and ECC, on a pan over the real street clip.
3. YOLOX-s / YOLOX-m detector throughput at 640x640 on CPU, fp32 and bf16 (random weights:
   speed does not depend on the values), preprocessing + forward + postprocessing; and the
   same models exported to ONNX, run by ONNX Runtime.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
BEGIN_MARK = "<!-- bench/track.py: generated section begin -->"
END_MARK = "<!-- bench/track.py: generated section end -->"
STREET_CLIP = ROOT / "python" / "test.mp4"

os.environ.setdefault("YOLO_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "tests"))  # the parity test's detection synthesis and metrics


def _log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


# -- detection streams ----------------------------------------------------------------------
def mot_streams() -> dict:
    from test_tracker_parity import _ground_truth, _synthesise

    streams = {}
    for sequence in ("TUD-Campus", "TUD-Stadtmitte"):
        gt = _ground_truth(sequence)
        streams[sequence] = (gt, _synthesise(gt, seed=0))  # 25 fps, YOLOX-like scores
    return streams


def crowd_stream(people: int = 100, frames: int = 300, seed: int = 0) -> list:
    """Walkers crossing a 1920x1080 view: 10% missed, 3% jitter, 20% low scores, false positives."""
    rng = np.random.default_rng(seed)
    position = rng.uniform([0, 0], [1880, 980], (people, 2))
    velocity = rng.normal(0, 2.0, (people, 2))
    size = np.column_stack([rng.uniform(25, 50, people), rng.uniform(70, 130, people)])
    out = []
    for f in range(1, frames + 1):
        position = np.clip(position + velocity, 0, [1880, 980])
        seen = rng.random(people) > 0.1
        xy = position[seen] + rng.normal(0, 0.03, (seen.sum(), 2)) * size[seen]
        wh = size[seen] * (1 + rng.normal(0, 0.03, (seen.sum(), 2)))
        scores = np.where(rng.random(seen.sum()) < 0.2, rng.uniform(0.15, 0.5, seen.sum()),
                          rng.uniform(0.55, 0.98, seen.sum()))
        n_fp = rng.poisson(3)
        fp_xy = rng.uniform([0, 0], [1880, 980], (n_fp, 2))
        fp_wh = np.column_stack([rng.uniform(25, 50, n_fp), rng.uniform(70, 130, n_fp)])
        xyxy = np.vstack([np.column_stack([xy, xy + wh]), np.column_stack([fp_xy, fp_xy + fp_wh])])
        scores = np.concatenate([scores, rng.uniform(0.1, 0.7, n_fp)])
        out.append((f, xyxy.astype(np.float32), scores.astype(np.float32)))
    return out


# -- trackers --------------------------------------------------------------------------------
def tracker_contenders() -> dict:
    """name -> factory returning step(xyxy, scores) -> (boxes, ids)."""
    import supervision as sv
    from test_tracker_parity import _supervision, _ultralytics, _ultralytics_args, _vistream
    from ultralytics.trackers.bot_sort import BOTSORT
    from ultralytics.trackers.byte_tracker import BYTETracker

    from vistream.track import OCSORT, BoTSORT, ByteTrack

    # every tracker at its own defaults, as tests/test_tracker_parity.py compares them
    ul_defaults = _ultralytics_args(track_high_thresh=0.25, new_track_thresh=0.25)
    contenders = {
        "vistream ByteTrack": lambda: _vistream(ByteTrack(frame_rate=25)),
        "supervision ByteTrack": lambda: _supervision(sv.ByteTrack(frame_rate=25)),
        "ultralytics BYTETracker": lambda: _ultralytics(BYTETracker(ul_defaults)),
        "vistream BoTSORT": lambda: _vistream(BoTSORT(frame_rate=25, gmc="none")),
        "ultralytics BOTSORT": lambda: _ultralytics(BOTSORT(ul_defaults)),
        "vistream OCSORT": lambda: _vistream(OCSORT(frame_rate=25)),
    }
    try:  # boxmot is not a dependency: compared when installed (pip install --no-deps boxmot rich)
        from boxmot.trackers.box.ocsort.tracker import OcSort

        image = np.zeros((1080, 1920, 3), np.uint8)

        def boxmot_step(tracker):
            def step(xyxy, scores):
                rows = tracker.update(np.column_stack([xyxy, scores, np.zeros(len(scores))]).astype(np.float32), image)
                rows = np.asarray(rows, np.float64).reshape(-1, 8)  # x1 y1 x2 y2 id conf cls idx
                return rows[:, :4], rows[:, 4].astype(int)
            return step
        # vistream OCSORT's defaults (det_thresh 0.6, min_hits 1, BYTE stage on)
        contenders["boxmot OcSort"] = lambda: boxmot_step(OcSort(det_thresh=0.6, min_hits=1, use_byte=True))
    except ImportError:
        _log("boxmot not installed: no boxmot OcSort row")
    return contenders


def time_tracker(factory, frames: list) -> tuple:
    """(per-frame seconds, outputs) of one full pass over ``frames``."""
    step = factory()
    times, outputs = [], {}
    for f, xyxy, scores in frames:
        start = time.perf_counter()
        outputs[f] = step(xyxy, scores)
        times.append(time.perf_counter() - start)
    return times, outputs


def bench_trackers(reps: int) -> list:
    from test_tracker_parity import _mota_idf1

    contenders = tracker_contenders()
    streams = {name: (gt, frames) for name, (gt, frames) in mot_streams().items()}
    streams["crowd-100"] = (None, crowd_stream())
    rows = []
    for stream, (gt, frames) in streams.items():
        per_frame = {name: [] for name in contenders}
        quality = {}
        for rep in range(reps):
            names = list(contenders)
            names = names[rep % len(names):] + names[:rep % len(names)]  # rotate the order
            for name in names:
                times, outputs = time_tracker(contenders[name], frames)
                per_frame[name].extend(times)
                if rep == 0 and gt is not None:
                    quality[name] = _mota_idf1(gt, outputs)
        for name, times in per_frame.items():
            row = {"stream": stream, "tracker": name, "frames": len(frames),
                   "detections_per_frame": float(np.mean([len(s) for _, _, s in frames])),
                   "median_ms": 1000 * statistics.median(times), "mean_ms": 1000 * statistics.fmean(times)}
            if name in quality:
                row["mota"], row["idf1"] = quality[name]
            rows.append(row)
            _log(f"{stream:15s} {name:24s} {row['median_ms']:.3f} ms/frame")
    return rows


# -- camera motion -----------------------------------------------------------------------------
def pan_frames(count: int = 60) -> list:
    """1280x720 crops of a 1920x1080 upscale of the street clip, the window wandering like a
    hand-held camera (so there is real motion to find)."""
    import cv2

    import vistream

    frames = []
    with vistream.Reader(str(STREET_CLIP), vfilter="scale=1920:1080") as reader:
        for i, frame in enumerate(reader):
            if i >= count:
                break
            x = int(320 + 200 * np.sin(i / 9))
            y = int(180 + 120 * np.sin(i / 7))
            frames.append(np.ascontiguousarray(np.asarray(frame.array)[y:y + 720, x:x + 1280]))
    assert frames and cv2 is not None
    return frames


def bench_camera_motion(reps: int) -> list:
    from ultralytics.trackers.utils.gmc import GMC

    from vistream.track import CameraMotion

    frames = pan_frames()
    contenders = {
        ("sparse_flow", "vistream CameraMotion"): lambda: CameraMotion("sparse_flow").estimate,
        ("sparse_flow", "ultralytics GMC"): lambda: GMC("sparseOptFlow").apply,
        ("ecc", "vistream CameraMotion"): lambda: CameraMotion("ecc").estimate,
        ("ecc", "ultralytics GMC"): lambda: GMC("ecc").apply,
    }
    rows = []
    for (method, name), factory in contenders.items():
        times = []
        for _ in range(reps if method == "sparse_flow" else 1):  # the reference ECC is slow
            estimate = factory()
            for frame in frames:
                start = time.perf_counter()
                estimate(frame)
                times.append(time.perf_counter() - start)
        rows.append({"method": method, "implementation": name, "frames": len(frames),
                     "median_ms": 1000 * statistics.median(times)})
        _log(f"gmc {method:12s} {name:22s} {rows[-1]['median_ms']:.2f} ms/frame")
    return rows


# -- detector ------------------------------------------------------------------------------------
def _median_call_time(detector, image: np.ndarray, reps: int) -> float:
    """Seconds per ``detector(image)`` call: 2 warm-up calls (allocator, kernels), median of the rest."""
    for _ in range(2):
        detector(image)
    times = []
    for _ in range(max(5, reps * 4)):
        start = time.perf_counter()
        detector(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_detector(reps: int) -> list:
    import torch

    import vistream
    from vistream.detect import YOLOX

    with vistream.Reader(str(STREET_CLIP)) as reader:
        image = np.array(reader.frame_at(100).array)
    rows = []
    for model in ("yolox_s", "yolox_m"):
        for precision in ("fp32", "bf16"):
            detector = YOLOX(model=model, ckpt_file=None, device="cpu", input_size=(640, 640),
                             bf16=precision == "bf16")
            median = _median_call_time(detector, image, reps)
            rows.append({"model": model, "precision": precision, "input": "640x640", "image": "1280x720",
                         "median_ms": 1000 * median, "fps": 1.0 / median, "threads": torch.get_num_threads()})
            _log(f"{model} {precision}: {1000 * median:.1f} ms/frame, {1 / median:.2f} fps")
    return rows


def bench_detector_onnx(reps: int) -> list:
    """The same models exported to ONNX and run by ONNX Runtime's CPU provider."""
    import tempfile

    import vistream
    from vistream.detect import YOLOX
    from vistream.detect.yolox import export_onnx

    with vistream.Reader(str(STREET_CLIP)) as reader:
        image = np.array(reader.frame_at(100).array)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model in ("yolox_s", "yolox_m"):
            path = os.path.join(folder, f"{model}.onnx")
            export_onnx(YOLOX(model=model, ckpt_file=None, device="cpu", input_size=(640, 640)), path)
            median = _median_call_time(YOLOX(model=model, device="cpu", onnx_file=path), image, reps)
            rows.append({"model": model, "precision": "fp32 (ONNX Runtime CPU)", "input": "640x640",
                         "image": "1280x720", "median_ms": 1000 * median, "fps": 1.0 / median})
            _log(f"{model} onnxruntime: {1000 * median:.1f} ms/frame, {1 / median:.2f} fps")
    return rows


# -- report --------------------------------------------------------------------------------------
def versions() -> dict:
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for module in ("vistream", "supervision", "ultralytics", "cv2", "torch", "onnxruntime", "scipy"):
        try:
            out[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - report what is there
            out[module] = None
    return out


def markdown(result: dict) -> str:
    lines = [BEGIN_MARK, "",
             f"Run {result['date']} on `{result['host']}` ({result['cpu']}, {os.cpu_count()} cores), "
             f"{result['reps']} repetitions. Versions: " +
             ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v) + ".", ""]
    if result.get("trackers"):
        lines += ["### Tracker-only time per frame (median; lower is better)", "",
                  "| detections | tracker | dets/frame | ms/frame | vs vistream | MOTA | IDF1 |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        rows = result["trackers"]
        for row in rows:
            family = ("ByteTrack" if "Byte" in row["tracker"] else
                      "OCSORT" if "ocsort" in row["tracker"].lower() else "BoTSORT")
            ours = next(r for r in rows if r["stream"] == row["stream"] and r["tracker"] == f"vistream {family}")
            ratio = row["median_ms"] / ours["median_ms"]
            quality = (f"{100 * row['mota']:.2f} | {100 * row['idf1']:.2f}" if "mota" in row else "– | –")
            lines.append(f"| {row['stream']} | {row['tracker']} | {row['detections_per_frame']:.1f} | "
                         f"{row['median_ms']:.3f} | {ratio:.2f}x | {quality} |")
        lines += ["", "`vs vistream` = that tracker's time / vistream's same-family tracker time "
                  "(> 1: vistream is faster).", ""]
    if result.get("camera_motion"):
        lines += ["### Camera-motion estimate per 1280x720 frame (BoT-SORT GMC)", "",
                  "| method | implementation | ms/frame |", "|---|---|---:|"]
        for row in result["camera_motion"]:
            lines.append(f"| {row['method']} | {row['implementation']} | {row['median_ms']:.2f} |")
        lines.append("")
    if result.get("detector"):
        lines += ["### YOLOX on CPU at 640x640 (1280x720 frame; preprocess + forward + NMS)", "",
                  "| model | precision | ms/frame | fps |", "|---|---|---:|---:|"]
        for row in result["detector"]:
            lines.append(f"| {row['model']} | {row['precision']} | {row['median_ms']:.1f} | {row['fps']:.2f} |")
        lines.append("")
    lines.append(END_MARK)
    return "\n".join(lines)


def write_benchmarks_md(section: str) -> None:
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        tail = rest.split(END_MARK, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n## `track.py`: trackers, camera motion, YOLOX on CPU\n\n" + \
            "```\npython bench/track.py            # ~5 minutes on 2 cores\n" + \
            "python bench/track.py --no-write # print only\n```\n\n" + section + "\n"
    BENCHMARKS_MD.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--no-detector", action="store_true")
    parser.add_argument("--no-gmc", action="store_true")
    args = parser.parse_args()
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    result = {"date": _dt.datetime.now().isoformat(timespec="minutes"), "host": socket.gethostname(),
              "cpu": cpu, "reps": args.reps, "versions": versions()}
    result["trackers"] = bench_trackers(args.reps)
    if not args.no_gmc:
        result["camera_motion"] = bench_camera_motion(args.reps)
    if not args.no_detector:
        result["detector"] = bench_detector(args.reps) + bench_detector_onnx(args.reps)
    section = markdown(result)
    print(section)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"track-{result['host']}-{result['date'][:10]}.json"
        path.write_text(json.dumps(result, indent=1))
        write_benchmarks_md(section)
        _log(f"wrote {path} and {BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
