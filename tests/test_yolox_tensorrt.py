"""YOLOX(trt_file=...): clear errors without TensorRT / CUDA, and (GPU only) engine vs torch parity.

The error tests run everywhere: they hide or fake the ``tensorrt`` module so the result does not
depend on the machine. The parity test needs an NVIDIA GPU and ``pip install tensorrt`` (10+) and
is skipped, with the reason, when either is missing.
"""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from vistream.errors import MissingDependencyError
import torch

from vistream.detect.yolox import YOLOX, export_onnx
from vistream.errors import HardwareError


def test_missing_tensorrt_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` raise ImportError
    engine = tmp_path / "absent.engine"  # never looked at: the missing package is reported first
    with pytest.raises(MissingDependencyError, match="pip install tensorrt") as info:
        YOLOX("yolox_nano", trt_file=str(engine), device="cuda")
    assert "TensorRT 10" in str(info.value) and "onnx_file" in str(info.value)


def test_old_tensorrt_is_rejected(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="8.6.1"))
    with pytest.raises(MissingDependencyError, match="TensorRT 10\\+.*8.6.1"):
        YOLOX("yolox_nano", trt_file=str(tmp_path / "absent.engine"), device="cuda")


def test_tensorrt_without_cuda_is_a_hardware_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.3.0"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(HardwareError, match="CUDA"):
        YOLOX("yolox_nano", trt_file=str(tmp_path / "absent.engine"), device="cuda")


def test_tensorrt_needs_a_cuda_device_argument(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.3.0"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ValueError, match="device='cuda'"):
        YOLOX("yolox_nano", trt_file=str(tmp_path / "absent.engine"), device="cpu")
    with pytest.raises(FileNotFoundError, match="absent.engine"):
        YOLOX("yolox_nano", trt_file=str(tmp_path / "absent.engine"), device="cuda")


@pytest.mark.gpu
def test_engine_matches_torch_on_gpu(tmp_path, test_mp4, monkeypatch):
    pytest.importorskip("tensorrt", reason="needs NVIDIA TensorRT 10+: pip install tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch.cuda.is_available() is False)")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # true fp32 on both sides
    import vistream
    from vistream.detect.yolox.tensorrt_backend import build_engine

    torch.manual_seed(0)
    torch_det = YOLOX("yolox_nano", device="cuda", conf=1e-3)
    for m in torch_det.model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    onnx_path = export_onnx(torch_det, tmp_path / "nano.onnx")
    engine = build_engine(str(onnx_path), str(tmp_path / "nano.engine"), tf32=False)
    trt_det = YOLOX("yolox_nano", trt_file=engine, device="cuda", conf=1e-3)
    assert trt_det.backend == "tensorrt" and trt_det.input_size == (416, 416)

    with vistream.Reader(test_mp4) as reader:
        frame = reader.frame_at(60).array.copy()
    tensor, _ = torch_det.preprocess(frame)
    with torch.no_grad():
        expected = torch_det.model(tensor)
    got = trt_det.model(tensor)
    assert got.device.type == "cuda" and got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-4)
    out = trt_det(frame)  # the full detector path (pre/post-processing shared with torch)
    assert isinstance(out, vistream.Detections) and out.xyxy.dtype == np.float32

