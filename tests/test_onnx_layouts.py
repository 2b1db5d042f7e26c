"""OnnxDetector on real ONNX files of every supported output layout: the layout is recognised from
the outputs (or refused with a clear error when ambiguous), decoded, and mapped back to source
pixels through the layout's preprocessing. The models are tiny ONNX graphs (built with the
``onnx`` package) whose outputs are constants we choose, so the expected source-pixel boxes are
computed by hand below."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from vistream.predict import LayoutError, Letterbox, OnnxDetector, detect_layout

# a 128x64 frame into a 64x64 model: letterbox scale 0.5, content 64x32, 16 px bands above and below
FRAME = np.full((64, 128, 3), 90, np.uint8)


def _constant_model(path, outputs, metadata=None, input_shape=(1, 3, 64, 64)):
    """An ONNX model with one image input whose outputs are the given constant arrays."""
    nodes, infos = [], []
    for name, value in outputs.items():
        value = np.asarray(value)
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name + "_value")))
        infos.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape))
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))
    model = helper.make_model(helper.make_graph(nodes, "constant", [image], infos),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return str(path)


def _rows_v5(anchors: int = 12):
    # cx cy w h obj c0 c1: a box centred at (32, 32), 16x8 in input pixels, class 1 at 0.9 * 0.8
    rows = np.array([[32, 32, 16, 8, 0.9, 0.1, 0.8],
                     [33, 32, 16, 8, 0.9, 0.1, 0.7],     # overlaps the first, same class: suppressed
                     [33, 32, 16, 8, 0.9, 0.75, 0.1],    # same place, other class: kept
                     [10, 20, 4, 4, 0.1, 0.9, 0.1]], np.float32)  # below conf (0.09)
    # more anchors than values per anchor, as in every real model (zero rows score nothing)
    return np.concatenate([rows, np.zeros((anchors - len(rows), 7), np.float32)])[None]


LETTERBOXED_BOX = [48, 24, 80, 40]  # (24, 28, 40, 36) in input pixels, minus the 16 px band, / 0.5


def test_yolov5_layout_is_found_decoded_and_mapped_to_source(tmp_path):
    detector = OnnxDetector(_constant_model(tmp_path / "v5.onnx", {"output0": _rows_v5()}), conf=0.25)
    assert detector.layout == "yolov5"
    d = detector(FRAME)
    assert len(d) == 2
    np.testing.assert_allclose(d.xyxy[0], LETTERBOXED_BOX, atol=1e-4)
    np.testing.assert_array_equal(d.class_id, [1, 0])
    np.testing.assert_allclose(d.confidence, [0.72, 0.675], atol=1e-6)


def test_yolov8_layout_channels_first(tmp_path):
    rows = _rows_v5()[0]
    scores = rows[:, 5:] * rows[:, 4:5]
    v8 = np.ascontiguousarray(np.concatenate([rows[:, :4], scores], 1).T[None])  # (1, 4 + C, N)
    detector = OnnxDetector(_constant_model(tmp_path / "v8.onnx", {"output0": v8}), conf=0.25)
    assert detector.layout == "yolov8"
    d = detector(FRAME)
    np.testing.assert_allclose(d.xyxy[0], LETTERBOXED_BOX, atol=1e-4)
    np.testing.assert_array_equal(d.class_id, [1, 0])


def test_yolox_metadata_selects_yolox_preprocessing(tmp_path):
    path = _constant_model(tmp_path / "yolox.onnx", {"output": _rows_v5()}, {"vistream.model": "yolox_s"})
    detector = OnnxDetector(path, conf=0.25)
    assert detector.layout == "yolox"
    d = detector(FRAME)
    # YOLOX pads right/bottom only: no band above, so y maps with the scale alone (56..72, clipped to the frame)
    np.testing.assert_allclose(d.xyxy[0], [48, 56, 80, 64], atol=1e-4)


def test_ssd_boxes_scores_and_nms_free_variant(tmp_path):
    boxes = np.array([[[0.25, 0.5, 0.5, 0.75], [0.6, 0.1, 0.9, 0.3]]], np.float32)  # normalised x1 y1 x2 y2
    scores = np.array([[[0.05, 0.9, 0.05], [0.8, 0.1, 0.1]]], np.float32)
    detector = OnnxDetector(_constant_model(tmp_path / "ssd.onnx", {"boxes": boxes, "scores": scores}), conf=0.5)
    assert detector.layout == "ssd"
    d = detector(FRAME)  # stretched to 64x64: x scale 0.5, y scale 1
    np.testing.assert_allclose(d.xyxy, [[32, 32, 64, 48], [76.8, 6.4, 115.2, 19.2]], atol=1e-3)
    np.testing.assert_array_equal(d.class_id, [1, 0])

    labelled = {"detection_boxes": boxes * 64, "detection_scores": np.array([[0.9, 0.3]], np.float32),
                "detection_classes": np.array([[7, 3]], np.int64)}
    detector = OnnxDetector(_constant_model(tmp_path / "ssd_nms.onnx", labelled), conf=0.5)
    assert detector.layout == "ssd_nms"
    d = detector(FRAME)
    np.testing.assert_allclose(d.xyxy, [[32, 32, 64, 48]], atol=1e-3)
    np.testing.assert_array_equal(d.class_id, [7])


def test_detr_logits_and_normalised_centre_boxes(tmp_path):
    logits = np.array([[[0.0, 6.0, 0.0], [0.0, 0.0, 8.0]]], np.float32)  # 2 classes + "no object"
    boxes = np.array([[[0.5, 0.5, 0.25, 0.5], [0.1, 0.1, 0.1, 0.1]]], np.float32)
    path = _constant_model(tmp_path / "detr.onnx", {"pred_logits": logits, "pred_boxes": boxes})
    detector = OnnxDetector(path, conf=0.5)
    assert detector.layout == "detr"
    d = detector(FRAME)  # query 2 is "no object"
    assert len(d) == 1 and d.class_id[0] == 1
    np.testing.assert_allclose(d.xyxy[0], [48, 16, 80, 48], atol=1e-3)
    np.testing.assert_allclose(d.confidence[0], np.exp(6) / (np.exp(6) + 2), atol=1e-5)


def test_ambiguous_and_unknown_outputs_raise_a_clear_error(tmp_path):
    six = np.zeros((1, 300, 6), np.float32)  # end-to-end (x1 y1 x2 y2 score class) or one-class YOLOv5?
    path = _constant_model(tmp_path / "six.onnx", {"output0": six})
    with pytest.raises(LayoutError, match=r"layout=.*yolov5") as info:
        OnnxDetector(path)
    assert "output0(1, 300, 6)" in str(info.value)
    assert OnnxDetector(path, layout="end2end").layout == "end2end"
    square = _constant_model(tmp_path / "square.onnx", {"output0": np.zeros((1, 9, 9), np.float32)})
    with pytest.raises(LayoutError, match="square"):
        OnnxDetector(square)
    with pytest.raises(LayoutError, match="4 outputs"):
        detect_layout(["a", "b", "c", "d"], [(1, 2)] * 4)
    with pytest.raises(ValueError, match="unknown layout"):
        OnnxDetector(path, layout="yolo9000")


def test_letterbox_is_ultralytics_letterbox(test_mp4):
    """The default YOLO preprocessing gives the very pixels ultralytics' LetterBox does, for any frame shape."""
    from ultralytics.data.augment import LetterBox

    import vistream as vs

    with vs.Reader(str(test_mp4)) as reader:
        frame = reader.frames_at([3])[0].array.copy()
    for image in (frame, np.ascontiguousarray(frame[:, :500]), np.ascontiguousarray(frame[:333])):
        batch, transform = Letterbox(320)(image)
        theirs = LetterBox((320, 320), auto=False)(image=image)
        np.testing.assert_array_equal(np.rint(batch[0].transpose(1, 2, 0) * 255)[:, :, ::-1], theirs)
        # a box in input pixels maps back into the frame and round-trips
        back = transform.boxes_to_source(np.array([[transform.pad_x, transform.pad_y, 320 - transform.pad_x,
                                                    320 - transform.pad_y]]))
        np.testing.assert_allclose(back[0], [0, 0, image.shape[1], image.shape[0]], atol=1e-3)
