"""`vistream export`: a model config/checkpoint to ONNX in the cache, once per content and options
(real processes, a private cache folder)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vistream.predict import OnnxDetector


def _export(cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VISTREAM_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "vistream", "export", *args], capture_output=True, text=True,
                          env=env, cwd=cache.parent, timeout=300)


def test_export_onnx_is_cached_by_content_hash(tmp_path):
    cache = tmp_path / "cache"
    started = time.monotonic()
    first = _export(cache, "yolov8n.yaml", "--imgsz", "64")  # ultralytics' own config: seeded random weights
    first_seconds = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    path = Path(first.stdout.strip().splitlines()[-1])
    assert path.parent == cache / "exports" and path.suffix == ".onnx" and path.is_file()
    assert not list(cache.glob("exports/*.partial"))
    detector = OnnxDetector(path)
    assert detector.layout == "yolov8" and detector.input_hw == (64, 64)
    written = path.stat().st_mtime_ns

    started = time.monotonic()
    second = _export(cache, "yolov8n.yaml", "--imgsz", "64")
    second_seconds = time.monotonic() - started
    assert second.returncode == 0, second.stderr
    assert Path(second.stdout.strip()) == path and "cached export" in second.stderr
    assert path.stat().st_mtime_ns == written  # not rebuilt
    assert second_seconds < first_seconds, (first_seconds, second_seconds)

    other = _export(cache, "yolov8n.yaml", "--imgsz", "96", "-o", str(tmp_path / "copy.onnx"))
    assert other.returncode == 0, other.stderr
    assert Path(other.stdout.strip()) == tmp_path / "copy.onnx"
    assert len(list((cache / "exports").glob("*.onnx"))) == 2  # another size is another export


@pytest.mark.parametrize("args, message", [
    (["--format", "engine", "--fp16"], "pip install tensorrt"),  # TensorRT is absent here: named, nothing built
    (["--fp16"], "--format engine"),
    (["--format", "engine", "--int8"], "--calib"),
    (["--imgsz", "100"], "multiples of 32"),
])
def test_export_refusals_name_the_fix(tmp_path, args, message):
    result = _export(tmp_path / "cache", "yolov8n.yaml", *args)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert not list((tmp_path / "cache").glob("exports/*.onnx"))


def test_export_of_missing_checkpoint(tmp_path):
    result = _export(tmp_path / "cache", str(tmp_path / "nope.pt"))
    assert result.returncode == 1 and "checkpoint not found" in result.stderr


def test_engine_predictor_without_tensorrt_names_the_package(tmp_path):
    """Here TensorRT is absent: an engine file is refused with what to install, before it is read."""
    from vistream.errors import MissingDependencyError

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed: tests/test_export_cli.py::test_engine_matches_onnx covers it")
    with pytest.raises(MissingDependencyError, match="pip install tensorrt"):
        OnnxDetector(tmp_path / "model.engine")


def test_engine_matches_onnx(tmp_path, monkeypatch, test_mp4):
    """GPU machines: a TensorRT engine (fp32, TF32 allowed) and the CUDA EP with IO binding give the
    ONNX Runtime CPU detections."""
    pytest.importorskip("tensorrt", reason="needs NVIDIA TensorRT 10+ (pip install tensorrt) and an NVIDIA GPU; "
                                           "this machine has neither")
    import torch

    import vistream as vs
    from vistream.predict import OnnxRuntime, export_model

    if not torch.cuda.is_available():
        pytest.skip("TensorRT is installed but torch sees no CUDA device")
    monkeypatch.setenv("VISTREAM_CACHE", str(tmp_path))
    onnx_path = export_model("yolov8n.yaml", imgsz=320)
    engine = export_model("yolov8n.yaml", format="engine", imgsz=320)
    with vs.Reader(str(test_mp4)) as reader:
        frame = reader.frames_at([10])[0].array
    cpu, gpu = OnnxDetector(onnx_path, conf=1e-5), OnnxDetector(engine, device="cuda", conf=1e-5)
    a, b = cpu(frame), gpu(frame)
    assert len(a) == len(b)
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return  # the CPU-only onnxruntime wheel: no IO binding to check (pip install onnxruntime-gpu)
    batch = torch.from_numpy(cpu.preprocess(frame)[0]).cuda()
    bound = OnnxRuntime(onnx_path, device="cuda")(batch)  # IO binding: CUDA tensors in and out
    assert bound[0].device.type == "cuda"
    np.testing.assert_allclose(bound[0].cpu().numpy(), cpu.runtime(batch.cpu().numpy())[0], atol=1e-2)
