"""Issue 13: ``Pipeline(classifier=...)`` runs a real ``OnnxClassifier`` per detected box (crops →
``detections.classifications``, drawn by LabelAnnotator as the top-1 name) or per frame, on its own
cadence, and the results file carries the classifications; ``vistream.read_results`` reads a
``.jsonl`` results file into the same ``EmbeddedResults`` as the video the run embedded them into.

The classifier is a tiny exported ONNX network whose logits are the mean of each colour channel
(classes blue, green, red), so its answer depends on the pixels of each crop."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import vistream as vs
from vistream.annotate import LabelAnnotator
from vistream.predict import OnnxClassifier

NAMES = {0: "blue", 1: "green", 2: "red"}
BOXES = [[100, 100, 300, 260], [700, 300, 1000, 600], [1100, 50, 1280, 200]]


class ChannelMeans(torch.nn.Module):
    def forward(self, x):
        return x.mean((2, 3)) * 5


@pytest.fixture(scope="module")
def classifier_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("classifier") / "colours.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(ChannelMeans(), (torch.rand(1, 3, 32, 32),), str(path), input_names=["images"],
                          output_names=["logits"], opset_version=17, dynamo=False)
    return path


class FixedBoxes:
    """A detector that reports the same three regions on every frame."""

    def __call__(self, image):
        return vs.Detections(xyxy=BOXES, confidence=[0.9, 0.8, 0.7])


class Counted:
    """A classifier that counts the frames it classifies."""

    def __init__(self, classifier):
        self.classifier, self.calls = classifier, []

    def __call__(self, image):
        self.calls.append(image.shape)
        return self.classifier(image)


@pytest.fixture(scope="module")
def frames(test_mp4):
    with vs.Reader(str(test_mp4)) as reader:
        return [frame.array.copy() for frame in reader.frames_at(list(range(7)))]


def _run(test_mp4, pipeline, output=None):
    player = vs.Player(str(test_mp4), display=False, end=0.2, output=output)  # frames 0..6
    player.on_frame(pipeline)
    error = None
    try:
        player.run()
    except BaseException as caught:
        error = caught
        raise
    finally:
        pipeline.close(error, video=output if output else None)


def test_boxes_are_classified_labelled_written_and_read_back_from_jsonl_and_video(
        test_mp4, frames, classifier_path, tmp_path):
    classifier = OnnxClassifier(classifier_path, top_k=2, class_names=NAMES)
    results, video = tmp_path / "run.jsonl", tmp_path / "run.mkv"
    pipeline = vs.Pipeline(FixedBoxes(), annotators=[LabelAnnotator()], results=str(results), embed_results=True,
                           classifier=classifier)
    _run(test_mp4, pipeline, output=str(video))

    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(7))
    for record in records:
        image = frames[record["frame"]]
        for box, written in zip(BOXES, record["detections"]):
            x1, y1, x2, y2 = box
            expected = classifier(image[y1:y2, x1:x2])
            assert written["classifications"] == expected.record(0)
    assert records[0]["classification_names"] == {"0": "blue", "1": "green", "2": "red"}
    last = pipeline.last.classifications
    assert last is not None and len(last) == 3 and last.k == 2
    assert LabelAnnotator().label_text(pipeline.last, 1) == f"0 {NAMES[int(last.top1[1])]} 0.80"

    from_jsonl, from_video = vs.read_results(results), vs.read_results(video)
    assert isinstance(from_jsonl, vs.EmbeddedResults) and from_jsonl.carrier == "jsonl"
    assert from_jsonl == from_video and len(from_jsonl) == 7
    for (i, t, d), (j, u, e) in zip(from_jsonl.frames(), from_video.frames()):
        assert (i, t) == (j, u) and d == e
    assert from_jsonl.detections(6).classifications == last
    assert [i for i, _, _ in vs.results.read_results(results)] == list(range(7))  # the old reader still works


def test_frame_classifier_runs_on_its_own_cadence_and_is_held_in_between(test_mp4, frames, classifier_path,
                                                                         tmp_path):
    classifier = Counted(OnnxClassifier(classifier_path, top_k=3, class_names=NAMES))
    results = tmp_path / "frames.jsonl"
    pipeline = vs.Pipeline(results=str(results), classifier=classifier, classify="frame",
                           classifier_every_n_frames=3)
    _run(test_mp4, pipeline)
    assert len(classifier.calls) == 3 and classifier.calls[0] == frames[0].shape  # frames 0, 3, 6, whole
    read = vs.read_results(results)
    for index in range(7):
        due = index - index % 3
        assert read.classifications(index) == classifier.classifier(frames[due])
        assert read.detections(index).classifications is None
    assert pipeline.classifications == classifier.classifier(frames[6])


def test_classifier_slot_refuses_what_is_not_a_classifier(classifier_path, tmp_path):
    with pytest.raises(ValueError, match="classify must be 'box' or 'frame'"):
        vs.Pipeline(classifier=OnnxClassifier(classifier_path), classify="crops")
    with pytest.raises(TypeError, match="classifier"):
        vs.Pipeline(classifier=object())
    with pytest.raises(ValueError, match="line 2 is not a results record"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"frame": 0, "time": 0, "detections": []}\nnot json\n')
        vs.read_results(bad)


def test_tracked_boxes_keep_their_track_s_classification_between_runs(frames, classifier_path):
    from vistream.track import ByteTrack

    classifier = Counted(OnnxClassifier(classifier_path, top_k=1, class_names=NAMES))
    pipeline = vs.Pipeline(FixedBoxes(), ByteTrack(frame_rate=30), classifier=classifier,
                           classifier_every_n_frames=3)
    with_rows = []
    for index, image in enumerate(frames):
        frame = type("Frame", (), {"index": index, "time": index / 30, "array": image.copy()})()
        pipeline(frame)
        with_rows.append(pipeline.last)
    assert len(classifier.calls) == 3 * len(BOXES)  # frames 0, 3 and 6, one crop per box
    for index, tracked in enumerate(with_rows):
        assert len(tracked) == 3 and tracked.classifications is not None
        classified = with_rows[index - index % 3]
        by_track = dict(zip(classified.tracker_id.tolist(), classified.classifications.class_id[:, 0].tolist()))
        assert tracked.classifications.class_id[:, 0].tolist() == [by_track[t] for t in tracked.tracker_id.tolist()]


def test_play_command_line_classifies_frames_into_the_results(test_mp4, classifier_path, tmp_path):
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    command = [sys.executable, "-m", "vistream", "play", str(test_mp4), "--headless", "--end", "0.1",
               "--classifier", str(classifier_path), "--results", str(tmp_path / "r.jsonl")]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode == 2 and "--classifier classifies each detection's box: add a detector" in refused.stderr
    ran = subprocess.run(command + ["--classify", "frame", "--classifier-every", "2"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert ran.returncode == 0, ran.stderr
    results = vs.read_results(tmp_path / "r.jsonl")
    assert len(results) >= 3
    expected = OnnxClassifier(classifier_path)
    with vs.Reader(str(test_mp4)) as reader:
        first = reader.frames_at([0])[0].array
    assert results.classifications(0) == expected(first) == results.classifications(1)  # held on frame 1
