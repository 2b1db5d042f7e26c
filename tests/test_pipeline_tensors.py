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


def _calibrated_nano(path, test_mp4) -> None:
    """A yolox_nano checkpoint (seeded random weights, BatchNorm statistics measured on the clip so
    the head responds to the image: see tests/test_yolox_tensor.py) that finds boxes to track."""
    from vistream.detect import YOLOX

    torch.manual_seed(0)
    detector = YOLOX("yolox_nano")
    for module in detector.model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    detector.model.train()
    with vistream.Reader(test_mp4) as reader, torch.no_grad():
        for index in range(6):
            detector.model(detector.preprocess(np.array(reader.frame_at(index).array))[0])
    torch.save(detector.model.state_dict(), path)


def test_cli_chain_on_tensors_draws_the_numpy_chains_video(test_mp4, tmp_path):
    """The headline chain (YOLOX -> ByteTrack -> box, label, trail) as the CLI builds it for frames
    on the device, run here on CPU tensors, writes the video the numpy chain writes: same
    detections and tracks, labels and boxes identical, trails within their antialiased rim."""
    from vistream import cli
    from vistream.annotate import TorchBoxAnnotator, TorchLabelAnnotator, TorchTraceAnnotator

    checkpoint = tmp_path / "nano.pth"
    _calibrated_nano(checkpoint, test_mp4)
    args = cli._build_parser().parse_args(["play", str(test_mp4), "--bytetrack",
                                           f"ckpt_file={checkpoint};model=yolox_nano;conf=0.1;track_thresh=0.2;classes=0+4+38+47+52"])
    outputs = {}
    for tensors in (False, True):
        pipeline = cli.pipeline_from_arguments(args, 30.0, tensors=tensors)
        if tensors:
            assert [type(a) for a in pipeline.annotators] == [TorchBoxAnnotator, TorchLabelAnnotator,
                                                              TorchTraceAnnotator]
        output = tmp_path / f"tensors_{tensors}.mp4"
        player = vistream.Player(str(test_mp4), output=str(output), display=False, mode="offline", end=0.2,
                                 audio=False, crf=18)
        tracked = []

        def callback(frame, pipeline=pipeline, tracked=tracked):
            pipeline(frame)
            tracked.append(len(pipeline.last))

        player.on_frame(callback)
        player.run()
        transfers = pipeline.transfers
        assert transfers.tensor_frames == (transfers.frames if tensors else 0) and transfers.frames >= 6
        assert transfers.host_copies == transfers.host_uploads == 0
        assert sum(tracked) > 0, tracked  # tracks were drawn
        with vistream.Reader(str(output)) as reader:
            outputs[tensors] = [np.array(frame.array) for frame in reader]
    assert len(outputs[False]) == len(outputs[True])
    for numpy_frame, tensor_frame in zip(outputs[False], outputs[True]):
        difference = np.abs(numpy_frame.astype(np.int16) - tensor_frame)
        # measured: identical (0 pixels differ, before and after x264); the bound leaves room for
        # the trails' antialiased rim (tests/test_torch_label.py) should longer trails be drawn
        assert difference.mean() < 0.5
