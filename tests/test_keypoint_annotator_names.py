"""KeypointAnnotator: names (labels), per-keypoint colours, pcutoff and skeletons by name, in pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vistream import Detections
from vistream.annotate import KeypointAnnotator, color_for

NAMES = ["snout", "left_ear", "right_ear", "tailbase"]


def black(h=240, w=320):
    return np.zeros((h, w, 3), np.uint8)


def pose(scores=(0.9, 0.8, 0.7, 0.95), names=True):
    points = [[60, 60, scores[0]], [160, 60, scores[1]], [260, 60, scores[2]], [160, 180, scores[3]]]
    return Detections(xyxy=[[60, 60, 260, 180]], class_id=[1], keypoints=[points],
                      keypoint_names=NAMES if names else None)


def test_pcutoff_hides_points_and_their_lines():
    image = black()
    KeypointAnnotator(radius=4, pcutoff=0.75, skeleton=[(0, 2), (0, 3)], thickness=1).annotate(image, pose())
    color = np.array(color_for(1), np.uint8)
    assert (image[60, 60] == color).all() and (image[60, 160] == color).all() and (image[180, 160] == color).all()
    assert not image[50:70, 250:270].any()            # score 0.7 <= 0.75: not drawn
    assert not image[58:63, 200:240].any()            # nor its line from the snout
    assert image[115:125, 105:115].any()              # the snout-tailbase line is


def test_skeleton_by_names_uses_the_names_given_or_carried_by_the_detections():
    for annotator, detections in (
            (KeypointAnnotator(radius=3, thickness=1, names=NAMES, skeleton=[("snout", "tailbase")]), pose(names=False)),
            (KeypointAnnotator(radius=3, thickness=1, skeleton=[("snout", "tailbase")]), pose(names=True))):
        image = black()
        annotator.annotate(image, detections)
        assert image[115:125, 105:115].any()          # the diagonal snout -> tailbase
        assert not image[58:63, 70:150].any()         # no snout -> left_ear line
    image = black()
    KeypointAnnotator(radius=3, skeleton=[("snout", "tailbase")]).annotate(image, pose(names=False))
    assert not image[115:125, 105:115].any()          # names unknown: the pair is skipped, not guessed
    with pytest.raises(ValueError, match="unknown keypoint"):
        KeypointAnnotator(names=NAMES, skeleton=[("snout", "whisker")])


def test_colour_map_and_per_keypoint_colours():
    image = black()
    KeypointAnnotator(radius=4, colors="rainbow").annotate(image, pose())
    ramp = cv2.applyColorMap(np.linspace(0, 255, 4).astype(np.uint8).reshape(-1, 1), cv2.COLORMAP_RAINBOW)
    for k, (x, y) in enumerate([(60, 60), (160, 60), (260, 60), (160, 180)]):
        assert (image[y, x] == ramp[k, 0]).all()
    image = black()
    KeypointAnnotator(radius=4, names=NAMES, colors={"snout": (0, 255, 0)}).annotate(image, pose())
    assert (image[60, 60] == (0, 255, 0)).all()
    assert (image[60, 160] == np.array(color_for(1), np.uint8)).all()  # not in the dict: detection colour
    image = black()
    KeypointAnnotator(radius=4, colors=[(255, 0, 0), (0, 0, 255)]).annotate(image, pose())
    assert (image[60, 60] == (255, 0, 0)).all() and (image[60, 160] == (0, 0, 255)).all()
    with pytest.raises(ValueError, match="colour map"):
        KeypointAnnotator(colors="no-such-map")
    with pytest.raises(ValueError):
        KeypointAnnotator(colors=[(0, 0, 300)])


def test_names_are_written_beside_drawn_points_only():
    image = black()
    KeypointAnnotator(radius=3, show_names=True, pcutoff=0.75, text_scale=0.5).annotate(image, pose())
    assert image[35:58, 66:120].any()                 # "snout" right of and above its point
    assert not image[35:58, 266:320].any()            # right_ear (0.7) is below pcutoff: no label
    plain = black()
    KeypointAnnotator(radius=3, pcutoff=0.75).annotate(plain, pose())
    assert not plain[35:55, 66:120].any()             # labels only when asked
    with pytest.raises(ValueError):
        KeypointAnnotator(pcutoff=1.5)
