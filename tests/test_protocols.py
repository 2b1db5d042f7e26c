"""Issue 13: the plugin protocols (Detector, Segmenter, Classifier, PoseEstimator, Tracker,
Annotator) are exported, every shipped plugin satisfies its protocol, and the Pipeline checks
plugins against them with errors that name the protocol."""

from __future__ import annotations

import numpy as np
import pytest


def test_protocols_are_exported_flat(vs):
    for name in ("Detector", "Segmenter", "Classifier", "PoseEstimator", "Tracker", "Annotator"):
        assert name in vs.__all__
        assert getattr(vs, name).__doc__


def test_every_shipped_detector_tracker_and_annotator_satisfies_its_protocol(vs):
    import vistream.annotate as annotate
    import vistream.detect as detect
    import vistream.track as track

    detectors = [getattr(detect, name) for name in detect.__all__]
    assert len(detectors) == 4
    for cls in detectors:
        assert issubclass(cls, vs.Detector), cls
    for cls in (track.ByteTrack, track.BoTSORT, track.IoUTracker):
        assert issubclass(cls, vs.Tracker), cls
        assert isinstance(cls(), vs.Tracker)
    annotators = [getattr(annotate, name) for name in annotate.__all__ if name.endswith("Annotator")]
    assert len(annotators) >= 10
    for cls in annotators:
        assert issubclass(cls, vs.Annotator), cls
    # instances too (what the Pipeline checks)
    assert isinstance(detect.MotionDetector(), vs.Detector)
    assert isinstance(annotate.BoxAnnotator(), vs.Annotator)


def test_a_user_predictor_with_the_documented_signature_qualifies(vs):
    class RedBlobDetector:
        def __call__(self, image: np.ndarray) -> "vs.Detections":
            ys, xs = np.nonzero(image[:, :, 2] > 200)
            if xs.size == 0:
                return vs.Detections.empty()
            return vs.Detections(xyxy=[[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]])

    class TopClass:
        def __call__(self, image):
            return vs.Classifications.from_scores(image.mean(axis=(0, 1)), k=2, class_names=["b", "g", "r"])

    assert isinstance(RedBlobDetector(), vs.Detector) and isinstance(RedBlobDetector(), vs.Segmenter)
    assert isinstance(lambda image: vs.Detections.empty(), vs.PoseEstimator)
    image = np.zeros((20, 30, 3), np.uint8)
    image[5:9, 10:14, 2] = 255
    assert RedBlobDetector()(image).xyxy.tolist() == [[10, 5, 14, 9]]
    assert isinstance(TopClass(), vs.Classifier)
    assert TopClass()(image).top1_name.tolist() == ["r"]
    # not predictors / trackers / annotators
    assert not isinstance("yolo", vs.Detector)
    assert not isinstance(RedBlobDetector(), vs.Tracker)
    assert not isinstance(RedBlobDetector(), vs.Annotator)


class _UpdateOnly:
    def update(self, detections, frame=None):
        return detections


class _Draw:  # a drawing function under the wrong name
    def draw(self, image, detections):
        return image


@pytest.mark.parametrize("kwargs, message", [
    (dict(detector="yolov8n.pt"), r"detector must be callable: a vistream\.Detector is called as detector\(image\)"),
    (dict(tracker=_UpdateOnly()), r"tracker '_UpdateOnly' does not satisfy the vistream\.Tracker protocol: "
                                  r"missing reset\(\), state_dict\(\) -> dict, load_state_dict\(state\)"),
    (dict(annotators=[_Draw()]), r"annotator '_Draw' does not satisfy the vistream\.Annotator protocol: "
                                 r"missing annotate\(image, detections\) -> image"),
])
def test_pipeline_names_the_protocol_a_plugin_fails(vs, kwargs, message):
    with pytest.raises(TypeError, match=message):
        vs.Pipeline(**kwargs)


class _Frame:
    def __init__(self, index, array):
        self.index, self.time, self.array = index, index / 30, array


def test_pipeline_takes_array_detections_and_refuses_other_results(vs):
    image = np.zeros((40, 40, 3), np.uint8)
    boxes = np.array([[1, 2, 11, 12, 0.9, 3], [5, 5, 20, 20, 0.4, 1]], np.float32)
    pipeline = vs.Pipeline(lambda image: boxes)
    pipeline(_Frame(0, image))
    assert pipeline.last.xyxy.tolist() == [[1, 2, 11, 12], [5, 5, 20, 20]]
    assert pipeline.last.class_id.tolist() == [3, 1]
    np.testing.assert_allclose(pipeline.last.confidence, [0.9, 0.4])

    wrong = vs.Pipeline(lambda image: [(1, 2, 3, 4)])
    with pytest.raises(TypeError, match=r"returned 'list'; a vistream\.Detector returns vistream\.Detections"):
        wrong(_Frame(0, image))
    with pytest.raises(TypeError, match=r"got shape \(1, 4\)"):
        vs.Pipeline(lambda image: np.zeros((1, 4)))(_Frame(0, image))
