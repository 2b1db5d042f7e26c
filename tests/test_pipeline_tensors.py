"""Pipeline tensor handoff (issue 11): plugins get the frame as a torch tensor or a numpy array,
whichever they declare (``accepts``), from the frame's own memory. Here the frames are host frames
handed over as CPU tensors (``tensors=True``): the code path device frames take, without a device."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import vistream
from vistream import Detections, Pipeline, Schedule
from vistream.annotate import BoxAnnotator, TorchBoxAnnotator
from vistream.track import ByteTrack

BOX = np.array([[100, 80, 300, 260]], np.float32)


class RecordingDetector:
    """Takes numpy only (no ``accepts``), like MotionDetector; records what it was given."""

    def __init__(self) -> None:
        self.seen = []

    def __call__(self, image):
        self.seen.append(image)
        return Detections(xyxy=BOX.copy(), confidence=np.ones(1, np.float32))


class TensorDetector(RecordingDetector):
    accepts = frozenset({"numpy", "torch"})


class RecordingTorchAnnotator(TorchBoxAnnotator):
    def __init__(self) -> None:
        super().__init__(thickness=2)
        self.seen = []

    def annotate(self, image, detections):
        self.seen.append(image)
        return super().annotate(image, detections)


def _run(pipeline: Pipeline, path, count: int = 5):
    """Runs ``pipeline`` over the first frames of a Player (what the encoder would get) and
    returns the frames' pixels after the callback."""
    after = []

    def callback(frame):
        pipeline(frame)
        after.append(np.array(frame.array))

    player = vistream.Player(str(path), display=False, mode="offline", end=count / 30.0 - 1e-3, audio=False)
    player.on_frame(callback)
    player.run()
    return after


def test_torch_annotator_draws_on_the_frame_through_the_default_pipeline(test_mp4):
    """Host frames: numpy plugins get the frame's array, a torch-only annotator a tensor sharing
    it, so its drawing is in the output. Before, TorchBoxAnnotator got the numpy array and failed."""
    detector, annotator = RecordingDetector(), RecordingTorchAnnotator()
    pipeline = Pipeline(detector, annotators=[annotator])
    frames = _run(pipeline, test_mp4)
    assert len(frames) == 5
    assert all(isinstance(image, np.ndarray) for image in detector.seen)
    assert all(isinstance(image, torch.Tensor) for image in annotator.seen)
    expected_color = np.array(vistream.annotate.color_for(0))
    assert (frames[-1][80, 100:300] == expected_color).all()  # the top edge, in the frame itself
    assert pipeline.transfers.frames == 5 and pipeline.transfers.tensor_frames == 0
    assert pipeline.transfers.host_copies == 0


def test_tensors_true_hands_tensors_to_torch_plugins_and_numpy_views_to_the_others(test_mp4):
    numpy_detector, tensor_detector = RecordingDetector(), TensorDetector()
    seen_by_plugin = []

    def count_boxes(frames, detections):
        seen_by_plugin.append(frames)
        return len(detections)

    count_boxes.accepts = {"torch"}
    torch_boxes = RecordingTorchAnnotator()
    for detector in (numpy_detector, tensor_detector):
        pipeline = Pipeline(detector, ByteTrack(), [torch_boxes, BoxAnnotator(thickness=1)], tensors=True,
                            plugins=[Schedule(count_boxes, name="count", frame_count=2)])
        frames = _run(pipeline, test_mp4)
        assert len(frames) == 5
        transfers = pipeline.transfers
        assert transfers.frames == transfers.tensor_frames == 5
        # CPU tensors share the frame's memory with numpy: nothing is ever copied
        assert (transfers.host_copies, transfers.host_uploads) == (0, 0)
    assert all(isinstance(image, np.ndarray) for image in numpy_detector.seen)
    assert all(isinstance(image, torch.Tensor) and image.dtype == torch.uint8 and image.shape == (720, 1280, 3)
               for image in tensor_detector.seen + torch_boxes.seen)
    # the tensor is the frame's memory (row-padded like the frame), not a copy
    assert torch_boxes.seen[0].stride()[1:] == (3, 1)
    # a torch plugin looking back gets tensor copies of earlier frames
    assert all(len(frames) == 2 and all(isinstance(f, torch.Tensor) for f in frames) for frames in seen_by_plugin)
    assert pipeline.results["count"] == 1


def test_tensor_and_numpy_chains_draw_the_same_output(test_mp4):
    numpy_frames = _run(Pipeline(RecordingDetector(), ByteTrack(), [BoxAnnotator(thickness=1)]), test_mp4)
    tensor_frames = _run(Pipeline(TensorDetector(), ByteTrack(), [TorchBoxAnnotator(thickness=1)], tensors=True),
                         test_mp4)
    for a, b in zip(numpy_frames, tensor_frames):
        np.testing.assert_array_equal(a, b)


def test_declarations_are_checked():
    class Odd:
        accepts = {"cupy"}

        def __call__(self, image):
            return Detections.empty()

    with pytest.raises(ValueError, match="accepts"):
        Pipeline(Odd())
    with pytest.raises(TypeError, match="tensors"):
        Pipeline(tensors="yes")
