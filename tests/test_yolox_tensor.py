"""YOLOX on torch tensors (issue 11): the letterbox runs in torch on the frame's own device and gives
the numpy/OpenCV path's network input byte for byte, so ``YOLOX(tensor)`` and ``YOLOX(ndarray)``
detect the same. Here the tensors are CPU tensors: the code is the one CUDA frames take."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import vistream
from vistream.detect import YOLOX
from vistream.detect.yolox.detector import letterbox, letterbox_tensor, resize_like_opencv

FRAMES = (0, 120)


@pytest.fixture(scope="module")
def clip_frames(test_mp4):
    with vistream.Reader(test_mp4) as reader:
        return [np.array(reader.frame_at(i).array) for i in FRAMES]


def _responsive_nano(frames, **options) -> YOLOX:
    """yolox_nano with seeded random weights whose BatchNorm statistics are measured on the clip.

    Untrained weights shrink the features to ~1e-7 through the backbone (all scores stay at the
    prior); with statistics measured on real frames the head responds to the image and finds
    boxes, so the two input paths have something to agree on. Such a network is chaotic (one grey
    level of noise on 6% of the pixels changes every box), which makes equality a strict test.
    """
    torch.manual_seed(0)
    detector = YOLOX("yolox_nano", input_size=(224, 416), **options)
    network = detector.model
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average over the frames below
    network.train()
    with torch.no_grad():
        for frame in frames:
            network(detector.preprocess(frame)[0])
    network.eval()
    return detector


@pytest.mark.parametrize("size", [(416, 416), (640, 640), (800, 1440), (224, 416)])
def test_tensor_letterbox_is_byte_identical_to_opencv(clip_frames, size):
    for frame in clip_frames:
        expected, ratio = letterbox(frame, size)
        canvas, tensor_ratio = letterbox_tensor(torch.from_numpy(frame), size)
        assert tensor_ratio == ratio and canvas.shape == (1, 3, *size) and canvas.dtype == torch.float32
        np.testing.assert_array_equal(canvas[0].permute(1, 2, 0).numpy(), expected)


def test_resize_matches_opencv_up_and_down_on_odd_sizes():
    import cv2

    rng = np.random.default_rng(3)
    for shape, (height, width) in [((61, 37, 3), (416, 252)), ((333, 517, 3), (267, 416)),
                                   ((100, 250, 3), (576, 1440)), ((720, 1280, 3), (720, 640))]:
        image = rng.integers(0, 256, shape, np.uint8)
        expected = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(resize_like_opencv(torch.from_numpy(image), height, width).numpy(), expected)


def test_tensor_and_array_give_the_same_detections_on_the_clip(test_mp4, clip_frames):
    detector = _responsive_nano(clip_frames, conf=0.01, nms=0.45)
    found = 0
    with vistream.Reader(test_mp4) as reader:
        for index in FRAMES:
            frame = reader.frame_at(index)
            tensor = torch.from_dlpack(frame)  # the frame's own (row-padded) memory, as a device frame gives
            from_array, from_tensor = detector(np.array(frame.array)), detector(tensor)
            assert len(from_array) == len(from_tensor)
            np.testing.assert_array_equal(from_tensor.xyxy, from_array.xyxy)
            np.testing.assert_array_equal(from_tensor.confidence, from_array.confidence)
            np.testing.assert_array_equal(from_tensor.class_id, from_array.class_id)
            found += len(from_array)
    assert found >= 20  # the comparison is not between two empty results


def test_tensor_preprocessing_normalises_and_casts_like_the_model(clip_frames):
    mot = YOLOX("yolox_m_mix_det", input_size=(224, 416))  # ByteTrack's RGB, /255, mean/std input
    expected, ratio = mot.preprocess(clip_frames[1])
    got, tensor_ratio = mot.preprocess(torch.from_numpy(clip_frames[1]))
    assert tensor_ratio == ratio and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)

    bf16 = YOLOX("yolox_nano", input_size=(224, 416), bf16=True)
    x, _ = bf16.preprocess(torch.from_numpy(clip_frames[0]))
    assert x.dtype == torch.bfloat16 and x.device == bf16.device
    assert torch.equal(x, bf16.preprocess(clip_frames[0])[0])


def test_bad_tensors_are_refused():
    detector = YOLOX("yolox_nano", input_size=(224, 416))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        detector(torch.zeros((3, 64, 64), dtype=torch.uint8))
    assert "torch" in YOLOX.accepts and "numpy" in YOLOX.accepts
