"""Torch annotators: same pixels as the numpy ones, drawn on tensors (CPU here, CUDA on GPU machines)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import vistream
from vistream import Detections
from vistream.annotate import BoxAnnotator, PixelateAnnotator, TorchBoxAnnotator, TorchPixelateAnnotator
from vistream.annotate import color_for

DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: the GPU variant cannot run here")])]


def _detections() -> Detections:
    return Detections(xyxy=np.array([[10.2, 5, 70, 53], [-5, 100, 30, 140], [150, 10, 170, 40], [40, 60, 41, 61],
                                     [np.nan, 0, 5, 5]], np.float32),
                      confidence=np.ones(5, np.float32), tracker_id=np.array([1, 2, 3, 4, 5]))


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("block", [None, 5, 7, 64])
def test_pixelate_equals_numpy(image, device, block):
    expected = PixelateAnnotator(block).annotate(image.copy(), _detections())
    tensor = torch.from_numpy(image.copy()).to(device)
    assert TorchPixelateAnnotator(block).annotate(tensor, _detections()) is tensor
    np.testing.assert_array_equal(tensor.cpu().numpy(), expected)


@pytest.mark.parametrize("device", DEVICES)
def test_box_equals_numpy_at_one_pixel(image, device):
    expected = BoxAnnotator(1).annotate(image.copy(), _detections())
    tensor = torch.from_numpy(image.copy()).to(device)
    TorchBoxAnnotator(1).annotate(tensor, _detections())
    np.testing.assert_array_equal(tensor.cpu().numpy(), expected)


@pytest.mark.parametrize("thickness", [None, 2, 3, 4, 5, 9])
def test_thick_box_equals_numpy(image, thickness):
    """OpenCV's thick outline: 2 * ((t + 1) // 2) + 1 pixels wide with rounded outer corners (was
    t pixels with square corners, which made the CLI's device output differ from the numpy one)."""
    detections = _detections()
    expected = BoxAnnotator(thickness).annotate(image.copy(), detections)
    tensor = torch.from_numpy(image.copy())
    TorchBoxAnnotator(thickness).annotate(tensor, detections)
    np.testing.assert_array_equal(tensor.numpy(), expected)

    canvas = torch.zeros((100, 100, 3), dtype=torch.uint8)
    one = Detections(xyxy=np.array([[20, 30, 60, 80]], np.float32), confidence=np.ones(1, np.float32),
                     tracker_id=np.array([7]))
    TorchBoxAnnotator(thickness=4).annotate(canvas, one)
    assert tuple(canvas[28, 20].tolist()) == color_for(7) and not canvas[27, 20].any()  # radius 2
    assert not canvas[28, 18].any() and canvas[29, 19].any()  # the rounded corner


def test_draws_on_a_decoded_frame_through_dlpack(test_mp4):
    """The tensor shares the frame's (row-padded) memory: drawing on it draws on the frame."""
    with vistream.Reader(test_mp4) as reader:
        frame = reader.frame_at(10)
        detections = Detections(xyxy=np.array([[100, 100, 300, 260]], np.float32), confidence=np.ones(1, np.float32))
        expected = PixelateAnnotator(16).annotate(np.array(frame.array), detections)
        tensor = torch.from_dlpack(frame)
        TorchPixelateAnnotator(16).annotate(tensor, detections)
        np.testing.assert_array_equal(np.asarray(frame.array), expected)


def test_bad_inputs():
    detections = _detections()
    with pytest.raises(TypeError, match="torch.Tensor"):
        TorchBoxAnnotator().annotate(np.zeros((4, 4, 3), np.uint8), detections)
    with pytest.raises(TypeError, match="uint8"):
        TorchPixelateAnnotator().annotate(torch.zeros((4, 4, 3)), detections)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        TorchBoxAnnotator().annotate(torch.zeros((3, 4, 4), dtype=torch.uint8), detections)
    with pytest.raises(ValueError):
        TorchBoxAnnotator(thickness=0)
