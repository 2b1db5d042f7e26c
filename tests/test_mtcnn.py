"""MTCNNFaceDetector on real faces, with no mocks and nothing downloaded.

The face image is Grace Hopper's portrait that matplotlib ships as sample data
(``grace_hopper.jpg``, 512x600). Where the face and the eyes are is not taken from MTCNN itself
but from OpenCV's own Haar cascades (shipped inside opencv-python-headless): an independent
detector. The shared street clip is used to run on real decoded 720p frames; its faces are only
5-10 px tall, below MTCNN's 12 px network input, so a face is pasted into a frame there.

facenet-pytorch is a test dependency (installed with ``pip install --no-deps facenet-pytorch``):
a missing one must fail here, not skip.
"""
from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from vistream.errors import MissingDependencyError
from matplotlib import cbook

import facenet_pytorch  # noqa: F401  (a test dependency: fail loudly, never skip, when absent)

from conftest import run_py_json


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def inside(point, box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    assert image is not None and image.shape == (600, 512, 3), path
    return image


@pytest.fixture(scope="module")
def haar_truth(portrait):
    """Face box and the two eye boxes (left, right as seen) from OpenCV's Haar cascades."""
    gray = cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY)
    faces = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml") \
        .detectMultiScale(gray, 1.1, 5)
    assert len(faces) == 1, f"Haar reference should find exactly one face, got {faces}"
    x, y, w, h = (int(v) for v in faces[0])
    # She wears glasses: the eyeglasses cascade, searched inside the face only.
    eyes = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye_tree_eyeglasses.xml") \
        .detectMultiScale(gray[y:y + h, x:x + w], 1.05, 5)
    assert len(eyes) == 2, f"Haar reference should find both eyes, got {eyes}"
    eyes = sorted([(ex + x, ey + y, ex + x + ew, ey + y + eh) for ex, ey, ew, eh in eyes])
    return np.array([x, y, x + w, y + h], np.float32), np.array(eyes, np.float32)


@pytest.fixture(scope="module")
def detector():
    from vistream.detect import MTCNNFaceDetector
    return MTCNNFaceDetector(keypoints=True)


@pytest.fixture(scope="module")
def portrait_faces(detector, portrait):
    return detector(portrait)


# ----------------------------------------------------------------------------- finding the face

def test_finds_the_face_where_opencv_haar_finds_it(portrait_faces, haar_truth):
    faces = portrait_faces
    haar_face, _ = haar_truth
    assert len(faces) == 1, faces
    assert faces.class_id.tolist() == [0]
    assert faces.data["class_name"].tolist() == ["face"]
    assert faces.confidence[0] > 0.99  # a sharp frontal portrait
    box = faces.xyxy[0]
    # Two detectors with different box conventions (MTCNN's square, chin to brow; Haar's wider).
    assert iou(box, haar_face) > 0.6, (box, haar_face)
    width, height = box[2] - box[0], box[3] - box[1]
    assert 150 < width < 230 and 150 < height < 250, box  # the face is ~200 px in a 512x600 image


def test_landmarks_sit_on_the_eyes_nose_and_mouth(portrait_faces, haar_truth):
    faces = portrait_faces
    _, (left_eye_box, right_eye_box) = haar_truth
    assert faces.keypoints.shape == (1, 5, 3) and faces.keypoints.dtype == np.float32
    points = faces.keypoints[0]
    left_eye, right_eye, nose, mouth_left, mouth_right = points[:, :2]
    # Eyes inside the boxes OpenCV's eye cascade finds, independently of MTCNN.
    assert inside(left_eye, left_eye_box), (left_eye, left_eye_box)
    assert inside(right_eye, right_eye_box), (right_eye, right_eye_box)
    # Face geometry of an upright face, and every point inside the face box.
    assert left_eye[0] < nose[0] < right_eye[0]
    assert mouth_left[0] < nose[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    for point in points[:, :2]:
        assert inside(point, faces.xyxy[0]), (point, faces.xyxy[0])
    # Third column: the face's confidence (MTCNN has no per-landmark score), > 0 so annotators draw it.
    np.testing.assert_array_equal(points[:, 2], np.full(5, faces.confidence[0], np.float32))


def test_keypoints_are_off_unless_asked(portrait):
    from vistream.detect import MTCNNFaceDetector
    faces = MTCNNFaceDetector(min_face_size=80)(portrait)  # larger minimum: fewer pyramid levels, faster
    assert len(faces) == 1 and faces.keypoints is None


def test_two_faces_most_confident_first(detector, portrait):
    pair = np.hstack([portrait, portrait[:, ::-1]])  # the portrait and its mirror side by side
    faces = detector(pair)
    assert len(faces) == 2, faces
    assert np.all(np.diff(faces.confidence) <= 0), "sorted by confidence, highest first"
    centres = sorted(faces.center[:, 0])
    assert centres[0] < 512 < centres[1], faces.xyxy  # one face in each half
    # The mirrored face's landmarks are mirrored too: its "left eye" is still the left one in the image.
    for points in faces.keypoints:
        assert points[0, 0] < points[1, 0] and points[3, 0] < points[4, 0]


def test_conf_threshold_drops_weaker_faces(portrait, portrait_faces):
    from vistream.detect import MTCNNFaceDetector
    score = float(portrait_faces.confidence[0])
    kept = MTCNNFaceDetector(min_face_size=80, conf=score - 1e-4)(portrait)
    dropped = MTCNNFaceDetector(min_face_size=80, conf=min(1.0, score + 1e-4))(portrait)
    assert len(kept) == 1 and len(dropped) == 0


# ----------------------------------------------------------------------------- coordinates

def test_boxes_scale_with_the_image(detector, portrait, portrait_faces):
    factor = 1.5
    big = cv2.resize(portrait, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    faces = detector(big)
    assert len(faces) == 1, faces
    # Boxes are in the pixels of the image given: 1.5x larger, the same face once scaled back.
    box = faces.xyxy[0] / factor
    assert iou(box, portrait_faces.xyxy[0]) > 0.8, (box, portrait_faces.xyxy[0])  # 0.89 measured
    face_width = portrait_faces.xyxy[0, 2] - portrait_faces.xyxy[0, 0]
    shift = np.abs(faces.keypoints[0, :, :2] / factor - portrait_faces.keypoints[0, :, :2])
    assert shift.max() < 0.05 * face_width, shift


def test_strided_views_give_the_same_result_as_a_contiguous_copy(detector, portrait, portrait_faces):
    # A frame inside a larger BGRA buffer, cropped: rows padded and a pixel stride of 4 bytes.
    buffer = np.full((700, 700, 4), 90, np.uint8)
    buffer[40:640, 100:612, :3] = portrait
    view = buffer[20:680, 60:660, :3]
    assert not view.flags.c_contiguous and view.strides[1] == 4
    reversed_rows = np.ascontiguousarray(portrait[::-1])[::-1]  # negative row stride
    for strided in (view, reversed_rows):
        faces, reference = detector(strided), detector(np.ascontiguousarray(strided))
        assert len(faces) == 1
        np.testing.assert_array_equal(faces.xyxy, reference.xyxy)
        np.testing.assert_array_equal(faces.confidence, reference.confidence)
        np.testing.assert_array_equal(faces.keypoints, reference.keypoints)
    # Coordinates are those of the view: the portrait starts at (40, 20) in it. (Not to the pixel:
    # MTCNN's pyramid samples a shifted image on a different grid.)
    box = detector(view).xyxy[0] - np.array([40, 20, 40, 20], np.float32)
    assert iou(box, portrait_faces.xyxy[0]) > 0.85, (box, portrait_faces.xyxy[0])


def test_a_decoded_720p_frame_with_a_face(vs, test_mp4, detector, portrait):
    # The clip's own faces are far too small for MTCNN: paste the portrait, half size, into a frame.
    small = cv2.resize(portrait, (256, 300), interpolation=cv2.INTER_AREA)
    with vs.Reader(test_mp4) as reader:
        frame = reader.frame_at(60).array.copy()
    assert frame.shape == (720, 1280, 3)
    frame[380:680, 900:1156] = small
    faces = detector(frame[:, 100:])  # a strided crop of the frame: x offset 100
    assert len(faces) >= 1
    assert np.all(faces.confidence >= detector.conf)
    assert np.all(faces.xyxy[:, [0, 2]] >= 0) and np.all(faces.xyxy[:, [0, 2]] <= 1180)
    assert np.all(faces.xyxy[:, [1, 3]] >= 0) and np.all(faces.xyxy[:, [1, 3]] <= 720)
    expected = np.array([800 + 87, 380 + 60, 800 + 178, 380 + 170], np.float32)  # the half-size face
    best = max(range(len(faces)), key=lambda i: iou(faces.xyxy[i], expected))
    assert iou(faces.xyxy[best], expected) > 0.6, (faces.xyxy, expected)
    assert faces.confidence[best] > 0.99


# ----------------------------------------------------------------------------- no faces / bad input

@pytest.mark.parametrize("image", [np.full((240, 320, 3), 128, np.uint8),  # flat grey
                                   np.zeros((12, 12, 3), np.uint8)],       # smaller than min_face_size
                         ids=["grey", "tiny"])
def test_no_face_gives_empty_detections_with_the_right_types(detector, image):
    from vistream.detect import MTCNNFaceDetector
    for faces in (detector(image), MTCNNFaceDetector(keypoints=False)(image)):
        assert len(faces) == 0
        assert faces.xyxy.shape == (0, 4) and faces.xyxy.dtype == np.float32
        assert faces.confidence.shape == (0,) and faces.confidence.dtype == np.float32
        assert faces.class_id.shape == (0,) and faces.class_id.dtype == np.int64
        assert faces.data["class_name"].shape == (0,)
    assert detector(image).keypoints.shape == (0, 5, 3)
    assert detector(image).keypoints.dtype == np.float32


@pytest.mark.parametrize("image, message", [
    (np.zeros((64, 64, 3), np.float32), "uint8"),
    (np.zeros((64, 64), np.uint8), r"\(H, W, 3\)"),
    (np.zeros((64, 64, 4), np.uint8), r"\(H, W, 3\)"),
    (np.zeros((0, 64, 3), np.uint8), "empty"),
    ([[[0, 0, 0]]], "numpy array"),
], ids=["float32", "gray", "bgra", "empty", "list"])
def test_bad_input_raises_a_clear_value_error(detector, image, message):
    with pytest.raises(ValueError, match=message):
        detector(image)


@pytest.mark.parametrize("kwargs", [dict(thresholds=(0.6, 0.7)), dict(thresholds=(0.6, 0.7, 1.5)),
                                    dict(conf=-0.1), dict(min_face_size=0), dict(scale_factor=1.0)])
def test_bad_settings_raise_value_error(kwargs):
    from vistream.detect import MTCNNFaceDetector
    with pytest.raises(ValueError):
        MTCNNFaceDetector(**kwargs)


def test_cuda_runs_when_present_and_is_refused_clearly_when_not(portrait, portrait_faces):
    import torch
    from vistream.detect import MTCNNFaceDetector
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            MTCNNFaceDetector(device="cuda")
        return
    faces = MTCNNFaceDetector(device="cuda", keypoints=True)(portrait)
    assert len(faces) == 1
    assert iou(faces.xyxy[0], portrait_faces.xyxy[0]) > 0.95


# ----------------------------------------------------------------------------- packaging

def test_import_vistream_detect_does_not_need_facenet():
    result = run_py_json("""
        import json, sys
        import vistream.detect as detect
        loaded_early = "facenet_pytorch" in sys.modules
        cls = detect.MTCNNFaceDetector
        print(json.dumps({"early": loaded_early, "name": cls.__name__,
                          "in_all": "MTCNNFaceDetector" in detect.__all__}))
    """)
    assert result == {"early": False, "name": "MTCNNFaceDetector", "in_all": True}


def test_missing_facenet_explains_the_install(monkeypatch):
    from vistream.detect import MTCNNFaceDetector
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # what Python does for a blocked import
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps facenet-pytorch") as info:
        MTCNNFaceDetector()
    assert "--no-deps because" in str(info.value)


def test_cli_detector_mtcnn_writes_faces_and_landmarks(test_mp4, tmp_path):
    """`play.py --detector mtcnn` end to end: one results line per frame, keypoints drawn."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    play = Path(__file__).resolve().parents[1] / "python" / "play.py"
    results = tmp_path / "faces.jsonl"
    result = subprocess.run([sys.executable, str(play), str(test_mp4), "--headless", "--end", "0.5",
                             "--detector", "mtcnn", "--annotate", "box,keypoints", "--results", str(results),
                             "--output", str(tmp_path / "faces.mp4")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(15))
    assert (tmp_path / "faces.mp4").stat().st_size > 0
