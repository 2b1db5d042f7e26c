"""The shared Detections type: validation, indexing, conversions, export."""
from __future__ import annotations

import json

import numpy as np
import pytest


def test_construct_defaults_and_dtypes(vs):
    d = vs.Detections(xyxy=[[0, 0, 10, 20], [5, 5, 15, 15]])
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (2, 4)
    assert d.confidence.tolist() == [1.0, 1.0] and d.class_id.tolist() == [0, 0]
    assert d.tracker_id is None and len(d) == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(xyxy=[[0, 0, 1]]), "shape"),
    (dict(xyxy=[[0, 0, 1, 1]], confidence=[0.5, 0.6]), "confidence"),
    (dict(xyxy=[[0, 0, 1, 1]], class_id=["person"]), "class_id"),
    (dict(xyxy=[[0, 0, 1, 1]], tracker_id=[1, 2]), "tracker_id"),
    (dict(xyxy=[[0, 0, 1, 1]], mask=np.zeros((2, 4, 4))), "mask"),
    (dict(xyxy=[[0, 0, 1, 1]], keypoints=np.zeros((1, 17, 2))), "keypoints"),
    (dict(xyxy=[[0, 0, 1, 1]], data={"name": ["a", "b"]}), "data"),
])
def test_invalid_input_raises_value_error(vs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        vs.Detections(**kwargs)


def test_filtering_and_indexing(vs):
    d = vs.Detections(xyxy=np.arange(12).reshape(3, 4), confidence=[0.9, 0.2, 0.7], class_id=[0, 1, 0],
                      tracker_id=[4, 5, 6], data={"name": np.array(["a", "b", "c"])})
    people = d[d.class_id == 0]
    assert people.tracker_id.tolist() == [4, 6] and people.data["name"].tolist() == ["a", "c"]
    assert d[1].confidence.tolist() == [pytest.approx(0.2)]
    assert len(d[d.confidence > 0.95]) == 0
    assert [len(x) for x in d] == [1, 1, 1]
    with pytest.raises(IndexError):
        d[np.array([True, False])]


def test_xywh_round_trip_center_area(vs):
    d = vs.Detections.from_xywh([[10, 20, 30, 40]])
    assert d.xyxy.tolist() == [[10, 20, 40, 60]]
    assert d.xywh.tolist() == [[10, 20, 30, 40]]
    assert d.center.tolist() == [[25, 40]] and d.area.tolist() == [1200]


def test_empty_and_json(vs):
    assert len(vs.Detections.empty()) == 0 and vs.Detections.empty().is_empty()
    d = vs.Detections(xyxy=[[1, 2, 3, 4]], confidence=[0.5], class_id=[2], tracker_id=[7])
    # issue 13: to_json is an object (records + names) that from_json reads back
    assert json.loads(d.to_json()) == {"detections": [{"xyxy": [1, 2, 3, 4], "confidence": 0.5, "class_id": 2,
                                                       "tracker_id": 7}]}
