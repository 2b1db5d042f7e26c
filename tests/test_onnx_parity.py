"""Generic ONNX/torch predictors against the reference implementations, with identical random weights.

How the models are made (no download anywhere): ultralytics builds YOLOv8n / YOLOv8n-seg from its
own yaml with seeded random weights. Random weights give a dead network (the activations shrink
layer after layer, every score is the head's bias prior ~1e-4, every box the same), so before
exporting, the batch-norm statistics are re-estimated on four letterboxed frames of the test clip
(train-mode forward passes, cumulative averages) and the class-score biases are raised by 7: the
network then gives 60-90 distinct detections per frame at conf 0.25. ultralytics' own exporter
writes the ONNX file (opset 17, fixed 320x320 input); ultralytics' predictor is the reference,
with ``rect=False`` so it letterboxes to the same 320x320 as the fixed-size ONNX graph.

The classifier is timm's resnet18 (random seeded weights, 1000 classes), exported with
``torch.onnx.export``; the reference is the torch module on torchvision's resize/crop/normalise.

Tolerances: boxes are compared in normalised frame coordinates (ultralytics' ``xyxyn``) within
1e-5 (measured <= 5e-6: 5e-3 px on the 1280-wide frame, float32 rounding of a different
convolution order, amplified by the stride-32 box decoding), confidences within 1e-4, classes
equal after matching; masks IoU > 0.99 (measured >= 0.9998); classifier top-5 equal, probabilities
within 1e-4.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import pytest
import torch

import vistream as vs
from vistream.predict import (Letterbox, OnnxClassifier, OnnxDetector, OnnxSegmenter, TorchClassifier,
                              TorchDetector)

IMGSZ = 320
CONF, IOU = 0.25, 0.7
FRAME_INDICES = (1, 4, 7)


@pytest.fixture(scope="module")
def frames(test_mp4):
    with vs.Reader(str(test_mp4)) as reader:
        return [frame.array.copy() for frame in reader.frames_at(list(range(8)))]


def _lively_random_yolo(config: str, frames, folder):
    """ultralytics' YOLO from a yaml with seeded random weights made to give real detections (see the doc)."""
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO(config)
    network = model.model
    batch = torch.from_numpy(np.concatenate([Letterbox(IMGSZ)(f)[0] for f in frames[::2]]))
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batch
    network.train()
    with torch.no_grad():
        network(batch)
    network.eval()
    for branch in network.model[-1].cv3:
        branch[-1].bias.data += 7.0
    with contextlib.chdir(folder):  # the exporter writes beside the yaml name, i.e. the working directory
        onnx_path = model.export(format="onnx", imgsz=IMGSZ, opset=17, simplify=False, verbose=False)
    return model, os.path.join(folder, onnx_path) if not os.path.isabs(onnx_path) else onnx_path


def _match(ours: vs.Detections, reference) -> np.ndarray:
    """Index into the reference boxes for each of ours (Hungarian on box distance, class and score)."""
    from scipy.optimize import linear_sum_assignment

    ref_xyxy, ref_cls, ref_conf = (reference.boxes.xyxy.numpy(), reference.boxes.cls.numpy(),
                                   reference.boxes.conf.numpy())
    cost = (np.abs(ours.xyxy[:, None] - ref_xyxy[None]).max(-1) + 1000 * (ours.class_id[:, None] != ref_cls[None])
            + 1000 * np.abs(ours.confidence[:, None] - ref_conf[None]))
    rows, cols = linear_sum_assignment(cost)
    assert (rows == np.arange(len(ours))).all()
    return cols


def _assert_same_detections(ours: vs.Detections, reference, frame_hw):
    assert len(ours) == len(reference.boxes) > 10, (len(ours), len(reference.boxes))
    j = _match(ours, reference)
    h, w = frame_hw
    scale = np.array([w, h, w, h], np.float32)
    np.testing.assert_allclose(ours.xyxy / scale, reference.boxes.xyxy.numpy()[j] / scale, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(ours.class_id, reference.boxes.cls.numpy()[j].astype(np.int64))
    np.testing.assert_allclose(ours.confidence, reference.boxes.conf.numpy()[j], rtol=0, atol=1e-4)
    return j


@pytest.fixture(scope="module")
def yolov8(frames, tmp_path_factory):
    return _lively_random_yolo("yolov8n.yaml", frames, tmp_path_factory.mktemp("yolov8"))


@pytest.fixture(scope="module")
def yolov8_seg(frames, tmp_path_factory):
    return _lively_random_yolo("yolov8n-seg.yaml", frames, tmp_path_factory.mktemp("yolov8seg"))


def test_yolov8_onnx_and_torch_detectors_match_ultralytics(yolov8, frames):
    model, onnx_path = yolov8
    detector = OnnxDetector(onnx_path, conf=CONF, iou=IOU)
    assert detector.layout == "yolov8" and detector.input_hw == (IMGSZ, IMGSZ)  # found from the output shape
    assert detector.class_names == model.names and len(model.names) == 80  # from ultralytics' names metadata
    references = [model.predict(frames[i], imgsz=IMGSZ, conf=CONF, iou=IOU, rect=False, verbose=False)[0]
                  for i in FRAME_INDICES]
    torch_detector = TorchDetector(model.model, imgsz=IMGSZ, conf=CONF, iou=IOU)  # the fused torch network
    assert torch_detector.layout == "yolov8"
    for index, reference in zip(FRAME_INDICES, references):
        ours = detector(frames[index])
        j = _assert_same_detections(ours, reference, frames[index].shape[:2])
        assert list(ours.class_name) == [reference.names[int(c)] for c in reference.boxes.cls.numpy()[j]]
        _assert_same_detections(torch_detector(frames[index]), reference, frames[index].shape[:2])


def test_yolov8_seg_masks_match_ultralytics(yolov8_seg, frames):
    model, onnx_path = yolov8_seg
    segmenter = OnnxSegmenter(onnx_path, conf=CONF, iou=IOU)
    for index in FRAME_INDICES[:2]:
        reference = model.predict(frames[index], imgsz=IMGSZ, conf=CONF, iou=IOU, rect=False, retina_masks=True,
                                  verbose=False)[0]
        ours = segmenter(frames[index])
        j = _assert_same_detections(ours, reference, frames[index].shape[:2])
        assert ours.mask.shape == (len(ours), 720, 1280)  # source pixels
        reference_masks = reference.masks.data.numpy().astype(bool)[j]
        ious = [(a & b).sum() / max((a | b).sum(), 1) for a, b in zip(ours.mask, reference_masks)]
        assert min(ious) > 0.99, sorted(ious)[:5]


def test_timm_classifier_onnx_matches_torch(frames, tmp_path):
    import timm
    import torchvision.transforms.v2.functional as F

    torch.manual_seed(0)
    network = timm.create_model("resnet18", pretrained=False, num_classes=1000).eval()
    onnx_path = tmp_path / "resnet18.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(network, (torch.zeros(1, 3, 224, 224),), str(onnx_path), input_names=["images"],
                          output_names=["logits"], opset_version=17, dynamo=False)
    classifier = OnnxClassifier(onnx_path, top_k=5)
    torch_classifier = TorchClassifier(network, top_k=5)
    for index in FRAME_INDICES:
        # the reference preprocessing: torchvision's resize (short side 256) + centre crop 224 + ImageNet mean/std
        rgb = torch.from_numpy(frames[index][:, :, ::-1].copy()).permute(2, 0, 1).float() / 255
        x = F.center_crop(F.resize(rgb, [256], antialias=False), [224, 224])
        x = F.normalize(x, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
        with torch.no_grad():
            probabilities = torch.softmax(network(x[None]), -1)[0].numpy()
        top5 = np.argsort(-probabilities, kind="stable")[:5]
        for predictor in (classifier, torch_classifier):
            result = predictor(frames[index])
            assert isinstance(result, vs.Classifications) and len(result) == 1
            np.testing.assert_array_equal(result.class_id[0], top5)
            np.testing.assert_allclose(result.confidence[0], probabilities[top5], rtol=0, atol=1e-4)
        np.testing.assert_allclose(classifier.probabilities(frames[index]), probabilities, rtol=0, atol=1e-4)


def test_segmenter_runs_in_a_player_pipeline_and_results_keep_its_masks(yolov8_seg, test_mp4, tmp_path):
    """The ONNX segmenter is a Pipeline detector: a real headless run writes its masks (RLE) to the
    results file and they read back equal to the segmenter's own output on the same frame."""
    from vistream.results import read_results

    _, onnx_path = yolov8_seg
    segmenter = OnnxSegmenter(onnx_path, conf=CONF, iou=IOU)
    results = tmp_path / "seg.jsonl"
    pipeline = vs.Pipeline(detector=segmenter, results=str(results))
    player = vs.Player(str(test_mp4), display=False, end=0.1)  # the first 3 frames
    player.on_frame(pipeline)
    player.run()
    pipeline.close()
    records = list(read_results(results))
    assert len(records) >= 3
    with vs.Reader(str(test_mp4)) as reader:
        first = reader.frames_at([records[0][0]])[0].array
    expected = segmenter(first)
    written = records[0][2]
    assert len(written) == len(expected) > 0
    np.testing.assert_array_equal(written.mask, expected.mask)
    np.testing.assert_allclose(written.xyxy, expected.xyxy, atol=0.01)


def test_yolox_export_through_onnx_detector_matches_vistream_yolox(frames, tmp_path):
    """vistream's own YOLOX exported to ONNX: OnnxDetector recognises it (metadata), letterboxes
    like YOLOX and finds the same boxes as the YOLOX detector running that file."""
    from vistream.detect.yolox import YOLOX, export_onnx

    torch.manual_seed(0)
    reference = YOLOX("yolox_nano", input_size=(416, 416), conf=1e-4, nms=0.45)  # random weights, scores ~1e-4
    path = export_onnx(reference, tmp_path / "nano.onnx")
    onnx_yolox = YOLOX("yolox_nano", onnx_file=str(path), conf=1e-4, nms=0.45)
    detector = OnnxDetector(path, conf=1e-4, iou=0.45, max_det=10_000)  # YOLOX caps nothing
    assert detector.layout == "yolox" and detector.input_hw == (416, 416)
    expected, ours = onnx_yolox(frames[2]), detector(frames[2])
    assert len(ours) == len(expected) > 0
    def order(d):  # by box (rounded: the two runs differ in the last bits), then class
        return np.lexsort(np.vstack([d.class_id, np.round(d.xyxy, 1).T[::-1]]))

    order_ours, order_expected = order(ours), order(expected)
    np.testing.assert_allclose(ours.xyxy[order_ours], expected.xyxy[order_expected], atol=1e-3)
    np.testing.assert_array_equal(ours.class_id[order_ours], expected.class_id[order_expected])
