"""DeepLabCut compatibility: models built by the ``deeplabcut`` package itself (random weights, no
download) give the same poses through vistream as through DeepLabCut-live's ``DLCLive.get_pose``.

The models are made the way ``deeplabcut.export_model`` writes them: DeepLabCut's own default
pytorch_config for ``resnet_50`` (``build_pose_config_defaults``), the network built by DeepLabCut's
``PoseModel.build`` (seeded random init), saved as ``{"config": ..., "pose": state_dict}``. The fast
cases use the same config with ``model_name: resnet18`` (a timm backbone DeepLabCut's ResNet wrapper
accepts); the real ResNet-50-GN runs on one frame. Frames come from python/test.mp4 at
``resize=0.25`` (320x180: a CPU-friendly size, and 1280 * 0.25 is exact, so both sides map back alike).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import vistream as vs
from vistream.errors import CheckpointMismatchError

torch = pytest.importorskip("torch")  # torch is a test dependency (scripts/setup.sh): never missing in CI

BODYPARTS = ["snout", "left_ear", "right_ear", "tailbase"]


def _dlc_model(folder: Path, model_name: str, seed: int) -> Path:
    """An exported DeepLabCut model built by deeplabcut itself, with random weights."""
    from deeplabcut.pose_estimation_pytorch.config import metadata
    from deeplabcut.pose_estimation_pytorch.config.enums import NetType
    from deeplabcut.pose_estimation_pytorch.config.make_pose_config import build_pose_config_defaults
    from deeplabcut.pose_estimation_pytorch.models import PoseModel
    from deeplabcut.pose_estimation_pytorch.task import Task

    md = metadata.PoseMetadata(project_path=folder, bodyparts=BODYPARTS, individuals=["mouse"])
    config = build_pose_config_defaults(NetType("resnet_50"), md, task=Task.BOTTOM_UP, multi_animal=False)
    config = json.loads(json.dumps(config, default=str))  # plain types, as export_model stores them
    backbone = config["model"]["backbone"]
    backbone["model_name"], backbone["pretrained"] = model_name, False
    channels = 512 if model_name.startswith(("resnet18", "resnet34")) else 2048
    config["model"]["backbone_output_channels"] = channels
    for key in ("heatmap_config", "locref_config"):
        config["model"]["heads"]["bodypart"][key]["channels"][0] = channels
    torch.manual_seed(seed)
    model = PoseModel.build(copy.deepcopy(config["model"]))
    # DeepLabCut's weight_init "normal" leaves the heatmap logits near 0; a larger bias spread
    # makes arg-maxes and scores differ between keypoints, so a mix-up would show
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith("heads.") and name.endswith("bias"):
                parameter.normal_(0.0, 0.5)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"DLC_parity_{model_name}_shuffle-1_snapshot-010.pt"
    torch.save({"config": config, "pose": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def resnet18_model(tmp_path_factory) -> Path:
    return _dlc_model(tmp_path_factory.mktemp("dlc18") / "exported-models-pytorch", "resnet18", seed=1)


@pytest.fixture(scope="module")
def frames(test_mp4):
    with vs.Reader(test_mp4) as reader:
        return [reader.frame_at(i).array.copy() for i in (0, 60, 61, 150)]


def _dlclive(model: Path, **options):
    from dlclive import DLCLive

    return DLCLive(str(model), model_type="pytorch", device="cpu", **options)


def _reference_poses(live, images):
    return [live.init_inference(images[0])] + [live.get_pose(image) for image in images[1:]]


def _assert_same_poses(got, expected):
    for ours, theirs in zip(got, expected):
        assert ours.shape == theirs.shape == (len(BODYPARTS), 3)
        np.testing.assert_allclose(ours[:, :2], theirs[:, :2], atol=1e-3, rtol=0)
        np.testing.assert_allclose(ours[:, 2], theirs[:, 2], atol=1e-5, rtol=0)


def test_resnet18_poses_equal_dlclive_with_resize(resnet18_model, frames):
    expected = _reference_poses(_dlclive(resnet18_model, resize=0.25), frames)
    estimator = vs.DLCPoseEstimator(resnet18_model, resize=0.25)
    assert estimator.bodyparts == tuple(BODYPARTS)
    _assert_same_poses([estimator.get_pose(image) for image in frames], expected)


def test_resnet18_poses_equal_dlclive_with_dynamic_cropping(resnet18_model, frames):
    # DeepLabCut-live maps a resized crop back with 1 / resize; vistream with the crop's real
    # scale (width / int(width * resize)), which differs when the crop's size is not a multiple of
    # 1 / resize. So dynamic cropping is compared without resize, on frames scaled to 320x180 first.
    import cv2

    small = [cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA) for image in frames]
    dynamic = (True, 0.0, 60)
    live = _dlclive(resnet18_model, dynamic=dynamic)
    expected = _reference_poses(live, small)
    estimator = vs.DLCPoseEstimator(resnet18_model, dynamic=dynamic)
    _assert_same_poses([estimator.get_pose(image) for image in small], expected)
    # threshold 0: every pose after the first is detected, so frames 2.. ran on a crop, like DLCLive's
    assert estimator.frames_cropped == len(small) - 1 and live.dynamic_cropping is not None


def test_resnet50_gn_default_config_equals_dlclive_on_a_frame(tmp_path, frames):
    model = _dlc_model(tmp_path / "export", "resnet50_gn", seed=2)
    expected = _dlclive(model, resize=0.25).init_inference(frames[1])
    got = vs.DLCPoseEstimator(model, resize=0.25).get_pose(frames[1])
    np.testing.assert_allclose(got[:, :2], expected[:, :2], atol=1e-3, rtol=0)
    np.testing.assert_allclose(got[:, 2], expected[:, 2], atol=1e-5, rtol=0)


def test_training_folder_and_onnx_give_the_export_s_poses(resnet18_model, frames, tmp_path):
    exported = torch.load(resnet18_model, map_location="cpu", weights_only=True)
    train = tmp_path / "dlc-models-pytorch" / "train"
    train.mkdir(parents=True)
    (train / "pytorch_config.yaml").write_text(yaml.safe_dump(exported["config"]))
    torch.save({"model": exported["pose"], "metadata": {"epoch": 5}}, train / "snapshot-005.pt")
    torch.save({"model": exported["pose"], "metadata": {"epoch": 10}}, train / "snapshot-best-010.pt")
    reference = vs.DLCPoseEstimator(resnet18_model, resize=0.25)
    from_folder = vs.DLCPoseEstimator(train, resize=0.25)
    assert from_folder.files.weights.name == "snapshot-best-010.pt"
    onnx_file = reference.export_onnx(tmp_path / "model.onnx")
    from_onnx = vs.DLCPoseEstimator(onnx_file, runtime="onnx", resize=0.25)
    assert from_onnx.bodyparts == tuple(BODYPARTS)
    for image in frames[:2]:
        expected = reference.get_pose(image)
        np.testing.assert_array_equal(from_folder.get_pose(image), expected)
        np.testing.assert_allclose(from_onnx.get_pose(image), expected, atol=1e-3, rtol=0)


def test_weights_of_another_network_are_refused_by_name(resnet18_model, tmp_path):
    exported = torch.load(resnet18_model, map_location="cpu", weights_only=True)
    config = copy.deepcopy(exported["config"])
    config["model"]["backbone"]["model_name"] = "resnet34"
    torch.save({"config": config, "pose": exported["pose"]}, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointMismatchError, match="missing"):
        vs.DLCPoseEstimator(tmp_path / "wrong.pt")
    with pytest.raises(FileNotFoundError, match="no DeepLabCut model"):
        vs.DLCPoseEstimator(tmp_path / "absent")
    with pytest.raises(ValueError, match="runtime"):
        vs.DLCPoseEstimator(resnet18_model, runtime="tflite")
    if not torch.cuda.is_available():
        with pytest.raises(vs.HardwareError, match="CUDA"):
            vs.DLCPoseEstimator(resnet18_model, device="cuda")
    import onnxruntime

    if "TensorrtExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(vs.HardwareError, match="TensorrtExecutionProvider"):
            vs.DLCPoseEstimator(resnet18_model, runtime="tensorrt")
