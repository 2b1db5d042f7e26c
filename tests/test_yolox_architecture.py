"""The checkpoint decides the architecture when no model is named; a model that contradicts the
checkpoint is one clear CheckpointMismatchError (not torch's per-tensor size mismatch)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vistream.detect.yolox import YOLOX, CheckpointMismatchError, build_model
from vistream.errors import VistreamError

REPO = Path(__file__).resolve().parents[1]


def _random_state_dict(name: str, seed: int) -> dict:
    torch.manual_seed(seed)
    net = build_model(name)
    for p in net.parameters():
        p.data.normal_(0, 0.02)
    return net.state_dict()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    mot = _random_state_dict("yolox_m_mix_det", 0)
    coco = _random_state_dict("yolox_s", 1)
    # ByteTrack saves {"model": state_dict, "start_epoch": ..., "optimizer": ...} as .pth.tar;
    # the official YOLOX releases are saved the same way, some files hold the bare state_dict
    torch.save({"model": mot, "start_epoch": 80}, folder / "bytetrack_m_mot17.pth.tar")
    torch.save(coco, folder / "yolox_s.pth")
    return {"mot": (folder / "bytetrack_m_mot17.pth.tar", mot), "coco": (folder / "yolox_s.pth", coco)}


def _assert_loaded(detector: YOLOX, state_dict: dict) -> None:
    loaded = detector.model.state_dict()
    assert loaded.keys() == state_dict.keys()
    for key, value in state_dict.items():
        assert torch.equal(loaded[key], value), key


def test_bytetrack_checkpoint_loads_without_model(checkpoints):
    path, weights = checkpoints["mot"]
    detector = YOLOX(ckpt_file=str(path))
    assert (detector.name, detector.num_classes, detector.input_size) == ("yolox_m_mix_det", 1, (800, 1440))
    assert detector.is_mot and detector.class_names == ("person",)
    _assert_loaded(detector, weights)


def test_coco_checkpoint_loads_without_model(checkpoints):
    path, weights = checkpoints["coco"]
    detector = YOLOX(ckpt_file=str(path))
    assert (detector.name, detector.num_classes, detector.input_size) == ("yolox_s", 80, (640, 640))
    assert not detector.is_mot and detector.class_names[0] == "person"
    _assert_loaded(detector, weights)


def test_named_model_takes_the_class_count_from_the_checkpoint(checkpoints):
    path, weights = checkpoints["mot"]
    with pytest.warns(RuntimeWarning, match="model='yolox_m_mix_det'"):  # it looks like ByteTrack's
        detector = YOLOX("yolox_m", ckpt_file=str(path))
    assert (detector.name, detector.num_classes) == ("yolox_m", 1)
    _assert_loaded(detector, weights)
    _assert_loaded(YOLOX("yolox_m_mix_det", ckpt_file=str(path)), weights)


def test_model_of_another_architecture_is_one_clear_error(checkpoints):
    path, _ = checkpoints["coco"]
    with pytest.raises(CheckpointMismatchError) as info:
        YOLOX("yolox_m", ckpt_file=str(path))
    message = str(info.value)
    assert "checkpoint is yolox_s (depth 0.33, width 0.50, 80 classes) but model='yolox_m' is yolox_m " \
           "(depth 0.67, width 0.75, 80 classes)" in message
    assert "\n" not in message and "size mismatch" not in message and str(path) in message
    assert isinstance(info.value, VistreamError) and isinstance(info.value, ValueError)
    with pytest.raises(CheckpointMismatchError, match="1 class"):
        YOLOX("yolox_s", ckpt_file=str(checkpoints["mot"][0]))
    with pytest.raises(CheckpointMismatchError, match="num_classes=3"):
        YOLOX(ckpt_file=str(path), num_classes=3)


def test_command_line_mismatch_is_one_line(checkpoints, test_mp4):
    path, _ = checkpoints["coco"]
    result = subprocess.run([sys.executable, str(REPO / "python" / "play.py"), str(test_mp4), "--headless",
                             "--bytetrack", f"model=yolox_m;ckpt_file={path}"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("vistream:")]
    assert len(errors) == 1 and "checkpoint is yolox_s" in errors[0] and "model='yolox_m'" in errors[0]
    assert "Traceback" not in result.stderr and "size mismatch" not in result.stderr
