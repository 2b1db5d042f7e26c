"""`vistream export`: a model config/checkpoint to ONNX in the cache, once per content and options
(real processes, a private cache folder)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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
