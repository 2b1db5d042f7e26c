"""export_onnx + YOLOX(onnx_file=...): ONNX Runtime (CPU provider) against the torch network.

Needs ``pip install onnx onnxruntime`` (test dependencies, never skipped). Random weights with
non-trivial BatchNorm statistics ("plain") for the raw-output comparison. A freshly initialised head
predicts a near-constant (every score ~1e-4, every box stride-sized), so for the detector-level
comparison its 1x1 prediction convs are also rescaled on the test frame ("calibrated") until logits
and box sizes vary like a trained model's: scores spread over (0, 1) and threshold + NMS mean
something. That rescaling multiplies tiny feature differences by large factors (random features
barely vary spatially), so the calibrated comparison uses pixel-level tolerances.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pytest

from vistream.errors import MissingDependencyError
import torch
import torchvision

import onnxruntime  # noqa: F401  test dependency: pip install onnx onnxruntime

from vistream import Detections
from vistream.detect.yolox import YOLOX, build_model, export_onnx
from vistream.detect.yolox.onnx_backend import OnnxRuntimeModel, select_providers

# fp32 ONNX Runtime vs torch on the decoded (B, A, 5 + C) output. Measured here (AVX-512 CPU): 3e-5
# (nano) and 6.1e-5 (s) max abs diff, both on box coordinates of ~400-640 px where one fp32 ulp is
# 3e-5 / 6.1e-5; rtol covers a couple of ulps more on CPUs whose kernels sum in another order.
RAW_ATOL, RAW_RTOL = 1e-4, 1e-6


def _weights(name: str, seed: int, calibration: Optional[torch.Tensor] = None) -> dict:
    """Random weights with perturbed BatchNorm stats; with ``calibration``, a head with varied outputs."""
    torch.manual_seed(seed)
    net = build_model(name)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    net.eval()
    if calibration is None:
        return net.state_dict()
    head = net.head
    # (prediction convs, channels, spatial std, centre): class logits mostly low (few confident
    # classes), objectness around 0.5, box centre offsets within a cell, log-sizes around the stride
    targets = [(head.cls_preds, slice(None), 0.7, -3.0), (head.obj_preds, slice(None), 1.0, 0.0),
               (head.reg_preds, slice(0, 2), 0.3, 0.0), (head.reg_preds, slice(2, 4), 0.4, 0.0)]
    with torch.no_grad():
        feats = [stem(f) for stem, f in zip(head.stems, net.backbone(calibration))]
        for convs, channels, std, centre in targets:
            towers = head.cls_convs if convs is head.cls_preds else head.reg_convs
            for conv, tower, feat in zip(convs, towers, feats):
                out = (conv(tower(feat))[0, channels] - conv.bias[channels, None, None]).flatten(1)
                scale = std / out.std(dim=1).clamp_min(1e-12)  # per channel, over positions
                conv.weight[channels] *= scale[:, None, None, None]
                conv.bias[channels] = centre - scale * out.mean(dim=1)
    return net.state_dict()


def _torch_detector(name: str, seed: int, calibration_image: Optional[np.ndarray] = None, **kw) -> YOLOX:
    det = YOLOX(name, **kw)
    calibration = None if calibration_image is None else det.preprocess(calibration_image)[0]
    det.model.load_state_dict(_weights(name, seed, calibration))
    return det


@pytest.fixture(scope="module")
def frame(test_mp4):
    import vistream

    with vistream.Reader(test_mp4) as reader:
        return reader.frame_at(60).array.copy()  # 1280x720 BGR


@pytest.fixture(scope="module", params=[("yolox_nano", 416), ("yolox_s", 640)], ids=["nano416", "s640"])
def exported(request, tmp_path_factory, frame):
    """{"plain": (torch detector, onnx path), "calibrated": (...)} for one model."""
    name, size = request.param
    folder = tmp_path_factory.mktemp("onnx")
    out = {}
    for kind, image in (("plain", None), ("calibrated", frame)):
        det = _torch_detector(name, seed=7, calibration_image=image, conf=0.3, nms=0.45)
        assert det.input_size == (size, size)
        out[kind] = det, export_onnx(det, folder / f"{name}_{kind}.onnx")
    return out


def test_export_writes_a_valid_onnx_with_metadata(exported):
    import onnx

    det, path = exported["plain"]
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert {op.domain: op.version for op in model.opset_import}[""] == 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["vistream.model"] == det.name
    assert meta["vistream.input_size"] == f"{det.input_size[0]},{det.input_size[1]}"
    assert meta["vistream.num_classes"] == "80"
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, *det.input_size]
    assert det.model.training is False and next(det.model.parameters()).device.type == "cpu"  # untouched


def _max_diff(got: torch.Tensor, expected: torch.Tensor) -> str:
    d = (got - expected).abs()
    return f"max abs diff: boxes {d[..., :4].max().item():.3g}, scores {d[..., 4:].max().item():.3g}"


def test_raw_outputs_match_torch(exported, frame):
    det, path = exported["plain"]
    ort_model = OnnxRuntimeModel(str(path), torch.device("cpu"))
    assert ort_model.providers == ["CPUExecutionProvider"]
    h, w = det.input_size
    inputs = [torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)) * 255, det.preprocess(frame)[0]]
    for x in inputs:
        with torch.no_grad():
            expected = det.model(x)
        got = ort_model(x)
        assert got.shape == expected.shape == (1, sum((h // s) * (w // s) for s in (8, 16, 32)), 85)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, expected, atol=RAW_ATOL, rtol=RAW_RTOL,
                                   msg=lambda m: f"{det.name}: {_max_diff(got, expected)}\n{m}")
        assert (got - expected)[..., 4:].abs().max().item() < RAW_ATOL  # probabilities: absolute


def _robust_operating_point(raw: torch.Tensor, nms: float) -> float:
    """A score threshold that no backend difference can flip: mid-way in the widest gap of the sorted
    scores between ranks 10 and 60, far (> 1e-3) from every score; also checks that no two candidate
    boxes of one class overlap by an IoU within 0.02 of ``nms`` (where NMS could flip either way)."""
    cls_score, cls_id = raw[:, 5:].max(dim=1)
    scores = raw[:, 4] * cls_score
    ranked = scores.sort(descending=True).values
    gaps = ranked[10:60] - ranked[11:61]
    k = 10 + int(gaps.argmax())
    assert gaps.max().item() > 1e-3, "no clear score gap to put the threshold in"
    conf = float(ranked[k] + ranked[k + 1]) / 2
    keep = scores > conf
    cx, cy, w, h = raw[keep, :4].unbind(1)
    boxes = torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=1)
    same_class = cls_id[keep][:, None] == cls_id[keep][None, :]
    iou = torchvision.ops.box_iou(boxes, boxes)[same_class & ~torch.eye(len(boxes), dtype=torch.bool)]
    assert not ((iou - nms).abs() < 0.02).any(), "a box pair sits on the NMS threshold"
    return conf


def test_detections_match_torch_on_a_real_frame(exported, frame):
    det, path = exported["calibrated"]
    with torch.no_grad():
        det.conf = _robust_operating_point(det.model(det.preprocess(frame)[0])[0], det.nms)
    onnx_det = YOLOX(det.name, onnx_file=str(path), conf=det.conf, nms=det.nms)
    assert onnx_det.backend == "onnxruntime" and onnx_det.input_size == det.input_size
    expected, got = det(frame), onnx_det(frame)
    assert isinstance(got, Detections)
    assert len(expected) > 5, "the comparison needs boxes; the weights give too few"
    assert len(got) == len(expected)
    # pair every torch box with the nearest ONNX box of the same class: a one-to-one match within
    # 0.01 px of the frame (NMS output order is not part of the contract)
    distance = np.abs(got.xyxy[:, None, :] - expected.xyxy[None, :, :]).max(axis=2)
    distance[got.class_id[:, None] != expected.class_id[None, :]] = np.inf
    match = distance.argmin(axis=0)
    assert len(set(match.tolist())) == len(expected)
    assert distance[match, np.arange(len(expected))].max() < 1e-2
    np.testing.assert_allclose(got.confidence[match], expected.confidence, atol=1e-4)
    assert list(got.data["class_name"][match]) == list(expected.data["class_name"])


def test_dynamic_batch(tmp_path):
    det = _torch_detector("yolox_nano", seed=3, input_size=(256, 320))
    path = export_onnx(det, tmp_path / "nano_dyn.onnx", dynamic_batch=True)
    ort_model = OnnxRuntimeModel(str(path), torch.device("cpu"))
    assert ort_model.input_hw == (256, 320)
    x = torch.rand(3, 3, 256, 320) * 255
    with torch.no_grad():
        expected = det.model(x)
    got = ort_model(x)
    assert got.shape == expected.shape == (3, 32 * 40 + 16 * 20 + 8 * 10, 85)
    torch.testing.assert_close(got, expected, atol=RAW_ATOL, rtol=RAW_RTOL)


def test_export_bare_module_needs_input_size(tmp_path):
    net = build_model("yolox_nano").eval()
    with pytest.raises(ValueError, match="input_size"):
        export_onnx(net, tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="multiples of 32"):
        export_onnx(net, tmp_path / "a.onnx", input_size=100)
    path = export_onnx(net, tmp_path / "sub" / "a.onnx", input_size=(160, 224))
    assert path.is_file()
    assert YOLOX("yolox_nano", onnx_file=str(path)).input_size == (160, 224)  # taken from the file
    assert net.training is False


def test_missing_onnx_file_is_exported_from_the_checkpoint(tmp_path):
    ckpt = tmp_path / "nano.pth"
    torch.save({"model": _weights("yolox_nano", 5)}, ckpt)
    onnx_path = tmp_path / "cache" / "nano.onnx"
    det = YOLOX("yolox_nano", ckpt_file=str(ckpt), onnx_file=str(onnx_path), conf=0.3)
    assert onnx_path.is_file() and det.backend == "onnxruntime"
    torch_det = YOLOX("yolox_nano", ckpt_file=str(ckpt), conf=0.3)
    x = torch.rand(1, 3, 416, 416) * 255
    with torch.no_grad():
        torch.testing.assert_close(det.model(x), torch_det.model(x), atol=RAW_ATOL, rtol=RAW_RTOL)
    mtime = onnx_path.stat().st_mtime_ns
    YOLOX("yolox_nano", ckpt_file=str(ckpt), onnx_file=str(onnx_path))  # reused, not re-exported
    assert onnx_path.stat().st_mtime_ns == mtime

    with pytest.raises(FileNotFoundError, match="ckpt_file"):
        YOLOX("yolox_nano", onnx_file=str(tmp_path / "absent.onnx"))


def test_onnx_file_mismatches_are_rejected(tmp_path):
    path = export_onnx(build_model("yolox_nano").eval(), tmp_path / "n.onnx", input_size=224)
    with pytest.raises(ValueError, match="input_size"):
        YOLOX("yolox_nano", onnx_file=str(path), input_size=320)
    with pytest.raises(ValueError, match="classes"):
        YOLOX("yolox_nano", onnx_file=str(path), num_classes=3)
    with pytest.raises(ValueError, match="not both"):
        YOLOX("yolox_nano", onnx_file=str(path), trt_file="x.engine")
    with pytest.warns(RuntimeWarning, match="precision"):
        det = YOLOX("yolox_nano", onnx_file=str(path), fp16=True)
    assert det.fp16 is False
    with pytest.raises(ValueError, match="torch-backed"):
        export_onnx(det, tmp_path / "again.onnx")


def test_provider_selection():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 1)
    every = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert select_providers(cpu, every) == ["CPUExecutionProvider"]
    assert select_providers(cuda, every) == every
    assert select_providers(cuda, ["CUDAExecutionProvider", "CPUExecutionProvider"]) == \
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.warns(RuntimeWarning, match="onnxruntime-gpu"):
        assert select_providers(cuda, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def test_missing_onnxruntime_is_a_clear_import_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    with pytest.raises(MissingDependencyError, match="pip install onnxruntime"):
        YOLOX("yolox_nano", onnx_file=str(tmp_path / "never_created.onnx"), ckpt_file="whatever.pth")
    assert not (tmp_path / "never_created.onnx").exists()
