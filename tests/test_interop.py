"""Issue 13: interop with the packages users come from. ``Detections.from_ultralytics`` on real
ultralytics Results (yolov8n / -seg / -pose built from their yaml: random weights, no
download) agrees with supervision's own converter; ``from_supervision``/``to_supervision`` round
trip; mmdetection-style dicts; trackers take raw (N, 5)/(N, 6) arrays."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")  # ultralytics must not try to reach its hub

import supervision as sv  # noqa: E402
import torch  # noqa: E402

from vistream import Classifications, Detections, InstanceMasks  # noqa: E402


@pytest.fixture(scope="module")
def street_frame(test_mp4):
    import vistream as vs

    with vs.Reader(str(test_mp4)) as reader:
        for frame in reader:
            return frame.array.copy()


@pytest.fixture(scope="module")
def ultralytics_results(street_frame, tmp_path_factory):
    from ultralytics import YOLO

    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ultralytics"))  # it may write settings/runs beside the cwd
    try:
        torch.manual_seed(0)
        out = {}
        for task in ("", "-seg", "-pose"):
            model = YOLO(f"yolov8n{task}.yaml")
            # random weights: a low threshold so there is something to convert
            out[task or "-det"] = model.predict(street_frame, conf=1e-4, max_det=12, verbose=False)
        out["-seg-retina"] = YOLO("yolov8n-seg.yaml").predict(street_frame, conf=1e-4, max_det=12, verbose=False,
                                                              retina_masks=True)
        return out
    finally:
        os.chdir(cwd)


def test_from_ultralytics_detect_matches_supervision(ultralytics_results):
    results = ultralytics_results["-det"]
    ours = Detections.from_ultralytics(results)
    theirs = sv.Detections.from_ultralytics(results[0])
    assert len(ours) == len(theirs) > 0
    np.testing.assert_array_equal(ours.xyxy, theirs.xyxy.astype(np.float32))
    np.testing.assert_array_equal(ours.confidence, theirs.confidence.astype(np.float32))
    assert ours.class_id.tolist() == theirs.class_id.tolist()
    assert ours.class_name.tolist() == theirs.data["class_name"].tolist()
    assert ours.class_names == results[0].names and len(ours.class_names) == 80  # a yaml model: names "0".."79"
    assert ours.tracker_id is None and ours.mask is None and ours.keypoints is None


def test_from_ultralytics_takes_track_ids(ultralytics_results):
    from ultralytics.engine.results import Results

    r = ultralytics_results["-det"][0]
    n = len(r.boxes)
    ids = torch.arange(100, 100 + n, dtype=torch.float32)[:, None]
    tracked = Results(r.orig_img, r.path, r.names,
                      boxes=torch.cat([r.boxes.xyxy, ids, r.boxes.conf[:, None], r.boxes.cls[:, None]], dim=1))
    assert tracked.boxes.is_track
    d = Detections.from_ultralytics(tracked)
    assert d.tracker_id.tolist() == list(range(100, 100 + n))
    assert d.tracker_id.tolist() == sv.Detections.from_ultralytics(tracked).tracker_id.tolist()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def test_from_ultralytics_segment_masks_at_source_pixels(ultralytics_results, street_frame):
    results = ultralytics_results["-seg"]
    assert tuple(results[0].masks.data.shape[1:]) != street_frame.shape[:2]  # letterboxed network size
    ours = Detections.from_ultralytics(results)
    theirs = sv.Detections.from_ultralytics(results[0])
    assert ours.mask.shape == theirs.mask.shape == (len(ours),) + street_frame.shape[:2]
    assert isinstance(ours.masks, InstanceMasks)
    # supervision resizes with OpenCV and keeps any nonzero, ultralytics' scale_masks with torch
    # and > 0.5: the same masks up to their borders
    for mine, reference in zip(ours.mask, theirs.mask):
        if reference.sum() > 500:
            assert _iou(mine, reference) > 0.9
    # with retina_masks ultralytics makes the source-size masks itself: taken as they are
    retina = ultralytics_results["-seg-retina"]
    exact = Detections.from_ultralytics(retina)
    assert np.array_equal(exact.mask, retina[0].masks.data.cpu().numpy() > 0.5)


def test_from_ultralytics_pose_keypoints(ultralytics_results):
    results = ultralytics_results["-pose"]
    names = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
             "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
             "right_knee", "left_ankle", "right_ankle"]
    d = Detections.from_ultralytics(results, keypoint_names=names)
    assert d.keypoints.shape == (len(d), 17, 3) and d.keypoint_names == names
    np.testing.assert_array_equal(d.keypoints, results[0].keypoints.data.cpu().numpy())
    # supervision's own keypoint converter gives the same points and scores
    points = sv.KeyPoints.from_ultralytics(results[0])
    np.testing.assert_array_equal(d.keypoint_xy, points.xy.astype(np.float32))
    np.testing.assert_array_equal(d.keypoint_scores, points.keypoint_confidence.astype(np.float32))
    via_sv = Detections.from_supervision(points)
    np.testing.assert_array_equal(via_sv.keypoints, d.keypoints)


def test_from_ultralytics_refuses_what_detections_cannot_hold(ultralytics_results):
    with pytest.raises(ValueError, match="Results of one image, got 2"):
        Detections.from_ultralytics(ultralytics_results["-det"] * 2)
    r = ultralytics_results["-det"][0]
    from ultralytics.engine.results import Results

    probs = Results(r.orig_img, r.path, r.names, probs=torch.softmax(torch.arange(80.0), 0))
    with pytest.raises(ValueError, match="classification results: use vistream.Classifications.from_ultralytics"):
        Detections.from_ultralytics(probs)
    c = Classifications.from_ultralytics(probs)
    assert c.class_id[0].tolist() == [79, 78, 77, 76, 75] and c.top1_name[0] == r.names[79]
    obb = Results(r.orig_img, r.path, r.names, obb=torch.tensor([[100.0, 100.0, 40.0, 20.0, 0.3, 0.9, 1.0]]))
    with pytest.raises(ValueError, match="oriented boxes"):
        Detections.from_ultralytics(obb)


def test_supervision_round_trip_keeps_masks_ids_and_names():
    masks = np.zeros((2, 48, 64), bool)
    masks[0, 5:20, 10:30] = True
    masks[1, 30:48, 0:64] = True
    theirs = sv.Detections(xyxy=np.array([[10, 5, 30, 20], [0, 30, 64, 48]], np.float32), mask=masks,
                           confidence=np.array([0.9, 0.4], np.float32), class_id=np.array([2, 0]),
                           tracker_id=np.array([7, 8]),
                           data={"class_name": np.array(["car", "person"]), "zone": np.array([1, 3])})
    ours = Detections.from_supervision(theirs)
    assert ours.class_names == {2: "car", 0: "person"} and ours.class_name.tolist() == ["car", "person"]
    assert ours.tracker_id.tolist() == [7, 8] and ours.data["zone"].tolist() == [1, 3]
    assert np.array_equal(ours.mask, masks) and isinstance(ours.masks, InstanceMasks)
    back = ours.to_supervision()
    assert isinstance(back, sv.Detections) and back == theirs  # supervision's own equality
    # supervision's annotators and filters work on what we give them
    assert len(back[back.class_id == 2]) == 1
    assert sv.MaskAnnotator().annotate(np.zeros((48, 64, 3), np.uint8), back).any()
    plain = Detections(xyxy=[[1, 2, 3, 4]])
    assert plain.to_supervision().data == {} and plain.to_supervision().mask is None
    assert Detections.from_supervision(sv.Detections.empty()) == Detections.empty()


def test_from_mmdet_dicts_tensors_and_rle():
    from pycocotools import mask as coco

    masks = np.zeros((3, 20, 30), bool)
    masks[0, 2:8, 3:9] = True
    masks[1, 10:20, 0:30] = True
    result = {"bboxes": torch.tensor([[3, 2, 9, 8], [0, 10, 30, 20], [1, 1, 2, 2]], dtype=torch.float32),
              "scores": torch.tensor([0.9, 0.6, 0.05]), "labels": torch.tensor([1, 4, 1]),
              "masks": torch.from_numpy(masks)}
    d = Detections.from_mmdet(result, class_names={1: "bicycle", 4: "airplane"}, score_threshold=0.1)
    assert d.xyxy.tolist() == [[3, 2, 9, 8], [0, 10, 30, 20]]
    assert d.class_id.tolist() == [1, 4] and d.class_name.tolist() == ["bicycle", "airplane"]
    assert np.array_equal(d.mask, masks[:2])
    rles = coco.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    from_rle = Detections.from_mmdet({"bboxes": result["bboxes"].numpy(), "scores": result["scores"].numpy(),
                                      "labels": result["labels"].numpy(), "masks": rles})
    assert np.array_equal(from_rle.mask, masks)

    class PredInstances:  # the attribute form of mmdet 3's DetDataSample.pred_instances
        bboxes, scores, labels = result["bboxes"], result["scores"], result["labels"]

        def keys(self):
            return ["bboxes", "scores", "labels"]

    class DataSample:
        pred_instances = PredInstances()

    assert Detections.from_mmdet(DataSample()).confidence.tolist() == pytest.approx([0.9, 0.6, 0.05])
    with pytest.raises(ValueError, match="no 'bboxes'"):
        Detections.from_mmdet({"boxes": [[0, 0, 1, 1]]})


def test_trackers_take_n5_and_n6_arrays():
    from vistream.track import BoTSORT, ByteTrack, IoUTracker

    frames = [np.array([[10 + 3 * t, 20, 60 + 3 * t, 120, 0.9, 2], [200, 50, 260, 170, 0.8, 0]], np.float32)
              for t in range(5)]
    for make in (ByteTrack, BoTSORT, IoUTracker):
        by_array, by_detections = make(), make()
        for boxes in frames:
            a = by_array.update(boxes)
            b = by_detections.update(Detections(xyxy=boxes[:, :4], confidence=boxes[:, 4], class_id=boxes[:, 5]))
            assert a == b
        assert a.tracker_id is not None and len(a) == 2 and sorted(a.class_id.tolist()) == [0, 2]
        assert len(make().update(torch.from_numpy(frames[0][:, :5]))) >= 0  # torch (N, 5) too
    with pytest.raises(ValueError, match=r"ByteTrack.update: expected an \(N, 5\) .* got shape \(2, 4\)"):
        ByteTrack().update(frames[0][:, :4])
    with pytest.raises(ValueError, match="class_id.*whole numbers"):
        IoUTracker().update(np.array([[0, 0, 1, 1, 0.5, 0.5]]))
    with pytest.raises(TypeError, match="expected vistream.Detections or an"):
        BoTSORT().update("boxes.txt")
