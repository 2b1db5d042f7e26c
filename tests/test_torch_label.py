"""TorchLabelAnnotator and TorchTraceAnnotator (issue 11): LabelAnnotator's and TraceAnnotator's look,
drawn on torch tensors on their own device (CPU tensors here, the same code as CUDA ones)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import vistream
from vistream import Detections
from vistream.annotate import LabelAnnotator, TraceAnnotator


@pytest.fixture(scope="module")
def street(test_mp4) -> np.ndarray:
    with vistream.Reader(test_mp4) as reader:
        return np.array(reader.frame_at(30).array)


def _crowd(count: int = 25, seed: int = 0) -> Detections:
    """Overlapping boxes, some past the image's edges (labels are pushed inside)."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform([-50, -50], [1250, 700], (count, 2))
    size = rng.uniform(20, 300, (count, 2))
    return Detections(xyxy=np.hstack([corner, corner + size]).astype(np.float32),
                      confidence=rng.uniform(0, 1, count).astype(np.float32),
                      class_id=rng.integers(0, 3, count), tracker_id=np.arange(1, count + 1))


@pytest.mark.parametrize("options", [{}, {"text_scale": 1.5}, {"class_names": ["person", "car", "dog"]},
                                     {"show_confidence": False}])
def test_labels_look_like_label_annotator(street, options):
    detections = _crowd()
    expected = LabelAnnotator(**options).annotate(street.copy(), detections)
    tensor = torch.from_numpy(street.copy())
    assert vistream.TorchLabelAnnotator(**options).annotate(tensor, detections) is tensor
    # Measured: identical on the street frame (the patch ends at the label box, and OpenCV's
    # antialiased text stays inside it with the default padding).
    np.testing.assert_array_equal(tensor.numpy(), expected)


def test_labels_are_rasterised_once_per_distinct_label(street):
    annotator = vistream.TorchLabelAnnotator(show_confidence=False)
    detections = _crowd(10)
    for _ in range(3):
        annotator.annotate(torch.from_numpy(street.copy()), detections)
    assert annotator.rasterised == 10  # later frames reuse the uploaded patches

    small = vistream.TorchLabelAnnotator(cache_size=4)
    small.annotate(torch.from_numpy(street.copy()), detections)
    assert len(small._patches) == 4


def test_a_label_wider_than_the_image_is_cut():
    image = np.zeros((30, 40, 3), np.uint8)
    detections = Detections(xyxy=np.array([[5, 5, 20, 20]], np.float32), confidence=np.ones(1, np.float32),
                            class_id=np.array([0]), tracker_id=np.array([12345]))
    tensor = torch.from_numpy(image.copy())
    vistream.TorchLabelAnnotator(text_scale=2.0).annotate(tensor, detections)
    assert tensor.any()
    with pytest.raises(TypeError, match="torch.Tensor"):
        vistream.TorchLabelAnnotator().annotate(image, detections)


def test_trails_look_like_trace_annotator(street):
    """Same trails as TraceAnnotator up to the antialiased rim: measured mean difference 4.3 grey
    levels over the drawn pixels, 0.9% of them more than 32 apart (bounds below: 8 and 3%)."""
    rng = np.random.default_rng(0)
    numpy_trails, torch_trails = TraceAnnotator(), vistream.TorchTraceAnnotator()
    position, velocity = rng.uniform([100, 100], [1100, 600], (8, 2)), rng.normal(0, 8, (8, 2))
    for _ in range(10):
        position = position + velocity + rng.normal(0, 2, (8, 2))
        detections = Detections(xyxy=np.hstack([position - 20, position + 20]).astype(np.float32),
                                confidence=np.ones(8, np.float32), tracker_id=np.arange(1, 9))
        expected = numpy_trails.annotate(street.copy(), detections)
        tensor = torch.from_numpy(street.copy())
        torch_trails.annotate(tensor, detections)
    assert torch_trails.history(3) == numpy_trails.history(3)
    got = tensor.numpy()
    drawn = (expected != street).any(axis=2) | (got != street).any(axis=2)
    assert drawn.sum() > 1000
    difference = np.abs(expected.astype(int) - got).max(axis=2)[drawn]
    assert difference.mean() < 8
    assert (difference > 32).mean() < 0.03
