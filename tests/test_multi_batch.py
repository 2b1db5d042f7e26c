"""Batched detection (issue 15): ``detector.batch(images)`` runs one network call for many images
of different sizes and gives each image what ``detector(image)`` gives."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import vistream
from vistream.detect import YOLOX
from vistream.multi import detect_batch


class BrightnessBoxes(torch.nn.Module):
    """A yolov8-layout network (B, 4 + 1, 2) whose boxes depend on each image: one box as wide as
    the image is bright (score 0.9) and one fixed box (score 0.8). Counts its calls and batch sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(int(x.shape[0]))
        brightness = x.mean(dim=(1, 2, 3))  # 0..1
        rows = []
        for value in brightness:
            width = 8 + 40 * value
            rows.append(torch.stack([
                torch.stack([torch.tensor(32.0), torch.tensor(16.0)]),  # cx
                torch.stack([torch.tensor(32.0), torch.tensor(48.0)]),  # cy
                torch.stack([width, torch.tensor(10.0)]),               # w
                torch.stack([torch.tensor(12.0), torch.tensor(10.0)]),  # h
                torch.stack([torch.tensor(0.9), torch.tensor(0.8)]),    # class 0 score
            ]))
        return torch.stack(rows)


def _images():
    rng = np.random.default_rng(7)
    sizes = [(240, 320), (360, 640), (720, 1280), (270, 480)]
    return [np.full((h, w, 3), level, np.uint8) + rng.integers(0, 20, (h, w, 3), dtype=np.uint8)
            for (h, w), level in zip(sizes, (30, 90, 160, 220))]


def test_model_detector_batch_is_one_call_and_equals_single_calls():
    network = BrightnessBoxes()
    detector = vistream.TorchDetector(network, imgsz=64, layout="yolov8", conf=0.5)
    images = _images()
    singles = [detector(image) for image in images]
    network.batch_sizes.clear()
    batched = detector.batch(images)
    assert network.batch_sizes == [len(images)]  # one network call for the batch
    assert len(batched) == len(images)
    for one, many, image in zip(singles, batched, images):
        assert len(one) == len(many) == 2
        np.testing.assert_allclose(many.xyxy, one.xyxy, atol=1e-3)
        np.testing.assert_allclose(many.confidence, one.confidence)
        assert many.xyxy[:, 2].max() <= image.shape[1]  # mapped back to each image's own pixels
    widths = [d.xyxy[np.argmax(d.confidence)] for d in batched]
    assert len({round(float(w[2] - w[0])) for w in widths}) == len(images)  # each image its own result
    # detect_batch (what MultiPlayer calls) uses the batch method too
    network.batch_sizes.clear()
    assert len(detect_batch(detector, images)) == 4 and network.batch_sizes == [4]


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: on the shared 2-core CI machine, spinning OpenMP threads make a few
    small forward passes take tens of seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_yolox_batch_equals_single_calls_on_real_frames(test_mp4, one_torch_thread):
    torch.manual_seed(0)
    detector = YOLOX("yolox_nano", input_size=(160, 288), conf=0.01)
    network = detector.model
    with vistream.Reader(test_mp4) as reader:
        frames = [np.array(reader.frame_at(i).array) for i in (0, 60, 120)]
    for module in network.modules():  # statistics from real frames, so the head responds to the image
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    network.train()
    with torch.no_grad():
        for frame in frames:
            network(detector.preprocess(frame)[0])
    network.eval()
    images = [frames[0], frames[1][::2, ::2].copy(), frames[2][:360, :640].copy()]
    singles = [detector(image) for image in images]
    calls = []
    hook = network.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    try:
        batched = detector.batch(images)
    finally:
        hook.remove()
    assert calls == [3]
    assert any(len(d) for d in singles)
    for one, many in zip(singles, batched):
        assert len(one) == len(many)
        np.testing.assert_allclose(many.xyxy, one.xyxy, atol=0.05)
        np.testing.assert_allclose(many.confidence, one.confidence, atol=1e-4)


def test_detectors_without_batch_fall_back_to_one_call_per_image():
    calls = []

    def detector(image):
        calls.append(image.shape)
        return vistream.Detections(xyxy=np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32))

    images = _images()
    results = detect_batch(detector, images)
    assert calls == [image.shape for image in images]
    assert [tuple(r.xyxy[0, 2:]) for r in results] == [(i.shape[1], i.shape[0]) for i in images]
