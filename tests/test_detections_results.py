"""Issue 13: one result type family. Detections carry compact instance masks (COCO RLE out,
crops inside), keypoints with names and scores, class names and per-box Classifications;
to_json/from_json are exact inverses and a results JSONL reads back to the same Detections."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vistream import Classifications, Detections, InstanceMasks
from vistream.results import ResultsWriter, read_results


def _disc(height, width, cy, cx, r):
    yy, xx = np.ogrid[:height, :width]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


# -- compact masks ---------------------------------------------------------------------------
def test_dense_masks_are_stored_as_crops_and_read_back_exactly(vs):
    masks = np.zeros((3, 90, 120), bool)
    masks[0] = _disc(90, 120, 30, 40, 12)
    masks[1, 0:90, 100:120] = True        # full height: runs join across columns in RLE
    d = Detections(xyxy=[[28, 18, 52, 42], [100, 0, 120, 90], [0, 0, 1, 1]], mask=masks)
    assert isinstance(d.masks, InstanceMasks) and d.masks.shape == (3, 90, 120)
    assert d.masks.nbytes == 25 * 25 + 90 * 20 + 3 * 2 * 8  # two crops + origins, not 3 x 90 x 120
    assert d.mask.shape == (3, 90, 120) and np.array_equal(d.mask, masks)
    assert not d.mask.flags.writeable  # the compact masks are the truth: no silent edits
    y0, x0, crop = d.masks.crop(0)
    assert (y0, x0, crop.shape) == (18, 28, (25, 25))
    assert d.masks.crop(2)[2].shape == (0, 0)  # an empty mask
    # indexing and filtering keep the masks of the kept detections
    assert np.array_equal(d[1].mask, masks[1:2])
    assert np.array_equal(d[np.array([True, False, True])].mask, masks[[0, 2]])
    assert np.array_equal(d[::-1].mask, masks[::-1])
    d.mask = masks[:, ::-1]
    assert np.array_equal(d.mask, masks[:, ::-1])
    with pytest.raises(ValueError, match=r"mask must have shape \(N, H, W\) with N=3"):
        d.mask = masks[:2]


def test_mask_rle_is_pycocotools_compatible_both_ways(vs):
    from pycocotools import mask as coco

    rng = np.random.default_rng(7)
    masks = np.zeros((4, 61, 47), bool)
    masks[0] = _disc(61, 47, 20, 20, 9)
    masks[1] = rng.random((61, 47)) > 0.6      # many runs
    masks[2, :, 10:12] = True                  # columns spanning the full height
    d = Detections(xyxy=np.zeros((4, 4)), mask=masks)
    ours = d.mask_rle
    theirs = coco.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    assert [r["counts"] for r in ours] == [t["counts"].decode() for t in theirs]
    assert all(r["size"] == [61, 47] for r in ours)
    # and their RLE (bytes counts) reads back into the same masks
    back = Detections(xyxy=np.zeros((4, 4)), mask=theirs)
    assert np.array_equal(back.mask, masks)
    # uncompressed counts (list of ints) are accepted too
    raw = [{"size": [3, 2], "counts": [1, 2, 3]}]
    assert InstanceMasks.from_rle(raw).to_dense()[0].T.reshape(-1).tolist() == [0, 1, 1, 0, 0, 0]


def test_100_instance_masks_of_a_4k_frame_fit_in_little_memory(vs):
    """100 person-sized masks (about 200 x 450 px) of 3840 x 2160: 830 MB as (N, H, W) bool,
    under 15 MB as crops, and drawing them never makes the full-size stack."""
    from vistream.annotate import MaskAnnotator

    rng = np.random.default_rng(1)
    height, width = 2160, 3840
    tracemalloc.start()
    try:
        crops, origins, boxes = [], [], []
        for _ in range(100):
            h, w = int(rng.integers(380, 520)), int(rng.integers(150, 250))
            y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
            crop = _disc(h, w, h / 2, w / 2, min(h, w) / 2) | (rng.random((h, w)) > 0.7)
            crops.append(crop)
            origins.append((y, x))
            boxes.append((x, y, x + w, y + h))
        d = Detections(xyxy=boxes, mask=InstanceMasks.from_crops(crops, origins, (height, width)))
        del crops
        held, _ = tracemalloc.get_traced_memory()
        image = np.zeros((height, width, 3), np.uint8)
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        MaskAnnotator(opacity=0.5).annotate(image, d)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert d.masks.nbytes < 15e6, d.masks.nbytes
    assert held < 50e6, held
    # drawing works per crop: far below one full-size mask stack (830 MB), even below one 4K frame's masks x 3
    assert peak - before < 40e6, peak - before
    assert image.any()
    y0, x0, crop = d.masks.crop(0)
    assert image[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]][crop].any(axis=1).all()


def test_mask_annotator_draws_compact_masks_like_dense_ones(vs):
    from vistream.annotate import MaskAnnotator

    masks = np.zeros((2, 40, 60), bool)
    masks[0] = _disc(40, 60, 15, 20, 8)
    masks[1, 10:30, 25:55] = True  # overlaps the first
    base = (np.arange(40 * 60 * 3) % 251).astype(np.uint8).reshape(40, 60, 3)
    d = Detections(xyxy=[[12, 7, 28, 23], [25, 10, 55, 30]], class_id=[0, 1], mask=masks)
    drawn = MaskAnnotator(opacity=0.4).annotate(base.copy(), d)
    expected = base.astype(np.float64)
    from vistream.annotate import color_for

    for i in range(2):
        color = np.array(color_for(d, i), np.float64)
        expected[masks[i]] = np.clip(np.rint(0.6 * expected[masks[i]] + 0.4 * color), 0, 255)
    assert np.array_equal(drawn, expected.astype(np.uint8))
    with pytest.raises(ValueError, match="mask size"):
        MaskAnnotator().annotate(np.zeros((10, 10, 3), np.uint8), d)


# -- names, keypoints, classifications --------------------------------------------------------
def test_keypoint_names_scores_and_class_names(vs):
    points = np.array([[[10, 20, 0.9], [30, 40, 0.1]], [[1, 2, 0.5], [3, 4, 0.7]]], np.float32)
    d = Detections(xyxy=[[0, 0, 50, 50], [0, 0, 5, 5]], class_id=[1, 7], keypoints=points,
                   keypoint_names=["nose", "tail"], class_names=["cat", "mouse"])
    assert d.keypoint_names == ["nose", "tail"]
    np.testing.assert_array_equal(d.keypoint_scores, points[:, :, 2])
    assert d.keypoint_xy.shape == (2, 2, 2)
    assert d.class_name.tolist() == ["mouse", "7"]  # unknown ids fall back to the number
    assert d[1].keypoint_names == ["nose", "tail"] and d[1].class_name.tolist() == ["7"]
    with pytest.raises(ValueError, match="keypoint_names has 3 names for 2 keypoints"):
        Detections(xyxy=[[0, 0, 1, 1]], keypoints=points[:1], keypoint_names=["a", "b", "c"])
    # a detector's own per-box names win
    assert Detections(xyxy=[[0, 0, 1, 1]], data={"class_name": ["dog"]}, class_names=["cat"]).class_name[0] == "dog"


def test_classifications_top_k_per_frame_and_per_box(vs):
    scores = np.array([0.1, 0.5, 0.2, 0.15, 0.05], np.float32)
    frame = Classifications.from_scores(scores, k=3, class_names=["a", "b", "c", "d", "e"])
    assert frame.class_id.tolist() == [[1, 2, 3]] and len(frame) == 1 and frame.k == 3
    assert frame.top1_name.tolist() == ["b"] and frame.names == [["b", "c", "d"]]
    np.testing.assert_array_equal(frame.confidence, scores[None, [1, 2, 3]])
    assert Classifications.from_json(frame.to_json()) == frame
    per_box = Classifications.from_scores(np.eye(4, 6, 2), k=2)
    d = Detections(xyxy=np.zeros((4, 4)), classifications=per_box)
    assert d[2:].classifications.top1.tolist() == [4, 5]
    assert d[np.array([True, False, False, True])].classifications.top1.tolist() == [2, 5]
    with pytest.raises(ValueError, match=r"one row per box \(3\), got 4"):
        Detections(xyxy=np.zeros((3, 4)), classifications=per_box)
    with pytest.raises(ValueError, match="shape of class_id"):
        Classifications([[1, 2]], [[0.5]])


# -- JSON round trip ---------------------------------------------------------------------------
_FLOAT = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False, width=32)


@st.composite
def _detections(draw):
    n = draw(st.integers(0, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    xyxy = np.array(draw(st.lists(st.lists(_FLOAT, min_size=4, max_size=4), min_size=n, max_size=n)),
                    np.float32).reshape(n, 4)
    kwargs = dict(xyxy=xyxy, confidence=rng.random(n).astype(np.float32),
                  class_id=rng.integers(-2, 90, n))
    if draw(st.booleans()):
        kwargs["tracker_id"] = rng.integers(0, 10 ** 6, n)
    if draw(st.booleans()):
        h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
        kwargs["mask"] = InstanceMasks.from_dense(rng.random((n, h, w)) > draw(st.sampled_from([0.0, 0.5, 1.0])))
        if n == 0:
            kwargs["mask"] = InstanceMasks.empty((h, w))
    if draw(st.booleans()):
        k = draw(st.integers(0, 5))
        points = rng.normal(0, 300, (n, k, 3)).astype(np.float32)
        points[rng.random((n, k, 3)) < 0.1] = np.nan  # unseen points
        kwargs["keypoints"] = points
        if draw(st.booleans()):
            kwargs["keypoint_names"] = [f"kp{i}" for i in range(k)]
    if draw(st.booleans()):
        kwargs["class_names"] = {i: f"class {i}" for i in range(0, 90, 3)}
    if draw(st.booleans()):
        c = int(draw(st.integers(1, 7)))
        kwargs["classifications"] = Classifications.from_scores(rng.random((n, 7)).reshape(n, 7), k=c,
                                                                 class_names=draw(st.sampled_from([None, list("abcdefg")])))
        if n == 0:
            kwargs["classifications"] = Classifications.empty(c)
    if draw(st.booleans()):
        kwargs["data"] = {"zone": np.array([f"z{i}" for i in range(n)], dtype=str).reshape(n)}
    return Detections(**kwargs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_detections())
def test_from_json_is_the_exact_inverse_of_to_json(vs, detections):
    text = detections.to_json()
    back = Detections.from_json(text)
    assert back == detections
    assert back.to_json() == text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))


def test_results_jsonl_carries_masks_keypoints_classifications_and_reads_back(vs, tmp_path):
    masks = np.zeros((2, 30, 40), bool)
    masks[0] = _disc(30, 40, 10, 10, 5)
    masks[1, 20:30, 0:40] = True
    frame_a = Detections(xyxy=[[5, 5, 15, 15], [0, 20, 40, 30]], confidence=[0.8125, 0.3], class_id=[0, 2],
                         tracker_id=[4, 9], mask=masks,
                         keypoints=np.arange(12, dtype=np.float32).reshape(2, 2, 3) / 3,
                         keypoint_names=["head", "tail"], class_names={0: "fish", 2: "net"},
                         classifications=Classifications([[3, 1], [0, 2]], [[0.7, 0.2], [0.9, 0.05]],
                                                         class_names={0: "cod", 1: "eel", 2: "ray", 3: "pike"}))
    frame_b = frame_a[[]]
    path = tmp_path / "run.jsonl"
    with ResultsWriter(path) as writer:
        writer.write(10, 1 / 3, frame_a, plugins={"count": 2}, processing_ms=3.5)
        writer.write(11, 0.4, frame_b)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    first = lines[0]["detections"][0]
    assert first["mask"] == frame_a.mask_rle[0]
    assert first["keypoints"][1] == [1.0, pytest.approx(4 / 3), pytest.approx(5 / 3)]
    assert first["classifications"] == {"class_id": [3, 1], "confidence": [0.7, 0.2]}
    assert first["class_name"] == "fish" and lines[0]["keypoint_names"] == ["head", "tail"]
    assert lines[0]["plugins"] == {"count": 2} and lines[0]["processing_ms"] == 3.5
    read = list(read_results(path))
    assert [(i, t) for i, t, _ in read] == [(10, pytest.approx(1 / 3)), (11, 0.4)]
    assert read[0][2] == frame_a and read[1][2] == frame_b
    assert np.array_equal(read[0][2].mask, masks)


def test_read_results_names_the_bad_line(vs, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"frame": 0, "time": 0, "detections": []}\n{"frame": 1, "time": 0.1, "detections": [{"xyxy": [1]}]}\n')
    with pytest.raises(ValueError, match=r"line 2 is not a results record"):
        list(read_results(path))


def test_results_jsonl_writes_names_once_and_again_when_they_change(vs, tmp_path):
    coco = {i: f"class {i}" for i in range(80)}
    named = Detections(xyxy=[[0, 0, 4, 4]], class_id=[3], class_names=coco)
    renamed = Detections(xyxy=[[0, 0, 4, 4]], class_id=[3], class_names={3: "truck"})
    unnamed = Detections(xyxy=[[1, 1, 5, 5]], class_id=[3])
    sequence = [named, named, named, renamed, unnamed, named]
    path = tmp_path / "names.jsonl"
    with ResultsWriter(path) as writer:
        for index, detections in enumerate(sequence):
            writer.write(index, index / 30, detections)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert ["class_names" in line for line in lines] == [True, False, False, True, True, True]
    assert lines[3]["class_names"] == {"3": "truck"} and lines[4]["class_names"] is None
    assert all(line["detections"][0].get("class_name") == name
               for line, name in zip(lines, ["class 3"] * 3 + ["truck", None, "class 3"]))
    assert [d for _, _, d in read_results(path)] == sequence
