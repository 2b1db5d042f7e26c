"""Dynamic and static cropping, resize and the Processor hook, on a generated clip with moving markers.

The data: ``vistream.pose.synthetic.write_marker_clip`` draws a red and a blue disc (radius 6 px)
circling on grey (exact positions from ``marker_positions``) and encodes the frames with the ffmpeg
CLI (libx264 -qp 4, yuv444p). The model: ``write_marker_model``, a train-free DeepLabCut-style
network (heatmap + locref, stride 8, ONNX) whose keypoint is the disc's centroid, so its poses are
known in advance and do not depend on where a crop starts.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest

import vistream as vs
from vistream.pose import RegionTrigger
from vistream.pose.synthetic import marker_frame, marker_positions, write_marker_clip

W, H = 640, 360


@pytest.fixture(scope="module")
def marker_clip(tmp_path_factory):
    return write_marker_clip(tmp_path_factory.mktemp("clip") / "markers.mp4", width=W, height=H, seconds=1.5)


def _run(estimator, clip):
    with vs.Reader(clip) as reader:
        return [estimator.estimate(frame) for frame in reader]


def test_dynamic_crop_follows_the_markers_and_matches_full_frame_poses(marker_model, marker_clip):
    full = _run(vs.DLCPoseEstimator(marker_model, runtime="onnx"), marker_clip)
    cropper = vs.DLCPoseEstimator(marker_model, runtime="onnx", dynamic=(True, 0.5, 40))
    cropped = _run(cropper, marker_clip)
    assert len(cropped) == len(full) == 45
    assert not cropped[0].dynamic_crop and all(p.dynamic_crop for p in cropped[1:])
    assert cropper.frames_cropped == 44 and cropper.frames_full == 1
    for pose_full, pose_crop in zip(full, cropped):
        truth = marker_positions(pose_crop.time, W, H)
        for k, name in enumerate(("red", "blue")):
            # the markers are where they were drawn, and the crop gives the full frame's answer
            assert np.hypot(*(pose_full.keypoints[k, :2] - truth[name])) < 0.75
            np.testing.assert_allclose(pose_crop.keypoints[k], pose_full.keypoints[k], atol=0.02)
        if pose_crop.dynamic_crop:
            x1, y1, x2, y2 = pose_crop.crop
            # the crop is the markers' box plus the margin (they move < 9 px per frame), not the frame
            assert x1 <= truth["red"][0] - 30 and x2 >= truth["blue"][0] + 30
            assert y1 <= truth["red"][1] - 30 and y2 >= truth["blue"][1] + 30
            assert (x2 - x1) * (y2 - y1) < 0.06 * W * H
    # it moved with them: the crops of the first and last frame do not overlap
    first, last = cropped[1].crop, cropped[-1].crop
    assert first[2] < last[0] or last[2] < first[0] or first[3] < last[1] or last[3] < first[1]


def test_crop_time_drops_with_its_area(marker_model):
    # a still frame keeps the crop's size constant, so the two medians compare like for like
    image = marker_frame(0.7, W, H)
    full = vs.DLCPoseEstimator(marker_model, runtime="onnx")
    cropper = vs.DLCPoseEstimator(marker_model, runtime="onnx", dynamic=(True, 0.5, 40))
    cropper.estimate(image)  # the first frame is analysed whole
    full_times, crop_times = [], []
    for _ in range(15):
        full_times.append(full.estimate(image).inference_seconds)
        pose = cropper.estimate(image)
        assert pose.dynamic_crop
        crop_times.append(pose.inference_seconds)
    x1, y1, x2, y2 = pose.crop
    area_ratio = (x2 - x1) * (y2 - y1) / (W * H)
    time_ratio = statistics.median(crop_times) / statistics.median(full_times)
    assert area_ratio < 0.06
    # per-frame cost follows the area (loose bound: shared CI cores; BENCHMARKS.md has the numbers)
    assert time_ratio < 0.5, (time_ratio, area_ratio)


def test_lost_markers_fall_back_to_the_full_frame(marker_model):
    estimator = vs.DLCPoseEstimator(marker_model, runtime="onnx", dynamic=(True, 0.5, 20))
    estimator.estimate(marker_frame(0.0, W, H))
    assert estimator.estimate(marker_frame(0.05, W, H)).dynamic_crop
    blank = np.full((H, W, 3), 128, np.uint8)
    lost = estimator.estimate(blank)  # analysed on the crop, finds nothing there
    assert lost.dynamic_crop and lost.keypoints[:, 2].max() < 0.5
    again = estimator.estimate(marker_frame(2.0, W, H))  # elsewhere now: the whole frame is searched
    assert not again.dynamic_crop and again.crop == (0, 0, W, H)
    truth = marker_positions(2.0, W, H)
    assert np.hypot(*(again.keypoints[0, :2] - truth["red"])) < 0.75
    assert estimator.estimate(marker_frame(2.0, W, H)).dynamic_crop  # and is followed from there
    estimator.reset()
    assert not estimator.estimate(marker_frame(2.0, W, H)).dynamic_crop


def test_static_crop_and_resize_are_mapped_back_to_source_pixels(marker_model):
    image = marker_frame(0.3, W, H)
    truth = marker_positions(0.3, W, H)
    reference = vs.DLCPoseEstimator(marker_model, runtime="onnx").estimate(image).keypoints
    box = (300, 120, 640, 360)
    cropped = vs.DLCPoseEstimator(marker_model, runtime="onnx", cropping=box).estimate(image)
    assert cropped.crop == box
    np.testing.assert_allclose(cropped.keypoints, reference, atol=0.02)
    resized = vs.DLCPoseEstimator(marker_model, runtime="onnx", resize=2.0, cropping=box).estimate(image)
    for k, name in enumerate(("red", "blue")):
        # upscaled 2x the 13 px discs still decode to their centres, in source pixels
        assert np.hypot(*(resized.keypoints[k, :2] - truth[name])) < 1.0
    dynamic_in_box = vs.DLCPoseEstimator(marker_model, runtime="onnx", cropping=box, dynamic=(True, 0.5, 1000))
    dynamic_in_box.estimate(image)
    assert dynamic_in_box.estimate(image).crop == box  # a dynamic crop never leaves the static one
    by_file = vs.DLCPoseEstimator(marker_model.parent)  # a folder holding one .onnx: ONNX Runtime, by the file
    assert by_file.runtime == "onnx" and by_file.bodyparts == ("red", "blue")
    np.testing.assert_array_equal(by_file.get_pose(image), reference)
    with pytest.raises(ValueError, match="cropping"):
        vs.DLCPoseEstimator(marker_model, runtime="onnx", cropping=(10, 10, 5, 20))
    with pytest.raises(ValueError, match="outside"):
        vs.DLCPoseEstimator(marker_model, runtime="onnx", cropping=(700, 0, 800, 100)).estimate(image)


def test_region_trigger_fires_when_a_keypoint_enters_and_leaves(marker_model, marker_clip, tmp_path):
    entered = []
    trigger = RegionTrigger("red", (480, 150, 560, 260), on_enter=entered.append, pcutoff=0.5)
    estimator = vs.DLCPoseEstimator(marker_model, runtime="onnx", dynamic=(True, 0.5, 40), processor=trigger)
    poses = _run(estimator, marker_clip)
    inside = [480 <= p.xy("red")[0] < 560 and 150 <= p.xy("red")[1] < 260 for p in poses]
    transitions = [i for i in range(len(poses)) if inside[i] != (inside[i - 1] if i else False)]
    assert transitions, "the clip must move the red marker through the region"
    assert [e.index for e in trigger.events] == transitions
    assert [e.entered for e in trigger.events] == [inside[i] for i in transitions]
    assert [e.index for e in entered] == [i for i in transitions if inside[i]]
    assert trigger.events[0].time == pytest.approx(poses[transitions[0]].time)
    assert trigger.events[0].bodypart == "red"
    saved = trigger.save(tmp_path / "events.csv").read_text().splitlines()
    assert saved[0] == "time,index,bodypart,x,y,likelihood,event" and len(saved) == 1 + len(trigger.events)


def test_estimator_is_a_pipeline_pose_estimator_with_named_keypoints(marker_model, marker_clip, tmp_path):
    from vistream.annotate import KeypointAnnotator
    from vistream.protocols import PoseEstimator

    estimator = vs.DLCPoseEstimator(marker_model, runtime="onnx", dynamic=(True, 0.5, 40))
    assert isinstance(estimator, PoseEstimator)
    pipeline = vs.Pipeline(detector=estimator, annotators=[KeypointAnnotator(skeleton=[("red", "blue")])],
                           results=tmp_path / "poses.jsonl")
    with vs.Reader(marker_clip) as reader:
        for frame in reader:
            pipeline(frame)
            if frame.index == 20:
                detections = pipeline.last
                truth = marker_positions(frame.time, W, H)
                assert detections.keypoint_names == ["red", "blue"]
                assert np.hypot(*(detections.keypoints[0, 0, :2] - truth["red"])) < 0.75
    pipeline.close()
    assert estimator.frames_cropped == 44
    lines = (tmp_path / "poses.jsonl").read_text().splitlines()
    assert len(lines) == 45 and "keypoint" in lines[20]
