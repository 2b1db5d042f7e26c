"""CUDA fallback and errors on a machine without a usable GPU (issue 11).

Two real situations, each in a fresh interpreter (the driver is probed once per process):
  * no libcuda at all (this machine);
  * "driver present, no GPU": a stub ``libcuda.so.1`` compiled here from the symbol list of
    FFmpeg's ffnvcodec loader (so the loader accepts it), put first on LD_LIBRARY_PATH. Its
    ``cuInit`` returns CUDA_ERROR_NO_DEVICE; with STUB_CUDA_DEVICES=1 it instead lists one
    device whose primary context cannot be retained (CUDA_ERROR_NOT_SUPPORTED).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HAS_REAL_DRIVER = os.path.exists("/dev/nvidia0")
pytestmark = pytest.mark.skipif(HAS_REAL_DRIVER, reason="a real NVIDIA driver and GPU are present")

from cuda_stub import build_stub_libcuda


@pytest.fixture(scope="module")
def stub_libcuda(tmp_path_factory) -> Path:
    return build_stub_libcuda(tmp_path_factory.mktemp("stub_cuda"))


PROBE = textwrap.dedent("""
    import json, sys, vistream as vs
    clip, cases = sys.argv[1], json.loads(sys.argv[2])
    results = []
    for kind, kwargs in cases:
        try:
            if kind == "reader":
                with vs.Reader(clip, **kwargs) as reader:
                    frames = sum(1 for _ in reader)
                    results.append({"ok": True, "hwaccel": reader.info.hwaccel,
                                    "note": reader.info.hwaccel_note, "frames": frames})
            elif kind == "writer":
                import numpy as np
                with vs.Writer(kwargs.pop("output"), fps=30, **kwargs) as writer:
                    writer.write(np.zeros((64, 64, 3), np.uint8))
                results.append({"ok": True, "encode_path": writer.stats.encode_path})
            else:
                player = vs.Player(clip, end=0.2, audio=False, **kwargs)
                stats = player.run()
                results.append({"ok": True, "encoder": stats.encoder, "device": stats.device,
                                "encode_path": stats.encode_path, "note": player.info.hwaccel_note,
                                "device_to_host_copies": stats.device_to_host_copies,
                                "frames_encoded": stats.frames_encoded})
        except Exception as error:
            results.append({"ok": False, "type": type(error).__name__, "message": str(error),
                            "hardware": isinstance(error, vs.HardwareError)})
    print(json.dumps(results))
""")


def run_cases(clip, cases, library_path=None, devices=None):
    env = dict(os.environ)
    if library_path:
        env["LD_LIBRARY_PATH"] = f"{library_path}:{env.get('LD_LIBRARY_PATH', '')}"
    env.pop("STUB_CUDA_DEVICES", None)
    if devices is not None:
        env["STUB_CUDA_DEVICES"] = str(devices)
    proc = subprocess.run([sys.executable, "-c", PROBE, str(clip), json.dumps(cases)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_no_libcuda_auto_uses_cpu_explicit_names_libcuda(media, tmp_path):
    auto, explicit, device, nvenc = run_cases(media["bframes"], [
        ["reader", {"hwaccel": "auto"}],
        ["reader", {"hwaccel": "cuda"}],
        ["reader", {"device": "cuda:0"}],
        ["player", {"output": str(tmp_path / "o.mp4"), "encoder": "h264_nvenc"}],
    ])
    assert auto["ok"] and auto["hwaccel"] == "none" and auto["frames"] == 60
    assert "libcuda.so.1" in auto["note"] and "cannot be loaded" in auto["note"]
    for refused in (explicit, device):
        assert refused["hardware"], refused
        assert "libcuda.so.1" in refused["message"] and "cannot be loaded" in refused["message"]
    # FFmpeg alone says "Operation not permitted"; the error names the missing driver library.
    assert nvenc["type"] == "EncoderError"
    assert "libcuda.so.1" in nvenc["message"] and "Operation not permitted" not in nvenc["message"]


def test_stub_driver_without_gpu(media, stub_libcuda, tmp_path):
    auto, explicit, second, nvenc = run_cases(media["bframes"], [
        ["reader", {"hwaccel": "auto"}],
        ["reader", {"hwaccel": "cuda"}],
        ["reader", {"hwaccel": "cuda:1"}],
        ["player", {"output": str(tmp_path / "o.mp4"), "encoder": "h264_nvenc"}],
    ], library_path=stub_libcuda)
    assert auto["ok"] and auto["hwaccel"] == "none" and auto["frames"] == 60
    assert "CUDA_ERROR_NO_DEVICE" in auto["note"]
    for refused in (explicit, second):
        assert refused["hardware"], refused
        assert "cuInit failed: CUDA_ERROR_NO_DEVICE" in refused["message"]
    # The driver library loads, the encoder library does not: that is the one named.
    assert "libnvidia-encode.so.1" in nvenc["message"]


def test_stub_driver_with_one_device(media, stub_libcuda):
    auto, first, second = run_cases(media["bframes"], [
        ["reader", {"hwaccel": "auto"}],
        ["reader", {"device": "cuda:0"}],
        ["reader", {"hwaccel": "cuda:1"}],
    ], library_path=stub_libcuda, devices=1)
    assert auto["ok"] and auto["hwaccel"] == "none"
    assert "CUDA_ERROR_NOT_SUPPORTED" in auto["note"]
    assert first["hardware"] and "primary context of CUDA device cuda:0" in first["message"]
    assert first["message"].count("CUDA_ERROR_NOT_SUPPORTED") == 1
    assert second["hardware"]
    assert "cuda:1 does not exist: the driver lists 1 device(s)" in second["message"]


def test_player_and_writer_device_without_libcuda(media, tmp_path):
    """device= on Player and Writer: the Reader's reasons for an explicit "cuda"; "auto" plays
    on the CPU and says so; the output is encoded from host frames."""
    player, auto, writer, writer_cpu, reader_auto = run_cases(media["bframes"], [
        ["player", {"device": "cuda"}],
        ["player", {"device": "auto", "output": str(tmp_path / "auto.mp4")}],
        ["writer", {"device": "cuda", "output": str(tmp_path / "w.mp4")}],
        ["writer", {"device": "cpu", "output": str(tmp_path / "w_cpu.mp4")}],
        ["reader", {"device": "auto"}],
    ])
    assert reader_auto["ok"] and reader_auto["frames"] == 60 and "device 'auto'" in reader_auto["note"]
    for refused in (player, writer):
        assert refused["hardware"], refused
        assert "libcuda.so.1" in refused["message"] and "cannot be loaded" in refused["message"]
    assert not (tmp_path / "w.mp4").exists(), "a refused Writer must not leave an output behind"
    assert auto["ok"] and auto["device"] == "cpu" and auto["encode_path"] == "libx264"
    assert auto["frames_encoded"] == 6 and auto["device_to_host_copies"] == 0
    assert "device 'auto'" in auto["note"] and "libcuda.so.1" in auto["note"]
    assert writer_cpu["ok"] and writer_cpu["encode_path"] == "libx264"


def test_player_and_writer_device_with_stub_driver(media, stub_libcuda, tmp_path):
    no_gpu = run_cases(media["bframes"], [
        ["player", {"device": "cuda"}],
        ["player", {"device": "auto"}],
        ["writer", {"device": "cuda", "output": str(tmp_path / "w.mp4")}],
    ], library_path=stub_libcuda)
    for refused in (no_gpu[0], no_gpu[2]):
        assert refused["hardware"], refused
        assert "cuInit failed: CUDA_ERROR_NO_DEVICE" in refused["message"]
    assert no_gpu[1]["ok"] and no_gpu[1]["device"] == "cpu" and "CUDA_ERROR_NO_DEVICE" in no_gpu[1]["note"]
    first, second, writer_second, auto = run_cases(media["bframes"], [
        ["player", {"device": "cuda:0"}],
        ["player", {"device": "cuda:1"}],
        ["writer", {"device": "cuda:1", "output": str(tmp_path / "w1.mp4")}],
        ["player", {"device": "auto"}],
    ], library_path=stub_libcuda, devices=1)
    assert first["hardware"] and "primary context of CUDA device cuda:0" in first["message"]
    for refused in (second, writer_second):
        assert refused["hardware"], refused
        assert "cuda:1 does not exist: the driver lists 1 device(s)" in refused["message"]
    assert auto["ok"] and auto["device"] == "cpu" and "CUDA_ERROR_NOT_SUPPORTED" in auto["note"]


def test_device_argument_is_checked(vs, media):
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
        vs.Reader(media["bframes"], device="gpu")
    with pytest.raises(ValueError, match="cuda:x"):
        vs.Reader(media["bframes"], device="cuda:x")
    with pytest.raises(ValueError, match="needs hwaccel 'cuda'"):
        vs.Reader(media["bframes"], device="cuda", hwaccel="vaapi")


def test_cli_decodes_with_hwaccel_auto_by_default():
    from vistream import cli

    args = cli._build_parser().parse_args(["play", "clip.mp4"])
    assert args.hwaccel == "auto"
