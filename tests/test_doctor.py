"""``vistream doctor`` / ``vistream.capabilities()``: the report a user pastes into a bug report.

Ground truth comes from the ffmpeg CLI (same FFmpeg libraries), torch itself, and a stub
libcuda (tests/cuda_stub.py) for the "driver installed, no GPU" machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cuda_stub import build_stub_libcuda

HAS_REAL_DRIVER = os.path.exists("/dev/nvidia0")


def doctor(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vistream", "doctor", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def ffmpeg_cli(*args: str) -> str:
    return subprocess.run(["ffmpeg", "-hide_banner", *args], capture_output=True, text=True, check=True).stdout


def test_json_report_matches_ffmpeg_and_this_machine():
    proc = doctor("--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    version_line = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    assert version_line.startswith(f"ffmpeg version {report['ffmpeg_version']} ")
    assert "--enable-libx264" in report["ffmpeg_configuration"]
    # Every hwaccel the ffmpeg CLI lists is probed, each with a yes/no and a reason.
    cli_hwaccels = [line.strip() for line in ffmpeg_cli("-hwaccels").splitlines()[1:] if line.strip()]
    assert sorted(p["name"] for p in report["hwaccels"]) == sorted(cli_hwaccels)
    assert all(p["available"] or p["detail"] for p in report["hwaccels"])
    encoders = {p["name"]: p for p in report["encoders"]}
    assert encoders["libx264"]["available"] and encoders["mpeg4"]["available"]
    assert set(encoders) >= {"h264_nvenc", "hevc_nvenc", "h264_vaapi", "libx265"}
    import torch

    assert report["torch"]["version"] == torch.__version__
    assert "CPUExecutionProvider" in report["onnxruntime"]["providers"]
    assert "dummy" in report["sdl_video_drivers"] and "dummy" in report["sdl_audio_drivers"]
    assert report["cuda"]["kernels_built"] is True
    if not HAS_REAL_DRIVER:
        cuda = report["cuda"]
        assert not cuda["library_loaded"] and "libcuda.so.1" in cuda["problem"]
        assert not {p["name"]: p for p in report["hwaccels"]}["cuda"]["available"]
        assert not encoders["h264_nvenc"]["available"] and "libcuda.so.1" in encoders["h264_nvenc"]["detail"]


def test_human_report_is_one_screen_with_the_essentials():
    proc = doctor()
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for expected in ("FFmpeg 5.", "hardware devices", "encoders", "yes libx264", "CUDA:", "torch ", "onnxruntime ",
                     "tensorrt ", "SDL drivers:"):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    assert len(text.splitlines()) < 60


@pytest.mark.skipif(HAS_REAL_DRIVER, reason="a real NVIDIA driver is present")
def test_report_with_a_driver_but_no_gpu(tmp_path):
    stub = build_stub_libcuda(tmp_path)
    env = dict(os.environ, LD_LIBRARY_PATH=f"{stub}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    proc = doctor("--json", env=env)
    assert proc.returncode == 0, proc.stderr
    cuda = json.loads(proc.stdout)["cuda"]
    assert cuda["library_loaded"] and not cuda["initialized"]
    assert cuda["driver_version"] == 12040 and "CUDA_ERROR_NO_DEVICE" in cuda["problem"]
    text = doctor(env=env).stdout
    assert "not available: libcuda.so.1 loaded but cuInit failed: CUDA_ERROR_NO_DEVICE" in text


def test_capabilities_and_transfer_stats_from_python(vs, media):
    report = vs.capabilities()
    assert {"ffmpeg_version", "hwaccels", "encoders", "cuda", "torch"} <= set(report)
    before = vs.transfer_stats()
    assert set(before) == {"device_to_host_bytes", "device_to_host_copies", "host_to_device_bytes",
                           "host_to_device_copies"}
    # Software decoding moves nothing between host and device.
    with vs.Reader(media["bframes"], hwaccel="auto") as reader:
        frames = sum(1 for _ in reader)
        stats = reader.stats
    assert frames == 60 and stats.device_to_host_bytes == 0 and stats.device_to_host_copies == 0
    if not HAS_REAL_DRIVER:
        assert vs.transfer_stats() == before
