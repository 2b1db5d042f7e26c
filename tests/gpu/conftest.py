"""GPU tests (issue 11): they need an NVIDIA GPU with its driver, NVDEC, and torch with CUDA.

Every test here is marked ``needs_cuda``. On a machine without CUDA they are skipped with the
reason (what is missing, in the words of ``vistream.capabilities()``); with ``VS_REQUIRE_CUDA=1``
(bench/gpu.sh sets it) a missing GPU FAILS each test instead, so a GPU machine whose driver,
device or torch build is broken cannot pass by skipping.
"""
from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEST_MP4 = REPO / "python" / "test.mp4"


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_cuda: needs an NVIDIA GPU, its driver (libcuda, NVDEC) and torch with CUDA")


@functools.lru_cache(maxsize=1)
def cuda_missing() -> str:
    """Why CUDA cannot be used here ("" when it can)."""
    import vistream

    cuda = vistream.capabilities()["cuda"]
    if not cuda["initialized"] or cuda["device_count"] == 0:
        return f"no CUDA device: {cuda['problem']}"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} cannot use CUDA here"
    return ""


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/gpu/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.needs_cuda)


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_cuda") is None:
        return
    reason = cuda_missing()
    if not reason:
        return
    if os.environ.get("VS_REQUIRE_CUDA") == "1":
        pytest.fail(f"VS_REQUIRE_CUDA=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def gpu_media(tmp_path_factory):
    """Clips NVDEC must decode like the CPU (generating commands inline)."""
    if cuda_missing():
        return {}
    out = tmp_path_factory.mktemp("gpu_media")
    clips = {
        # H.264 with B-frames (pyramid), 2 s
        "h264_bframes": ("h264_bframes.mp4", ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=2",
                                              "-c:v", "libx264", "-bf", "3", "-g", "30", "-pix_fmt", "yuv420p"]),
        # HEVC Main10 (p010 on the device)
        "hevc_main10": ("hevc_main10.mp4", ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=2",
                                            "-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error"]),
        # A size that is not a multiple of 16 (NVDEC crops its aligned surfaces); x264 needs even
        # sizes for 4:2:0, so "odd" here means unaligned.
        "unaligned": ("unaligned.mp4", ["-f", "lavfi", "-i", "testsrc2=size=642x362:rate=30:duration=2",
                                        "-c:v", "libx264", "-bf", "2", "-pix_fmt", "yuv420p"]),
    }
    paths = {}
    for name, (filename, args) in clips.items():
        path = out / filename
        _ffmpeg(*args, str(path))
        paths[name] = path
    paths["street"] = TEST_MP4
    return paths
