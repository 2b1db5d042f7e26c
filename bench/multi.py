#!/usr/bin/env python3
"""Many streams: one process with MultiPlayer (batched detection) vs N separate processes vs ultralytics.

This is a benchmark, not a test: it never fails on a slow result, it reports it.

    python bench/multi.py                    # N = 1, 2, 4, 8; writes bench/results/multi-*.json/png
    python bench/multi.py --streams 1 4 --no-write
    python bench/multi.py --modes batched processes    # without the ultralytics columns

Workload per stream: the street clip (python/test.mp4) scaled to 640x360, its first --seconds
seconds, decoded (one decoder thread per stream), YOLOX-nano at --input pixels on the CPU (seeded
random weights: the speed does not depend on the values), ByteTrack per stream.

- batched: one process, ``vistream.MultiPlayer`` over N copies of the stream, ``YOLOX.batch``
  (one network call per batch, max_batch = N, max_wait 50 ms), torch on all cores.
- processes: N processes, each a plain ``Reader`` loop over one stream with ``YOLOX.__call__``,
  torch threads = cores // N (at least 1), so neither side oversubscribes the cores.
- ultralytics: one process, ultralytics' own multi-source path: ``model.track(source="N.streams",
  stream=True, stream_buffer=True, imgsz=--input)`` with YOLOv8n built from ``yolov8n.yaml``
  (random weights, no download) and its ByteTrack (one tracker per stream). Its ``LoadStreams``
  reads each source with ``cv2.VideoCapture`` in a thread; with the default ``stream_buffer=False``
  it keeps only each stream's newest frame and drops the rest (live-camera semantics), so the bench
  sets ``stream_buffer=True`` (a FIFO of up to 30 frames per stream, the reader waits when full:
  no drops) and counts the results it actually yields per stream. It stops at the first stream
  that ends. Latency is not measured (the loader does not timestamp frames). Checked on two 1 s
  copies of the clip: the default (no buffer) yielded 2 results for 60 frames.
- batched-yolov8n: the batched MultiPlayer row with the same yaml-built YOLOv8n instead of YOLOX
  (one ``model.predict(list of frames)`` per batch, vistream's ByteTrack), so one pair of rows
  compares the engines with the same network.

Every worker loads its model first and then waits; all start together, and the timing covers
the frames only (no interpreter start or model load). Aggregate frames/s = all frames / (last
end - first start). CPU ms/frame = the workers' process CPU time (all threads) / all frames:
the work done, which load from other users of a shared machine does not inflate. Latency per
stream: seconds from a frame's decode to its tracked result (batched: includes the wait in the
source's queue, queue_size 2, and for the batch).
"""

from __future__ import annotations

import argparse
import collections
import datetime as _dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLIP = ROOT / "python" / "test.mp4"


def _load_model(input_size: int, threads: int):
    import torch

    from vistream.detect import YOLOX

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    return YOLOX("yolox_nano", input_size=(input_size, input_size), conf=0.3)


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def worker_single(clip: str, input_size: int, threads: int) -> dict:
    import vistream
    from vistream.track import ByteTrack

    detector = _load_model(input_size, threads)
    tracker = ByteTrack(frame_rate=30)
    print("ready", flush=True)
    sys.stdin.readline()  # the go signal: every worker starts at once
    latencies = []
    start, cpu = time.time(), time.process_time()
    frames = 0
    with vistream.Reader(clip, threads=1) as reader:
        while True:
            try:
                frame = next(reader)
            except StopIteration:
                break
            decoded = time.monotonic()
            tracker.update(detector(frame.array))
            latencies.append(time.monotonic() - decoded)
            frames += 1
    return {"frames": frames, "start": start, "end": time.time(), "cpu": time.process_time() - cpu,
            "latencies": [latencies]}


def _yolov8n(threads: int):
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    return YOLO("yolov8n.yaml", task="detect")


class _UltralyticsBatch:
    """A yaml-built YOLOv8n as a batch detector: one ``model.predict`` over all frames of a batch."""

    def __init__(self, model, input_size: int):
        self.model = model
        self.options = dict(imgsz=input_size, conf=0.25, verbose=False)
        import numpy as np

        # the first predict builds (and fuses) the model: keep it out of the timed frames
        self.model.predict(np.zeros((360, 640, 3), np.uint8), **self.options)

    def batch(self, frames) -> list:
        from vistream import Detections

        results = self.model.predict([frame.array for frame in frames], **self.options)
        return [Detections.from_ultralytics(result) for result in results]

    def __call__(self, image):
        from vistream import Detections

        return Detections.from_ultralytics(self.model.predict(image, **self.options)[0])


def worker_ultralytics(clip: str, streams: int, input_size: int, threads: int) -> dict:
    import numpy as np

    model = _yolov8n(threads)
    # one blank frame builds the predictor and warms the model, like the other workers' model load
    model.predict(np.zeros((360, 640, 3), np.uint8), imgsz=input_size, conf=0.25, verbose=False)
    with tempfile.TemporaryDirectory(prefix="bench-multi-ul-") as directory:
        # one name per stream, so each result's .path says which stream it came from
        names = [str(Path(directory) / f"stream{index}.mp4") for index in range(streams)]
        for name in names:
            os.symlink(clip, name)
        listing = Path(directory) / "sources.streams"
        listing.write_text("\n".join(names) + "\n")
        print("ready", flush=True)
        sys.stdin.readline()
        per_stream = collections.Counter()  # keyed by ultralytics' cleaned source name
        start, cpu = time.time(), time.process_time()
        # stream=True yields one Results per frame per stream (a batch's N results in a row)
        for result in model.track(source=str(listing), stream=True, stream_buffer=True, imgsz=input_size,
                                  conf=0.25, tracker="bytetrack.yaml", verbose=False, persist=True):
            per_stream[result.path] += 1
        end, cpu = time.time(), time.process_time() - cpu
    counts = [count for _, count in sorted(per_stream.items())]
    return {"frames": sum(counts), "per_stream": counts, "start": start, "end": end, "cpu": cpu,
            "mean_batch_size": float(streams), "latencies": []}


def worker_batched(clip: str, streams: int, input_size: int, threads: int, model: str = "yolox") -> dict:
    import vistream
    from vistream.track import ByteTrack

    if model == "yolov8n":
        detector = _UltralyticsBatch(_yolov8n(threads), input_size)
    else:
        detector = _load_model(input_size, threads)
    latencies = {i: [] for i in range(streams)}

    def measure(frames):
        now = time.monotonic()
        for frame in frames:
            latencies[frame.source].append(now - frame.decoded_at)

    multi = vistream.MultiPlayer([clip] * streams, detector=detector, tracker=lambda: ByteTrack(frame_rate=30),
                                 on_batch=measure, max_batch=streams, max_wait=0.05, queue_size=2,
                                 reader_options={"threads": 1})
    print("ready", flush=True)
    sys.stdin.readline()
    start, cpu = time.time(), time.process_time()
    stats = multi.run()
    return {"frames": stats.frames, "per_stream": [len(values) for values in latencies.values()],
            "start": start, "end": time.time(), "cpu": time.process_time() - cpu, "batches": stats.batches,
            "mean_batch_size": stats.mean_batch_size, "latencies": list(latencies.values())}


def _run_workers(commands) -> list:
    # Idle OpenMP threads sleep instead of spinning: on a shared (oversubscribed) machine,
    # spinning torch threads starve the decoders and the other workers (measured: 0.2 frames/s).
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    env.setdefault("YOLO_OFFLINE", "1")  # the YOLOv8n columns build from the yaml: nothing to download
    procs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for command in commands]
    for proc in procs:
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"worker did not start: {line!r}")
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed ({proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _summary(results: list, mode: str, streams: int) -> dict:
    frames = sum(r["frames"] for r in results)
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    per_stream = [lat for r in results for lat in r["latencies"]]
    means = [statistics.fmean(lat) for lat in per_stream if lat]
    every = [v for lat in per_stream for v in lat]
    cpu = sum(r["cpu"] for r in results)
    row = {"mode": mode, "streams": streams, "frames": frames, "seconds": seconds, "fps": frames / seconds,
           "cpu_seconds": cpu, "cpu_ms_per_frame": 1000 * cpu / frames,
           "latency_mean_ms": 1000 * statistics.fmean(means) if means else None,
           "latency_p95_ms": 1000 * _percentile(every, 0.95) if every else None}
    if "mean_batch_size" in results[0]:
        row["mean_batch_size"] = results[0]["mean_batch_size"]
    if "per_stream" in results[0]:
        row["frames_per_stream"] = results[0]["per_stream"]
    return row


MODE_LABELS = {
    "batched": "one process, MultiPlayer (batched), YOLOX-nano",
    "processes": "N separate processes, YOLOX-nano",
    "batched-yolov8n": "one process, MultiPlayer (batched), YOLOv8n",
    "ultralytics": "ultralytics model.track(.streams), YOLOv8n",
}
ALL_MODES = list(MODE_LABELS)


def _plot(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(14, 4))
    for mode, marker in (("batched", "o"), ("processes", "s"), ("batched-yolov8n", "^"), ("ultralytics", "v")):
        mine = [r for r in rows if r["mode"] == mode]
        if not mine:
            continue
        label = MODE_LABELS[mode]
        left.plot([r["streams"] for r in mine], [r["fps"] for r in mine], marker=marker, label=label)
        middle.plot([r["streams"] for r in mine], [r["cpu_ms_per_frame"] for r in mine], marker=marker, label=label)
        timed = [r for r in mine if r["latency_mean_ms"] is not None]
        if timed:
            right.plot([r["streams"] for r in timed], [r["latency_mean_ms"] for r in timed], marker=marker,
                       label=label)
    for axis, title in ((left, "aggregate frames/s (higher is better)"),
                        (middle, "CPU ms per frame, all threads (lower is better)"),
                        (right, "mean latency per stream, ms (lower is better)")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(sorted({r["streams"] for r in rows}))
        axis.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.set_xlabel("streams (N)")
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
    left.legend(fontsize=8)
    figure.suptitle("bench/multi.py: decode + detect (YOLOX-nano, or YOLOv8n where marked) + ByteTrack per stream, "
                    "2-core CPU")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of the clip per stream")
    parser.add_argument("--input", type=int, default=320, help="YOLOX input size (square)")
    parser.add_argument("--modes", nargs="+", choices=ALL_MODES, default=ALL_MODES,
                        help="which columns to run (the ultralytics ones need the ultralytics package)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results")
    parser.add_argument("--worker", choices=["single", "batched", "batched-yolov8n", "ultralytics"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--clip", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "single":
        print(json.dumps(worker_single(args.clip, args.input, args.threads)))
        return 0
    if args.worker == "batched":
        print(json.dumps(worker_batched(args.clip, args.count, args.input, args.threads)))
        return 0
    if args.worker == "batched-yolov8n":
        print(json.dumps(worker_batched(args.clip, args.count, args.input, args.threads, model="yolov8n")))
        return 0
    if args.worker == "ultralytics":
        print(json.dumps(worker_ultralytics(args.clip, args.count, args.input, args.threads)))
        return 0

    cores = os.cpu_count() or 1
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-multi-") as directory:
        clip = str(Path(directory) / "stream.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(CLIP), "-t", str(args.seconds), "-vf",
                        "scale=640:360", "-an", "-c:v", "libx264", "-preset", "veryfast", "-g", "30", clip],
                       check=True)
        me = [sys.executable, str(Path(__file__).resolve()), "--input", str(args.input), "--clip", clip]
        rows = []
        for streams in args.streams:
            for mode in args.modes:
                if mode == "processes":
                    commands = [me + ["--worker", "single", "--threads", str(max(1, cores // streams))]
                                for _ in range(streams)]
                else:
                    commands = [me + ["--worker", mode, "--count", str(streams), "--threads", str(cores)]]
                row = _summary(_run_workers(commands), mode, streams)
                rows.append(row)
                print(f"N={row['streams']} {row['mode']:>15}: {row['fps']:6.1f} frames/s, "
                      f"{row['cpu_ms_per_frame']:6.1f} CPU ms/frame, latency mean "
                      f"{_ms(row['latency_mean_ms'])} ms, p95 {_ms(row['latency_p95_ms'])} ms"
                      + (f", mean batch {row['mean_batch_size']:.2f}" if "mean_batch_size" in row else ""),
                      flush=True)
    load_end = os.getloadavg()
    print("\n| N | mode | frames | aggregate frames/s | CPU ms/frame | latency mean ms | latency p95 ms | mean batch |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['streams']} | {row['mode']} | {row['frames']} | {row['fps']:.1f} | {row['cpu_ms_per_frame']:.1f} | "
              f"{_ms(row['latency_mean_ms'])} | {_ms(row['latency_p95_ms'])} | "
              f"{row.get('mean_batch_size', 1.0):.2f} |")
    print(f"\nload average at start {load_start[0]:.2f}, at end {load_end[0]:.2f}; {cores} cores")
    if not args.no_write:
        stamp = _dt.datetime.now(_dt.timezone.utc)
        name = f"multi-{socket.gethostname()}-{stamp:%Y-%m-%d}"
        results = HERE / "results"
        results.mkdir(exist_ok=True)
        meta = {"run": stamp.isoformat(timespec="seconds"), "host": socket.gethostname(),
                "platform": platform.platform(), "cores": cores, "seconds_per_stream": args.seconds,
                "input": args.input, "load_start": load_start, "load_end": load_end}
        (results / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
        _plot(rows, results / f"{name}.png")
        print(f"wrote bench/results/{name}.json and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
