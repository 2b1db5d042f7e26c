#!/usr/bin/env python3
"""Runtime benchmark: each predictor x runtime x precision x input size on this machine.

    python bench/runtimes.py                       # detector, segmenter, classifier; 320 and 640
    python bench/runtimes.py --sizes 320 --frames 10 --no-write

Predictors (random seeded weights, built offline): YOLOv8n detector and YOLOv8n-seg segmenter
(ultralytics' yaml, exported by ultralytics), timm resnet18 classifier (224 fixed). Runtimes:
torch (fp32/fp16/bf16 on the CPU, and on CUDA when present), ONNX Runtime (fp32 with the best
provider; int8 = static QDQ quantisation calibrated on frames of the clip, CPU), TensorRT
(fp32/fp16/int8 engines through `vistream export`, when TensorRT and a GPU exist). A combination
this machine cannot run is a row with the reason instead of a time.

Each cell times the whole predictor call (preprocess, inference, decoding, mapping back) on real
frames of python/test.mp4 (1280x720), after warm-up; median and p90 ms per frame. Writes
bench/results/runtimes-<host>-<date>.json, a plot beside it, and the generated section of
BENCHMARKS.md (between the bench/runtimes.py markers).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import socket
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BEGIN_MARK = "<!-- bench/runtimes.py: generated section begin -->"
END_MARK = "<!-- bench/runtimes.py: generated section end -->"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def frames_of_clip(count: int):
    import vistream as vs

    with vs.Reader(str(ROOT / "python" / "test.mp4")) as reader:
        step = max(len(reader) // count, 1)
        return [f.array.copy() for f in reader.frames_at(list(range(0, step * count, step)))]


def build_models(work: Path, sizes, frames):
    """{predictor: (torch module factory, {imgsz: onnx path})}: random seeded weights, exported once."""
    import torch
    from ultralytics import YOLO

    import timm

    models = {}
    for name, config in (("detector", "yolov8n.yaml"), ("segmenter", "yolov8n-seg.yaml")):
        onnx_paths = {}
        for size in sizes:
            torch.manual_seed(0)
            model = YOLO(config)
            with contextlib.chdir(work):
                exported = model.export(format="onnx", imgsz=size, opset=17, simplify=False, verbose=False)
            target = work / f"{name}-{size}.onnx"
            os.replace(work / exported if not os.path.isabs(exported) else exported, target)
            onnx_paths[size] = target
        torch.manual_seed(0)
        models[name] = (lambda config=config: YOLO(config).model.fuse().eval(), onnx_paths)
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False).eval()
    path = work / "classifier-224.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), str(path), input_names=["images"],
                          output_names=["logits"], opset_version=17, dynamo=False)
    models["classifier"] = (lambda net=net: net, {224: path})
    return models


def quantize_int8(onnx_path: Path, predictor_preprocess, frames) -> Path:
    """Static int8 (QDQ) quantisation with ONNX Runtime, calibrated on the given frames."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = [{"images": predictor_preprocess(f)[0]} for f in frames]

        def get_next(self):
            return self.batches.pop() if self.batches else None

    target = onnx_path.with_name(onnx_path.stem + "-int8.onnx")
    quantize_static(str(onnx_path), str(target), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return target


def make_predictor(kind: str, runtime: str, precision: str, device: str, models, size: int, frames):
    import vistream.predict as vp

    factory, onnx_paths = models[kind]
    onnx_path = onnx_paths[size]
    if runtime == "torch":
        if precision == "int8":
            raise RuntimeError("torch int8 needs a quantised model (export to ONNX/TensorRT int8 instead)")
        cls = {"detector": vp.TorchDetector, "segmenter": vp.TorchSegmenter, "classifier": vp.TorchClassifier}[kind]
        if kind == "segmenter":
            module = factory()
            module.model[-1].export, module.model[-1].format = True, "onnx"  # (predictions, prototypes) like its ONNX
            return cls(module, device=device, precision=precision, imgsz=size, layout="yolov8")
        return cls(factory(), device=device, precision=precision, imgsz=size,
                   **({"layout": "yolov8"} if kind == "detector" else {}))
    cls = {"detector": vp.OnnxDetector, "segmenter": vp.OnnxSegmenter, "classifier": vp.OnnxClassifier}[kind]
    if runtime == "onnxruntime":
        if precision == "fp16":
            raise RuntimeError("no fp16 ONNX graph: ultralytics exports half precision on CUDA only; "
                               "ONNX Runtime's CPU provider has no fp16 convolutions")
        if precision == "bf16":
            raise RuntimeError("ONNX Runtime runs no bf16 graphs on the CPU provider")
        if precision == "int8":
            if device != "cpu":
                raise RuntimeError("int8 QDQ rows are measured on the CPU provider only")
            base = cls(onnx_path)
            onnx_path = quantize_int8(onnx_path, base.preprocess, frames[:8])
        return cls(onnx_path, device=device)
    if runtime == "tensorrt":
        import importlib.util

        if importlib.util.find_spec("tensorrt") is None:
            raise RuntimeError("no tensorrt package (pip install tensorrt; engines need an NVIDIA GPU)")
        if device != "cuda":
            raise RuntimeError("TensorRT engines run on CUDA only")
        from vistream.detect.yolox.tensorrt_backend import build_engine

        engine = onnx_path.with_name(f"{onnx_path.stem}-{precision}.engine")
        batches = None
        if precision == "int8":
            batches = [cls(onnx_path).preprocess(f)[0] for f in frames[:16]]
        build_engine(str(onnx_path), str(engine), fp16=precision in ("fp16", "int8"), int8=precision == "int8",
                     calibration_batches=batches)
        return cls(engine, device=device)
    raise ValueError(runtime)


def time_predictor(predictor, frames, warmup: int, count: int, budget_s: float = 15.0):
    """Median and p90 ms per call; a slow cell (e.g. torch fp16 on a CPU) stops after ``budget_s``
    seconds of timed calls, with at least 2 timed frames."""
    for frame in frames[:warmup]:
        predictor(frame)
    times = []
    for i in range(count):
        if len(times) >= 2 and sum(times) > budget_s * 1000:
            break
        frame = frames[i % len(frames)]
        started = time.perf_counter()
        predictor(frame)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times)), float(np.percentile(times, 90)), len(times)


def cells(sizes, devices):
    for kind in ("detector", "segmenter", "classifier"):
        for size in ((224,) if kind == "classifier" else sizes):
            for device in devices:
                for runtime, precisions in (("torch", ("fp32", "fp16", "bf16")),
                                            ("onnxruntime", ("fp32", "fp16", "int8")),
                                            ("tensorrt", ("fp32", "fp16", "int8"))):
                    for precision in precisions:
                        yield kind, size, device, runtime, precision


def write_section(rows, meta, plot: Path, json_path: Path) -> None:
    lines = [BEGIN_MARK, "",
             f"Run: {meta['date']} on `{meta['host']}` ({meta['cpu']}, {meta['cores']} cores{', ' + meta['gpu'] if meta['gpu'] else ''}), "
             f"torch {meta['torch']}, onnxruntime {meta['onnxruntime']} ({', '.join(meta['providers'])}), "
             f"{meta['frames']} timed frames per cell after {meta['warmup']} warm-up, intra-op threads {meta['threads']}, "
             f"load average at start {meta['load']}. Raw data: `{json_path.relative_to(ROOT)}`, plot: "
             f"`{plot.relative_to(ROOT)}`. Random seeded weights: the YOLO decoders see no detections above "
             "0.25, so the detector/segmenter rows are the network plus pre/post-processing of an empty result.", "",
             "| predictor | input | device | runtime | precision | median ms | p90 ms | fps | timed frames / note |",
             "|---|---|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        if r.get("median_ms") is None:
            lines.append(f"| {r['predictor']} | {r['imgsz']} | {r['device']} | {r['runtime']} | {r['precision']} "
                         f"| - | - | - | skipped: {r['reason']} |")
        else:
            lines.append(f"| {r['predictor']} | {r['imgsz']} | {r['device']} | {r['runtime']} | {r['precision']} "
                         f"| {r['median_ms']:.1f} | {r['p90_ms']:.1f} | {1000 / r['median_ms']:.1f} | {r['timed']} |")
    lines += ["", f"![bench/runtimes.py: median ms per frame, per predictor and runtime]({plot.relative_to(ROOT)})", "",
              END_MARK]
    section = "\n".join(lines)
    target = ROOT / "BENCHMARKS.md"
    text = target.read_text()
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        text = head + section + rest.split(END_MARK, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Model runtimes (`bench/runtimes.py`)\n\n" + \
            "Regenerate with `python bench/runtimes.py` (see its docstring); the section between the markers " \
            "is rewritten.\n\n" + section + "\n"
    target.write_text(text)


def plot_rows(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if r.get("median_ms") is not None]
    labels = [f"{r['predictor']} {r['imgsz']}\n{r['runtime']} {r['precision']} {r['device']}" for r in measured]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(measured) + 1.2))
    ax.barh(range(len(measured)), [r["median_ms"] for r in measured], color="#3f51b5")
    ax.set_yticks(range(len(measured)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")  # torch fp16 on a CPU is 10-30x slower than the rest
    ax.set_xlabel("median ms per frame (log scale, lower is better)")
    ax.set_title("vistream predictors per runtime (bench/runtimes.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 640], help="YOLO input sizes (default 320 640)")
    parser.add_argument("--frames", type=int, default=20, help="timed frames per cell (default 20)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()

    import onnxruntime
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    frames = frames_of_clip(max(args.frames, 8))
    rows = []
    with tempfile.TemporaryDirectory() as work:
        log("building and exporting the models (random seeded weights)...")
        models = build_models(Path(work), args.sizes, frames)
        for kind, size, device, runtime, precision in cells(args.sizes, devices):
            row = dict(predictor=kind, imgsz=size, device=device, runtime=runtime, precision=precision)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    predictor = make_predictor(kind, runtime, precision, device, models, size, frames)
                    row["median_ms"], row["p90_ms"], row["timed"] = time_predictor(predictor, frames, args.warmup, args.frames)
            except Exception as error:  # noqa: BLE001 - a row says why this machine cannot run it
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                row.update(median_ms=None, reason=reason[:160])
                if os.environ.get("BENCH_DEBUG"):
                    traceback.print_exc()
            rows.append(row)
            log(f"{kind:10s} {size:4d} {device:4s} {runtime:11s} {precision:4s} "
                + (f"{row['median_ms']:8.1f} ms" if row.get("median_ms") is not None else f"skipped: {row['reason']}"))
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                host=socket.gethostname(), cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "",
                torch=torch.__version__, onnxruntime=onnxruntime.__version__,
                providers=onnxruntime.get_available_providers(), frames=args.frames, warmup=args.warmup,
                threads=torch.get_num_threads(), load=", ".join(f"{v:.2f}" for v in os.getloadavg()))
    try:
        with open("/proc/cpuinfo") as f:
            meta["cpu"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), meta["cpu"])
    except OSError:
        pass
    for r in rows:
        print(r)
    if args.no_write:
        return 0
    stamp = datetime.date.today().isoformat()
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    json_path = results / f"runtimes-{meta['host']}-{stamp}.json"
    plot = results / f"runtimes-{meta['host']}-{stamp}.png"
    json_path.write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    plot_rows(rows, plot)
    write_section(rows, meta, plot, json_path)
    log(f"wrote {json_path}, {plot} and BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
