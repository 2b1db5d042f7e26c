"""UltralyticsPredictor: ultralytics models (built from their yaml with random weights: no download)
behind vistream's result types, for the four tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vistream as vs


@pytest.fixture(scope="module")
def frame(test_mp4):
    with vs.Reader(str(test_mp4)) as reader:
        return reader.frames_at([5])[0]


def _model(config: str):
    from ultralytics import YOLO

    torch.manual_seed(0)
    return YOLO(config)


def test_segment_model_gives_detections_with_source_pixel_masks(frame):
    model = _model("yolov8n-seg.yaml")
    # random weights score ~1e-5 everywhere: a tiny conf keeps one box per class after NMS (max_det: 4 of them)
    predictor = vs.UltralyticsPredictor(model, conf=1e-9, imgsz=320, max_det=4)
    assert predictor.task == "segment"
    detections = predictor(frame)  # a vistream Frame is accepted as well as an array
    reference = model.predict(frame.array, conf=1e-9, imgsz=320, max_det=4, retina_masks=True, verbose=False)[0]
    assert len(detections) == len(reference.boxes) > 0
    np.testing.assert_allclose(detections.xyxy, reference.boxes.xyxy.numpy(), atol=1e-4)
    assert detections.mask.shape == (len(detections), 720, 1280)
    np.testing.assert_array_equal(detections.mask, reference.masks.data.numpy().astype(bool))
    assert detections.class_names == model.names


def test_pose_and_classify_models(frame):
    pose = vs.UltralyticsPredictor(_model("yolov8n-pose.yaml"), conf=1e-9, imgsz=320, max_det=4)
    detections = pose(frame.array)
    assert pose.task == "pose" and len(detections) > 0
    assert detections.keypoints.shape == (len(detections), 17, 3)
    # keypoints are in source pixels: they spread over the 1280x720 frame, not a 320 square
    assert detections.keypoints[..., 0].max() > 320

    classify = vs.UltralyticsPredictor("yolov8n-cls.yaml", imgsz=64, top_k=3)  # a config name, built by ultralytics
    result = classify(frame.array)
    assert classify.task == "classify"
    assert isinstance(result, vs.Classifications) and len(result) == 1 and result.class_id.shape == (1, 3)
    assert np.all(np.diff(result.confidence[0]) <= 0)  # best first


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        vs.UltralyticsPredictor(str(tmp_path / "missing.pt"))
    with pytest.raises(TypeError, match="YOLO object"):
        vs.UltralyticsPredictor(42)


def test_batch_runs_same_size_frames_together_and_equals_one_by_one(test_mp4):
    with vs.Reader(str(test_mp4)) as reader:
        frames = [frame.array for frame in reader.frames_at([5, 60, 120])]
    small = np.ascontiguousarray(frames[1][::2, ::2])  # another size in the same batch
    model = _model("yolov8n.yaml")
    predictor = vs.UltralyticsPredictor(model, conf=1e-9, imgsz=320, max_det=4)
    calls = []
    predict = model.predict

    def counting_predict(source, **options):
        calls.append(len(source) if isinstance(source, list) else 1)
        return predict(source, **options)

    model.predict = counting_predict
    batch = predictor.batch([frames[0], small, frames[1], frames[2]])
    assert sorted(calls) == [1, 3], "the three 1280x720 frames in one forward pass, the small one alone"
    calls.clear()
    single = [predictor(image) for image in (frames[0], small, frames[1], frames[2])]
    assert len(batch) == len(single) == 4
    for together, alone in zip(batch, single):
        assert len(together) == len(alone) > 0
        np.testing.assert_allclose(together.xyxy, alone.xyxy, atol=1e-3)
        np.testing.assert_array_equal(together.class_id, alone.class_id)
