#!/usr/bin/env python3
"""Headline benchmark: does the end-to-end command run as fast as its detector alone?

This is a benchmark, not a test: it never fails on a slow result, it reports it.

    python bench/headline.py                 # 60 frames, 1 repetition; writes results + BENCHMARKS.md
    python bench/headline.py --frames 20 --no-write     # a quick look, nothing written
    python bench/headline.py --threads 1     # OMP_NUM_THREADS=1 for every contender (shared machine)

What it measures, on the first N frames of python/test.mp4 (1280x720), with ByteTrack's yolox_m
mix_det network at its real 800x1440 input (random weights: speed does not depend on the values),
served by a local HTTP server through the weights hub exactly as ``ckpt_file=auto`` downloads it:

1. detector only: a fresh process decodes the N frames into memory (untimed), builds the detector
   the way ``--bytetrack "ckpt_file=auto;fp16=True"`` does (conf 0.1, nms 0.7, people only), makes one
   untimed warm-up call, then times ``detector(frame)`` over the N frames;
2. end to end: ``python python/play.py python/test.mp4 --headless --bytetrack "ckpt_file=auto;fp16=True"``
   limited to N frames with ``--end``, without and with ``--output`` (x264 encode + mux); the rate is
   the frames it reports over its reported run time (decode, detector, ByteTrack, encode; the
   process start, imports and model loading are outside it and reported separately as wall time);
3. both again with ONNX Runtime (``onnx_file=``, exported once from the same checkpoint).

The ratio end-to-end / detector-only is the figure of merit (target >= 0.9x): decoding and
encoding run on the engine's threads while the detector runs, so the pipeline can keep up with the
detector; a ratio below target means the pipeline adds serial work or competes for the cores.
Every contender runs in its own process, in an order that rotates each repetition.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import http.server
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
BEGIN_MARK = "<!-- bench/headline.py: generated section begin -->"
END_MARK = "<!-- bench/headline.py: generated section end -->"
CLIP = ROOT / "python" / "test.mp4"
PLAY = ROOT / "python" / "play.py"
CHECKPOINT_NAME = "bytetrack_m_mot17.pth.tar"  # the manifest's file name for yolox_m_mix_det
HEADLINE_OPTIONS = "ckpt_file=auto;fp16=True"
TARGET_RATIO = 0.9

sys.path.insert(0, str(HERE))
from decode import ForeignCpu, wait_for_idle  # noqa: E402  (CPU-contention helpers, stdlib only)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- child processes
def child_prepare(workdir: Path, onnx: bool) -> int:
    """Downloads the checkpoint through the hub (as ckpt_file=auto does) and exports the ONNX file."""
    import warnings

    import torch  # noqa: F401
    from vistream.detect import YOLOX

    warnings.simplefilter("ignore")
    YOLOX(ckpt_file="auto")
    if onnx:
        YOLOX(ckpt_file="auto", onnx_file=str(workdir / "bytetrack_m.onnx"))
    return 0


def child_detector(workdir: Path, frames: int, backend: str) -> int:
    """Detector-only rate on decoded frames; prints one JSON line."""
    import warnings

    import numpy as np
    import vistream as vs
    from vistream.detect import YOLOX

    warnings.simplefilter("ignore")
    images = []
    with vs.Reader(str(CLIP), format="bgr24") as reader:
        for frame in reader:
            images.append(np.array(frame.array))
            if len(images) == frames:
                break
    extra = {"onnx_file": str(workdir / "bytetrack_m.onnx")} if backend == "onnxruntime" else {}
    # the same construction as the CLI's --bytetrack "ckpt_file=auto;fp16=True"
    detector = YOLOX(ckpt_file="auto", fp16=True, conf=0.1, nms=0.7, classes=[0], **extra)
    detector(images[0])  # warm-up (allocations, oneDNN kernel selection)
    started = time.perf_counter()
    for image in images:
        detector(image)
    elapsed = time.perf_counter() - started
    import torch

    print(json.dumps({"frames": len(images), "run_s": elapsed, "torch_threads": torch.get_num_threads(),
                      "model": detector.name, "input_size": list(detector.input_size)}))
    return 0


# ------------------------------------------------------------------------------- serving + running
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder: Path):
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def make_checkpoint(path: Path) -> None:
    """A ByteTrack-style checkpoint ({"model": state_dict, ...}) of yolox_m mix_det with random weights."""
    code = ("import sys, torch\n"
            "from vistream.detect.yolox import build_model\n"
            "torch.manual_seed(0)\n"
            "torch.save({'start_epoch': 80, 'model': build_model('yolox_m_mix_det').state_dict()}, sys.argv[1])\n")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


def run_contender(name: str, args: argparse.Namespace, workdir: Path, env: dict) -> dict:
    fps = 30.0  # python/test.mp4
    end = (args.frames - 0.5) / fps  # the first N frames: timestamps 0 .. (N-1)/30
    backend = "onnxruntime" if name.endswith("onnx") else "torch"
    if name.startswith("detector"):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "detector", "--backend", backend,
               "--frames", str(args.frames), "--workdir", str(workdir)]
    else:
        options = HEADLINE_OPTIONS if backend == "torch" else f"ckpt_file=auto;onnx_file={workdir / 'bytetrack_m.onnx'}"
        cmd = [sys.executable, str(PLAY), str(CLIP), "--headless", "--end", f"{end:.4f}", "--bytetrack", options]
        if "output" in name:
            cmd += ["--output", str(workdir / "out.mp4")]
    cpu = ForeignCpu().start()
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    contention = cpu.stop()
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr[-2000:]}")
    if name.startswith("detector"):
        row = json.loads(result.stdout.strip().splitlines()[-1])
    else:
        found = re.search(r"(\d+) frames processed.*?([\d.]+) s", result.stdout)
        if not found:
            raise RuntimeError(f"{name}: no 'N frames processed ... S s' line in the output:\n{result.stdout}")
        row = {"frames": int(found.group(1)), "run_s": float(found.group(2))}
    row.update(name=name, backend=backend, wall_s=round(wall, 2), fps=row["frames"] / row["run_s"],
               foreign_cores=contention["foreign_cores"])
    (workdir / "out.mp4").unlink(missing_ok=True)
    return row


CONTENDERS = ["detector torch", "headline torch", "headline torch --output",
              "detector onnx", "headline onnx", "headline onnx --output"]


def median_fps(rows: list, name: str) -> float:
    return statistics.median(r["fps"] for r in rows if r["name"] == name)


def render(result: dict) -> str:
    rows, names = result["runs"], [n for n in CONTENDERS if any(r["name"] == n for r in result["runs"])]
    lines = [BEGIN_MARK, "",
             f"Run: {result['started']} on `{result['host']}`, {result['frames']} frames of python/test.mp4, "
             f"{result['reps']} repetition(s), threads: {result['threads'] or 'default'} "
             f"(torch uses {result['torch_threads']}), raw data: `{result['json']}`.", "",
             f"- CPU: {result['cpu']}, {os.cpu_count()} logical cores; load average at start {result['loadavg']}",
             f"- Network: yolox_m mix_det (ByteTrack MOT17 layout), 800x1440 input, random weights, fp32 on CPU",
             "", "| contender | median fps | all runs (fps) | process wall s | others' CPU (cores) |",
             "|---|---|---|---|---|"]
    for name in names:
        mine = [r for r in rows if r["name"] == name]
        every_fps = ", ".join(f"{r['fps']:.2f}" for r in mine)
        walls = ", ".join(str(r["wall_s"]) for r in mine)
        others = ", ".join(str(r["foreign_cores"]) for r in mine)
        lines.append(f"| {name} | {median_fps(rows, name):.2f} | {every_fps} | {walls} | {others} |")
    lines += ["", f"**End-to-end / detector-only** (target >= {TARGET_RATIO}x)", "", "| backend | no output | --output |",
              "|---|---|---|"]
    for backend in ("torch", "onnx"):
        if f"detector {backend}" not in names:
            continue
        base = median_fps(rows, f"detector {backend}")
        cells = []
        for name in (f"headline {backend}", f"headline {backend} --output"):
            ratio = median_fps(rows, name) / base
            cells.append(f"{ratio:.2f}x {'(meets target)' if ratio >= TARGET_RATIO else '(below target)'}")
        lines.append(f"| {backend} | {' | '.join(cells)} |")
    lines += ["", END_MARK]
    return "\n".join(lines)


def write_benchmarks_md(section: str) -> None:
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        text = head + section + rest.split(END_MARK, 1)[1]
    else:
        text = (text.rstrip() + "\n\n## Headline: end to end vs detector only (`bench/headline.py`)\n\n"
                "Regenerate with `python bench/headline.py`; method: `bench/README.md`.\n\n" + section + "\n")
    BENCHMARKS_MD.write_text(text)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames of python/test.mp4 per run (1-240, default 60)")
    parser.add_argument("--reps", type=int, default=1, help="repetitions of every contender (default 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS for every contender (torch, and ONNX Runtime through YOLOX)")
    parser.add_argument("--no-onnx", action="store_true", help="torch rows only")
    parser.add_argument("--no-write", action="store_true", help="print the table, write nothing")
    parser.add_argument("--wait-idle", type=float, default=60.0, help="wait up to S s for a quiet machine")
    parser.add_argument("--child", choices=["prepare", "detector"], help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="torch", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "prepare":
        return child_prepare(args.workdir, not args.no_onnx)
    if args.child == "detector":
        return child_detector(args.workdir, args.frames, args.backend)
    if not 1 <= args.frames <= 240:
        parser.error("--frames must be 1..240 (python/test.mp4 has 240 frames)")

    with tempfile.TemporaryDirectory(prefix="vistream-headline-") as tmp:
        workdir = Path(tmp)
        served = workdir / "served"
        served.mkdir()
        log("making a random-weight ByteTrack yolox_m checkpoint ...")
        make_checkpoint(served / CHECKPOINT_NAME)
        httpd = serve(served)
        env = {k: v for k, v in os.environ.items() if k != "VISTREAM_HUB_MANIFEST"}
        env.update(VISTREAM_HUB_URL=f"http://127.0.0.1:{httpd.server_address[1]}",
                   VISTREAM_CACHE=str(workdir / "cache"))
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        try:
            log("downloading it through the hub (ckpt_file=auto)" + ("" if args.no_onnx else " and exporting ONNX"))
            prepare = [sys.executable, str(Path(__file__).resolve()), "--child", "prepare", "--workdir", str(workdir)]
            subprocess.run(prepare + (["--no-onnx"] if args.no_onnx else []), env=env, check=True, cwd=ROOT)
            names = [n for n in CONTENDERS if not (args.no_onnx and "onnx" in n)]
            idle = wait_for_idle(args.wait_idle)
            started = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
            loadavg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            runs = []
            for rep in range(args.reps):
                order = names[rep % len(names):] + names[:rep % len(names)]
                for name in order:
                    log(f"rep {rep + 1}/{args.reps}: {name} ...")
                    row = run_contender(name, args, workdir, env)
                    log(f"  {row['frames']} frames, {row['fps']:.2f} fps (process wall {row['wall_s']} s, "
                        f"others used {row['foreign_cores']} cores)")
                    runs.append(row)
        finally:
            httpd.shutdown()
            httpd.server_close()
    torch_threads = next((r["torch_threads"] for r in runs if "torch_threads" in r), None)
    host = socket.gethostname()
    json_path = RESULTS / f"headline-{host}-{started.date()}.json"
    result = {"started": started.isoformat(), "host": host, "cpu": cpu_model(), "frames": args.frames,
              "reps": args.reps, "threads": args.threads, "torch_threads": torch_threads, "loadavg": loadavg,
              "idle_before": idle, "python": platform.python_version(), "runs": runs,
              "json": str(json_path.relative_to(ROOT))}
    section = render(result)
    print(section)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        write_benchmarks_md(section)
        log(f"wrote {json_path} and {BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
