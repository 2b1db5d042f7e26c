"""Pixel-level tests of vistream.annotate (pure numpy/OpenCV, no media needed)."""
from __future__ import annotations

import numpy as np
import pytest

from vistream import Detections
from vistream.annotate import (
    PALETTE,
    BlurAnnotator,
    BoxAnnotator,
    DotAnnotator,
    KeypointAnnotator,
    LabelAnnotator,
    MaskAnnotator,
    PixelateAnnotator,
    TraceAnnotator,
    color_for,
    text_color_for,
)

H, W = 240, 320


def black(h=H, w=W):
    return np.zeros((h, w, 3), np.uint8)


def noise(h=H, w=W, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def one_box(box=(40, 50, 140, 150), **kwargs):
    return Detections(xyxy=[box], **kwargs)


ALL_ANNOTATORS = [BoxAnnotator(), LabelAnnotator(), TraceAnnotator(), BlurAnnotator(), PixelateAnnotator(),
                  DotAnnotator(), MaskAnnotator(), KeypointAnnotator(skeleton=[(0, 1)])]


def full_detections(h=H, w=W):
    mask = np.zeros((1, h, w), bool)
    mask[0, 60:100, 60:100] = True
    return Detections(xyxy=[[40, 50, 140, 150]], confidence=[0.9], class_id=[0], tracker_id=[3], mask=mask,
                      keypoints=[[[60, 70, 1.0], [100, 120, 0.8]]])


# -- colours ------------------------------------------------------------------------------
def test_palette_has_20_distinct_non_black_colours():
    assert len(PALETTE) >= 20
    assert len(set(PALETTE)) == len(PALETTE)
    assert all(c != (0, 0, 0) and all(0 <= v <= 255 for v in c) for c in PALETTE)


def test_color_for_is_stable_and_prefers_tracker_id():
    assert color_for(7) == color_for(7) == color_for(np.int64(7))
    assert len({color_for(i) for i in range(20)}) == 20
    tracked = Detections(xyxy=[[0, 0, 1, 1]] * 2, class_id=[0, 0], tracker_id=[4, 9])
    assert color_for(tracked, 0) == color_for(4) and color_for(tracked, 1) == color_for(9)
    untracked = Detections(xyxy=[[0, 0, 1, 1]] * 2, class_id=[2, 5])
    assert color_for(untracked, 1) == color_for(5)
    with pytest.raises(TypeError):
        color_for("a")
    with pytest.raises(TypeError):
        color_for(untracked)


def test_text_color_by_luminance():
    assert text_color_for((255, 255, 255)) == (0, 0, 0)
    assert text_color_for((0, 255, 255)) == (0, 0, 0)       # yellow: dark text
    assert text_color_for((128, 0, 0)) == (255, 255, 255)   # dark blue: light text


# -- boxes --------------------------------------------------------------------------------
def test_box_edges_coloured_interior_untouched():
    image = black()
    detections = one_box(class_id=[3])
    out = BoxAnnotator(thickness=1).annotate(image, detections)
    assert out is image
    color = np.array(color_for(3), np.uint8)
    for y, x in [(50, 40), (50, 90), (150, 140), (100, 40), (100, 140), (150, 90)]:
        assert (image[y, x] == color).all(), (y, x)
    assert not image[51:150, 41:140].any()          # interior untouched
    assert not image[:49].any() and not image[152:].any() and not image[:, :39].any() and not image[:, 142:].any()


def test_box_auto_thickness_scales_with_size():
    def drawn_rows(h, w):
        image = black(h, w)
        BoxAnnotator().annotate(image, one_box((w // 4, h // 4, w // 2, h // 2)))
        return int(image[:, w // 3].any(axis=1).sum())
    small, big = drawn_rows(240, 320), drawn_rows(2160, 3840)
    assert small >= 2 and big > small


def test_same_track_same_colour_across_calls_different_tracks_differ():
    annotator = BoxAnnotator(thickness=1)
    first, second = black(), black()
    annotator.annotate(first, one_box((10, 10, 60, 60), tracker_id=[5], class_id=[0]))
    annotator.annotate(second, one_box((100, 100, 200, 200), tracker_id=[5], class_id=[1]))
    assert (first[10, 30] == second[100, 150]).all()
    both = black()
    annotator.annotate(both, Detections(xyxy=[[10, 10, 60, 60], [100, 100, 200, 200]], class_id=[0, 0],
                                        tracker_id=[5, 6]))
    assert not (both[10, 30] == both[100, 150]).all()
    assert (both[10, 30] == color_for(5)).all() and (both[100, 150] == color_for(6)).all()


# -- labels -------------------------------------------------------------------------------
def test_label_text():
    d = Detections(xyxy=[[0, 0, 5, 5]], confidence=[0.914], class_id=[0], tracker_id=[7])
    assert LabelAnnotator(class_names=["person"]).label_text(d, 0) == "person #7 0.91"
    assert LabelAnnotator(class_names={0: "car"}, show_confidence=False).label_text(d, 0) == "car #7"
    assert LabelAnnotator(show_id=False).label_text(d, 0) == "0 0.91"
    named = Detections(xyxy=[[0, 0, 5, 5]], data={"class_name": np.array(["dog"])})
    assert LabelAnnotator(show_confidence=False).label_text(named, 0) == "dog"


def test_label_drawn_near_box_top_in_colour():
    image = black()
    d = one_box((100, 120, 200, 220), class_id=[0], tracker_id=[2], confidence=[0.5])
    annotator = LabelAnnotator(class_names=["person"])
    out = annotator.annotate(image, d)
    assert out is image
    ys, xs = np.nonzero(image.any(axis=2))
    assert ys.min() >= 120 - 40 and ys.max() <= 120 + 2       # just above the box top
    assert xs.min() >= 99 and xs.max() < 200 + 150
    x1, y1, x2, y2 = annotator.label_box(image, d, 0)
    assert y2 == 120 and x1 == 100
    background = image[y1:y2, x1:x2].reshape(-1, 3)
    color = np.array(color_for(2), np.uint8)
    assert (background == color).all(axis=1).mean() > 0.4       # filled background in the colour
    text = text_color_for(color_for(2))
    # and the text on it (anti-aliased: OpenCV versions differ in whether any pixel is exact)
    assert (np.abs(background.astype(int) - np.array(text)).max(axis=1) < 60).any()


@pytest.mark.parametrize("box", [(-50, -50, 30, 30), (300, 5, 330, 40), (290, 230, 400, 300), (0, 0, 320, 240)])
def test_label_stays_inside_image(box):
    annotator = LabelAnnotator(class_names=["a very long class name"])
    d = one_box(box, tracker_id=[12345])
    x1, y1, x2, y2 = annotator.label_box(black(), d, 0)
    assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H
    big = np.zeros((H + 40, W + 60, 3), np.uint8)
    image = big[20:20 + H, 30:30 + W]
    annotator.annotate(image, d)
    assert big[:20].sum() == 0 and big[20 + H:].sum() == 0
    assert big[:, :30].sum() == 0 and big[:, 30 + W:].sum() == 0


def test_label_text_scales_with_height():
    annotator = LabelAnnotator()
    d = one_box((100, 100, 150, 150))
    small = annotator.label_box(black(240, 320), d, 0)
    d4k = one_box((1000, 1000, 1500, 1500))
    big = annotator.label_box(black(2160, 3840), d4k, 0)
    small_h, big_h = small[3] - small[1], big[3] - big[1]
    assert 12 <= small_h <= 30               # readable at 320x240
    assert big_h >= 5 * small_h // 2 and big_h <= 0.05 * 2160


# -- traces -------------------------------------------------------------------------------
def test_trace_draws_polyline_between_past_centres_and_reset_clears():
    traces = TraceAnnotator(length=10, thickness=1)
    image = black()
    traces.annotate(image, one_box((40, 90, 60, 110), tracker_id=[1]))     # centre (50, 100)
    assert not image.any()                                                  # one point: no line yet
    traces.annotate(image, one_box((240, 90, 260, 110), tracker_id=[1]))   # centre (250, 100)
    color = np.array(color_for(1), np.uint8)
    for x in range(55, 246, 10):                                            # antialiased line along y=100
        assert image[99:102, x].any(), x
        assert (image[99:102, x].astype(int).max(axis=0) <= color).all()     # drawn in the track colour
    assert not image[110:].any() and not image[:90].any()
    assert traces.history(1) == [(50.0, 100.0), (250.0, 100.0)]
    traces.reset()
    assert traces.history(1) == []
    fresh = black()
    traces.annotate(fresh, one_box((240, 90, 260, 110), tracker_id=[1]))
    assert not fresh.any()


def test_trace_length_and_untracked_ignored():
    traces = TraceAnnotator(length=3, thickness=1)
    for x in range(10, 100, 10):
        traces.annotate(black(), one_box((x, 10, x + 10, 20), tracker_id=[4]))
    assert len(traces.history(4)) == 3 and traces.history(4)[-1] == (95.0, 15.0)
    image = black()
    traces.annotate(image, one_box((10, 10, 20, 20)))     # no tracker_id
    traces.annotate(image, one_box((200, 10, 210, 20)))
    assert not image.any()


def test_trace_forgets_tracks_unseen_for_length_calls():
    traces = TraceAnnotator(length=2)
    traces.annotate(black(), one_box(tracker_id=[8]))
    for _ in range(3):
        traces.annotate(black(), Detections.empty())
    assert traces.history(8) == []


# -- privacy ------------------------------------------------------------------------------
def test_blur_changes_inside_only_and_reduces_variance():
    image = noise()
    before = image.copy()
    out = BlurAnnotator(kernel=9).annotate(image, one_box((50, 60, 150, 160)))
    assert out is image
    inside = np.zeros((H, W), bool)
    inside[60:160, 50:150] = True
    assert (image[~inside] == before[~inside]).all()
    assert (image[inside] != before[inside]).any(axis=1).mean() > 0.9
    assert image[inside].astype(float).var() < 0.2 * before[inside].astype(float).var()


def test_blur_box_clipped_to_image():
    image = noise()
    before = image.copy()
    BlurAnnotator().annotate(image, Detections(xyxy=[[-100, -100, 40, 50], [500, 500, 600, 600]]))
    assert (image[50:] == before[50:]).all() and (image[:, 40:] == before[:, 40:]).all()
    assert (image[:50, :40] != before[:50, :40]).any()


def test_pixelate_makes_constant_blocks_inside_only():
    image = noise()
    before = image.copy()
    PixelateAnnotator(block=10).annotate(image, one_box((20, 30, 120, 125)))
    for by in range(30, 125, 10):
        for bx in range(20, 120, 10):
            tile = image[by:min(by + 10, 125), bx:bx + 10].reshape(-1, 3)
            assert (tile == tile[0]).all()
            expected = np.floor(before[by:min(by + 10, 125), bx:bx + 10].reshape(-1, 3).mean(axis=0) + 0.5)
            assert np.abs(tile[0].astype(int) - expected).max() <= 1
    outside = np.ones((H, W), bool)
    outside[30:125, 20:120] = False
    assert (image[outside] == before[outside]).all()


def test_pixelate_auto_block_and_clipping():
    image = noise()
    before = image.copy()
    PixelateAnnotator().annotate(image, one_box((280, 200, 400, 300)))    # clipped to 40 x 40: auto block 5
    assert (image[:200] == before[:200]).all() and (image[:, :280] == before[:, :280]).all()
    assert (image[200:204, 280:284].reshape(-1, 3) == image[200, 280]).all()


# -- dots, masks, keypoints ---------------------------------------------------------------
def test_dot_at_box_centre():
    image = black()
    DotAnnotator(radius=3).annotate(image, one_box((40, 50, 140, 150), class_id=[6]))
    assert (image[100, 90] == color_for(6)).all()
    assert (image[100, 92] == color_for(6)).all()
    assert not image[:90].any() and not image[110:].any() and not image[:, :80].any()


def test_mask_blend_exact_value():
    image = np.full((H, W, 3), 101, np.uint8)
    mask = np.zeros((1, H, W), bool)
    mask[0, 10:20, 30:40] = True
    MaskAnnotator(opacity=0.5).annotate(image, Detections(xyxy=[[30, 10, 40, 20]], class_id=[1], mask=mask))
    color = np.array(color_for(1), float)
    expected = np.rint(0.5 * 101 + 0.5 * color).astype(np.uint8)
    assert (image[15, 35] == expected).all()
    assert (image[~mask[0]] == 101).all()
    # opacity 0 leaves pixels alone, 1 paints the colour
    full = np.full((H, W, 3), 101, np.uint8)
    MaskAnnotator(opacity=1.0).annotate(full, Detections(xyxy=[[30, 10, 40, 20]], class_id=[1], mask=mask))
    assert (full[15, 35] == color_for(1)).all()


def test_mask_size_mismatch_raises():
    d = Detections(xyxy=[[0, 0, 5, 5]], mask=np.ones((1, 10, 10), bool))
    with pytest.raises(ValueError):
        MaskAnnotator().annotate(black(), d)


def test_keypoints_points_and_skeleton():
    image = black()
    d = Detections(xyxy=[[0, 0, 300, 200]], class_id=[2],
                   keypoints=[[[50, 100, 0.9], [250, 100, 0.7], [150, 30, 0.0]]])
    KeypointAnnotator(radius=3, skeleton=[(0, 1), (1, 2), (0, 5)], thickness=1).annotate(image, d)
    color = np.array(color_for(2), np.uint8)
    assert (image[100, 50] == color).all() and (image[100, 250] == color).all()
    assert image[99:102, 150].any() and image[99:102, 100:200].any(axis=(0, 2)).all()   # the 0-1 skeleton line
    assert not image[20:40, 140:160].any()                      # score 0: no point, no line
    assert not image[:90].any()


# -- common contract ----------------------------------------------------------------------
@pytest.mark.parametrize("annotator", ALL_ANNOTATORS, ids=lambda a: type(a).__name__)
def test_strided_view_is_drawn_in_place(annotator):
    big = noise(H, W + 64, seed=3)
    view = big[:, :W]
    assert not view.flags.c_contiguous
    before_pad = big[:, W:].copy()
    reference = np.ascontiguousarray(view)
    d = full_detections()
    if isinstance(annotator, TraceAnnotator):
        annotator.reset()
        annotator.annotate(black(), one_box((0, 0, 10, 10), tracker_id=[3]))
        expected_annotator = TraceAnnotator()
        expected_annotator.annotate(black(), one_box((0, 0, 10, 10), tracker_id=[3]))
    else:
        expected_annotator = annotator
    out = annotator.annotate(view, d)
    assert out is view
    expected_annotator.annotate(reference, d)
    assert (view == reference).all()                 # same result as on a contiguous copy
    assert not (view == noise(H, W + 64, seed=3)[:, :W]).all()
    assert (big[:, W:] == before_pad).all()          # the row padding is not touched


def test_arbitrary_strides_are_written_back():
    big = black(2 * H, 2 * W)
    view = big[::2, ::2]
    out = BoxAnnotator(thickness=1).annotate(view, one_box(class_id=[0]))
    assert out is view
    assert (big[100, 80] == color_for(0)).all()


@pytest.mark.parametrize("annotator", ALL_ANNOTATORS, ids=lambda a: type(a).__name__)
def test_empty_detections_leave_image_unchanged(annotator):
    image = noise()
    before = image.copy()
    assert annotator.annotate(image, Detections.empty()) is image
    assert (image == before).all()


@pytest.mark.parametrize("make, error", [
    (lambda: BoxAnnotator(thickness=0), ValueError),
    (lambda: BoxAnnotator(thickness=1.5), TypeError),
    (lambda: BoxAnnotator(thickness=True), TypeError),
    (lambda: LabelAnnotator(text_scale=0), ValueError),
    (lambda: LabelAnnotator(text_scale="big"), TypeError),
    (lambda: LabelAnnotator(class_names="person"), TypeError),
    (lambda: LabelAnnotator(class_names=[1, 2]), TypeError),
    (lambda: LabelAnnotator(show_confidence="yes"), TypeError),
    (lambda: TraceAnnotator(length=1), ValueError),
    (lambda: TraceAnnotator(length=None), TypeError),
    (lambda: BlurAnnotator(kernel=-3), ValueError),
    (lambda: PixelateAnnotator(block=0), ValueError),
    (lambda: PixelateAnnotator(block="4"), TypeError),
    (lambda: DotAnnotator(radius=0), ValueError),
    (lambda: MaskAnnotator(opacity=1.5), ValueError),
    (lambda: MaskAnnotator(opacity=-0.1), ValueError),
    (lambda: MaskAnnotator(opacity=None), TypeError),
    (lambda: KeypointAnnotator(radius=0), ValueError),
    (lambda: KeypointAnnotator(skeleton=[(0, 1, 2)]), ValueError),
    (lambda: KeypointAnnotator(skeleton=[(0, -1)]), ValueError),
    (lambda: KeypointAnnotator(skeleton=5), TypeError),
])
def test_invalid_arguments_raise(make, error):
    with pytest.raises(error):
        make()


@pytest.mark.parametrize("image, error", [
    ([[0, 0, 0]], TypeError),
    (np.zeros((10, 10, 3), np.float32), TypeError),
    (np.zeros((10, 10), np.uint8), ValueError),
    (np.zeros((10, 10, 4), np.uint8), ValueError),
])
def test_invalid_image_raises(image, error):
    with pytest.raises(error):
        BoxAnnotator().annotate(image, one_box())


def test_read_only_image_and_bad_detections_raise():
    image = black()
    image.flags.writeable = False
    with pytest.raises(ValueError):
        BoxAnnotator().annotate(image, one_box())
    with pytest.raises(TypeError):
        BoxAnnotator().annotate(black(), [[0, 0, 1, 1]])
