"""vistream.analytics geometry and bookkeeping, and the zone/heatmap annotators, on hand-made
detections: line directions (supervision's), hysteresis, anchors, per class and per track
counts, polygon occupancy, dwell times in media time, events, zone files."""
import json

import numpy as np
import pytest

import vistream
from vistream.analytics import (LineZone, PolygonZone, Position, TrackIdsRequiredError, ZoneAnalytics,
                                ZoneFileError, load_zones, parse_line)
from vistream.annotate import HeatmapAnnotator, LineZoneAnnotator, ZoneAnnotator


def box_at(cx, cy, size=10):
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def tracked(centers, ids, classes=None, size=10):
    """Detections of square boxes around ``centers`` with tracker ids."""
    xyxy = np.array([box_at(x, y, size) for x, y in centers], np.float32).reshape(-1, 4)
    return vistream.Detections(xyxy, tracker_id=ids, class_id=classes)


def walk(zone, ys, x=50.0, tid=1, class_id=0):
    """One track moving through the centres (x, y) for y in ys; returns the per-frame (in, out) flags."""
    flags = []
    for y in ys:
        crossed_in, crossed_out = zone.trigger(tracked([(x, y)], [tid], [class_id]))
        flags.append((bool(crossed_in[0]), bool(crossed_out[0])))
    return flags


# -- LineZone --------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # supervision's np.cross on 2-D vectors (numpy 2)
def test_line_directions_and_counts_match_supervision_on_random_walks():
    import supervision as sv  # a test dependency (scripts/setup.sh --test), pinned 0.29.1

    rng = np.random.default_rng(7)
    totals = [0, 0]
    for _ in range(30):
        start, end = rng.uniform(0, 200, 2), rng.uniform(0, 200, 2)
        theirs = sv.LineZone(sv.Point(*start), sv.Point(*end))
        ours = LineZone(tuple(start), tuple(end), min_distance=0)  # supervision has no hysteresis band
        corners = rng.uniform(0, 200, (5, 2))
        for _ in range(40):
            corners += rng.normal(0, 8, corners.shape)
            xyxy = np.concatenate([corners, corners + 12], axis=1).astype(np.float32)
            ids = np.arange(5)
            a_in, a_out = theirs.trigger(sv.Detections(xyxy=xyxy, tracker_id=ids, class_id=np.zeros(5, int)))
            b_in, b_out = ours.trigger(vistream.Detections(xyxy, tracker_id=ids))
            assert np.array_equal(a_in, b_in) and np.array_equal(a_out, b_out)
        assert (ours.in_count, ours.out_count) == (theirs.in_count, theirs.out_count)
        totals[0] += ours.in_count
        totals[1] += ours.out_count
    assert min(totals) > 10  # the walks did cross, both ways


def test_moving_up_across_a_left_to_right_line_is_in():
    line = LineZone((0, 100), (200, 100), triggering_anchors=[Position.CENTER])
    flags = walk(line, [130, 110, 90, 70])
    assert flags == [(False, False), (False, False), (True, False), (False, False)]
    assert (line.in_count, line.out_count) == (1, 0)
    swapped = LineZone((200, 100), (0, 100), triggering_anchors=["center"])
    walk(swapped, [130, 110, 90, 70])
    assert (swapped.in_count, swapped.out_count) == (0, 1)


def test_jitter_across_the_line_counts_nothing_with_hysteresis():
    ys = [80, 90, 97] + [103, 97] * 20 + [96, 85]  # 3 px either side, many times, ends where it started
    line = LineZone((0, 100), (200, 100), triggering_anchors=[Position.CENTER])  # min_distance 4 px
    walk(line, ys)
    assert (line.in_count, line.out_count) == (0, 0)
    no_band = LineZone((0, 100), (200, 100), triggering_anchors=[Position.CENTER], min_distance=0)
    walk(no_band, ys)
    assert (no_band.in_count, no_band.out_count) == (20, 20)  # what supervision would count


def test_jitter_then_a_real_crossing_counts_once():
    line = LineZone((0, 100), (200, 100), triggering_anchors=[Position.CENTER], min_distance=5)
    flags = walk(line, [60, 80, 96, 104, 97, 103, 98, 110, 130, 104, 140])
    assert (line.in_count, line.out_count) == (0, 1)
    assert [i for i, (_, out) in enumerate(flags) if out] == [7]  # once 5 px beyond
    assert line.crossings_by_track == {1: {"in": 0, "out": 1}}


def test_a_track_that_recrosses_counts_each_crossing():
    line = LineZone((0, 100), (200, 100), triggering_anchors=[Position.CENTER])
    walk(line, [50, 150, 50, 150, 160])
    assert (line.in_count, line.out_count) == (1, 2)
    assert line.crossings_by_track == {1: {"in": 1, "out": 2}}


def test_default_anchors_need_the_whole_box_across():
    line = LineZone((0, 100), (200, 100))  # four corners, as supervision
    flags = walk(line, [80, 100, 104, 108, 120], tid=3)  # box 10 px: wholly across only at centre >= 109
    assert flags[:4] == [(False, False)] * 4 and flags[4] == (False, True)


def test_a_track_first_seen_beyond_the_line_counts_nothing_until_it_crosses():
    line = LineZone((0, 100), (200, 100), triggering_anchors=[Position.CENTER])
    walk(line, [150, 160, 170])
    assert (line.in_count, line.out_count) == (0, 0)


def test_objects_beside_the_segment_are_not_counted():
    line = LineZone((100, 100), (200, 100), triggering_anchors=[Position.CENTER])
    walk(line, [50, 150], x=50)      # left of the segment's start
    walk(line, [50, 150], x=250, tid=2)
    assert (line.in_count, line.out_count) == (0, 0)
    walk(line, [50, 150], x=150, tid=3)
    assert line.out_count == 1


def test_minimum_crossing_threshold_needs_that_many_frames_beyond():
    line = LineZone((0, 100), (200, 100), triggering_anchors=[Position.CENTER], minimum_crossing_threshold=3)
    flags = walk(line, [50, 120, 50, 120, 125, 130, 135])
    assert [i for i, (_, out) in enumerate(flags) if out] == [5]
    assert (line.in_count, line.out_count) == (0, 1)


def test_counts_per_class_use_the_class_on_the_crossing_frame():
    line = LineZone((0, 100), (300, 100), triggering_anchors=[Position.CENTER])
    for y in (50, 150):
        detections = tracked([(50, y), (150, 200 - y), (250, y)], [1, 2, 3], [0, 2, 2])
        detections.class_names = {0: "person", 2: "car"}
        line.trigger(detections)
    assert line.out_count_per_class == {0: 1, 2: 1} and line.in_count_per_class == {2: 1}
    assert line.class_id_to_name == {0: "person", 2: "car"}
    analytics = ZoneAnalytics({"gate": line})
    assert analytics.summary()["gate"]["out_per_class"] == {"person": 1, "car": 1}


def test_tracks_are_told_apart_and_unconfirmed_ones_ignored():
    line = LineZone((0, 100), (300, 100), triggering_anchors=[Position.CENTER])
    line.trigger(tracked([(50, 50), (150, 50)], [1, -1]))
    crossed_in, crossed_out = line.trigger(tracked([(150, 150), (50, 150)], [-1, 1]))
    assert crossed_out.tolist() == [False, True] and line.out_count == 1


def test_detections_without_track_ids_get_a_clear_error():
    line = LineZone((0, 100), (300, 100))
    with pytest.raises(TrackIdsRequiredError, match="tracker_id.*ByteTrack") as caught:
        line.trigger(vistream.Detections([[0, 0, 10, 10]]))
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, vistream.VistreamError)
    assert [a.tolist() for a in line.trigger(vistream.Detections.empty())] == [[], []]  # nothing to count: fine


@pytest.mark.parametrize("kwargs, message", [
    (dict(start=(0, 0), end=(0, 0)), "same point"),
    (dict(start=(0, 0), end=(1, float("nan"))), "finite"),
    (dict(start=(0, 0), end=(1, 1), triggering_anchors=[]), "at least one"),
    (dict(start=(0, 0), end=(1, 1), triggering_anchors=["middle"]), "unknown anchor"),
    (dict(start=(0, 0), end=(1, 1), min_distance=-1), "min_distance"),
    (dict(start=(0, 0), end=(1, 1), minimum_crossing_threshold=0), "minimum_crossing_threshold"),
])
def test_line_zone_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LineZone(**kwargs)


# -- PolygonZone -----------------------------------------------------------------------------
def test_polygon_zone_inside_on_the_border_and_per_class():
    zone = PolygonZone([(100, 100), (200, 100), (200, 200), (100, 200)])
    # bottom-centre anchors: (150, 150) in, (150, 200) on the border, (250, 150) out, (99, 150) out
    xyxy = [[140, 140, 160, 150], [140, 190, 160, 200], [240, 140, 260, 150], [89, 140, 109, 150]]
    detections = vistream.Detections(xyxy, class_id=[1, 2, 1, 1])
    assert zone.trigger(detections).tolist() == [True, True, False, False]
    assert zone.current_count == 2 and zone.current_count_per_class == {1: 1, 2: 1}
    zone.trigger(vistream.Detections.empty())
    assert zone.current_count == 0 and zone.current_count_per_class == {}


def test_polygon_zone_concave_shape_and_all_anchors():
    l_shape = PolygonZone([(0, 0), (100, 0), (100, 40), (40, 40), (40, 100), (0, 100)],
                          triggering_anchors=[Position.TOP_LEFT, Position.BOTTOM_RIGHT])
    inside = l_shape.trigger(vistream.Detections([[10, 10, 30, 30], [50, 50, 60, 60], [10, 10, 60, 60]]))
    assert inside.tolist() == [True, False, False]  # the notch is outside; both corners must be in


@pytest.mark.parametrize("polygon, message", [([(0, 0), (1, 1)], "at least 3"), ([(0, 0), (1, 1), (2, 2)], "no area"),
                                              ("abc", "pair")])
def test_polygon_zone_rejects_bad_polygons(polygon, message):
    with pytest.raises(ValueError, match=message):
        PolygonZone(polygon)


# -- ZoneAnalytics: events and dwell in media time -------------------------------------------
def square_zone():
    return PolygonZone([(100, 0), (200, 0), (200, 100), (100, 100)], triggering_anchors=[Position.CENTER])


def test_dwell_is_media_time_from_entry_to_the_first_frame_outside_and_survives_dropped_frames():
    analytics = ZoneAnalytics({"room": square_zone()})
    # 25 fps; frames 3..6 are never seen (dropped in real time): time, not frame counts
    xs = {0: 50, 1: 90, 2: 150, 7: 150, 8: 150, 9: 250, 10: 250}
    values = [analytics.update(tracked([(x, 50)], [4]), i, i / 25) for i, x in xs.items()]
    events = list(analytics.events)
    assert [(e.kind, e.frame, e.tracker_id) for e in events] == [("enter", 2, 4), ("exit", 9, 4)]
    assert events[1].dwell == pytest.approx(7 / 25) and analytics.dwell_times("room") == {4: pytest.approx(7 / 25)}
    assert values[2]["events"] == [{"kind": "enter", "zone": "room", "frame": 2, "time": 0.08, "tracker_id": 4,
                                    "class_id": 0, "class_name": "0"}]
    assert values[2]["counts"] == {"room": {"count": 1}} and "events" not in values[3]
    json.dumps(values)  # what the results file gets


def test_a_track_lost_inside_leaves_after_lost_after_at_the_end_of_its_last_frame():
    analytics = ZoneAnalytics({"room": square_zone()}, lost_after=0.5)
    for i in range(5):
        analytics.update(tracked([(150, 50)], [1]), i, i / 10)
    for i in range(5, 12):  # gone; more than 0.5 s after its last sighting (0.4 s) it has left
        analytics.update(vistream.Detections.empty(), i, i / 10)
    exit_event = analytics.events[-1]
    assert (exit_event.kind, exit_event.frame, exit_event.time) == ("exit", 5, pytest.approx(0.5))
    assert exit_event.dwell == pytest.approx(0.5)


def test_a_track_missing_briefly_keeps_its_visit():
    analytics = ZoneAnalytics({"room": square_zone()}, lost_after=1.0)
    for i in range(20):
        detections = tracked([(150, 50)], [1]) if not 5 <= i < 10 else vistream.Detections.empty()
        analytics.update(detections, i, i / 10)
    assert [e.kind for e in analytics.events] == ["enter"]
    assert analytics.dwell_times("room") == {1: pytest.approx(2.0)}  # under way: to the end of frame 19


def test_frames_seen_again_change_nothing():
    analytics = ZoneAnalytics({"line": LineZone((0, 100), (300, 100), triggering_anchors=["center"])})
    path = [(0, 50), (1, 150), (2, 50)]
    for i, y in path:
        analytics.update(tracked([(50, y)], [1]), i, i / 30)
    for i, y in path:  # a seek back replays them
        assert analytics.update(tracked([(50, y)], [1]), i, i / 30) is None
    zone = analytics.zones["line"]
    assert (zone.in_count, zone.out_count, analytics.frames) == (1, 1, 3)


def test_a_jump_back_to_unseen_frames_ends_visits_and_keeps_counts():
    line = LineZone((0, 100), (300, 100), triggering_anchors=["center"])
    analytics = ZoneAnalytics({"room": square_zone(), "line": line})
    for i in range(100, 104):  # track 1 in the room, track 2 crossing the line
        analytics.update(tracked([(150, 50), (250, 60 + 20 * (i - 100))], [1, 2]), i, i / 25)
    assert line.out_count == 1
    analytics.update(tracked([(250, 150)], [2]), 10, 10 / 25)  # a seek back to frames not seen yet
    leave = analytics.events[-1]
    assert (leave.kind, leave.frame, leave.time) == ("exit", 104, pytest.approx(104 / 25))
    assert line.out_count == 1  # track 2's side before the jump is not a crossing after it
    analytics.update(tracked([(250, 50)], [2]), 11, 11 / 25)
    assert line.in_count == 1


def test_series_holds_one_point_per_change():
    analytics = ZoneAnalytics([square_zone(), LineZone((0, 100), (300, 100), triggering_anchors=["center"])])
    assert list(analytics.zones) == ["zone1", "line1"]
    for i, x in enumerate([50, 150, 150, 150, 50]):
        analytics.update(tracked([(x, 50), (250, 50 + 40 * i)], [1, 2]), i, i * 0.5)
    assert analytics.series["zone1"] == {"frame": [0, 1, 4], "time": [0.0, 0.5, 2.0], "count": [0, 1, 0]}
    assert analytics.series["line1"] == {"frame": [0, 2], "time": [0.0, 1.0], "in": [0, 0], "out": [0, 1]}


def test_zone_analytics_rejects_bad_zones():
    with pytest.raises(ValueError, match="two zones are named"):
        ZoneAnalytics([PolygonZone([(0, 0), (9, 0), (0, 9)], name="a"), LineZone((0, 0), (1, 1), name="a")])
    with pytest.raises(TypeError, match="LineZone or PolygonZone"):
        ZoneAnalytics(["zone"])
    with pytest.raises(KeyError, match="polygons"):
        ZoneAnalytics({"l": LineZone((0, 0), (1, 1))}).dwell_times("l")


# -- zone files and --line -------------------------------------------------------------------
def test_zone_file_yaml_relative_and_absolute(tmp_path):
    path = tmp_path / "zones.yaml"
    path.write_text("coordinates: relative\n"
                    "lines:\n  door: {start: [0.5, 0], end: [0.5, 1], anchors: [center], min_distance: 2}\n"
                    "polygons:\n  queue: [[0, 0.5], [0.25, 0.5], [0.25, 1], [0, 1]]\n"
                    "  desk: {points: [[600, 10], [700, 10], [700, 90]], coordinates: absolute}\n")
    zones = load_zones(path, (800, 400))
    assert list(zones) == ["door", "queue", "desk"]
    assert zones["door"].start == (400, 0) and zones["door"].end == (400, 400)
    assert zones["door"].triggering_anchors == (Position.CENTER,) and zones["door"].min_distance == 2
    assert zones["queue"].polygon.tolist() == [[0, 200], [200, 200], [200, 400], [0, 400]]
    assert zones["desk"].polygon.tolist() == [[600, 10], [700, 10], [700, 90]]


def test_zone_file_json_lists_with_auto_coordinates(tmp_path):
    path = tmp_path / "zones.json"
    path.write_text(json.dumps({"lines": [{"name": "a", "start": [10, 20], "end": [300, 20]}, [0, 0.5, 1, 0.5]],
                                "polygons": [{"name": "p", "points": [[0, 0], [1, 0], [1, 1]]}]}))
    zones = load_zones(path, (640, 480))
    assert zones["a"].start == (10, 20)                               # pixels: a number above 1
    assert (zones["line2"].start, zones["line2"].end) == ((0, 240), (640, 240))  # all within 0..1: relative
    assert zones["p"].polygon.tolist() == [[0, 0], [640, 0], [640, 480]]


@pytest.mark.parametrize("text, message", [
    ("lines: {door: {start: [0, 0]}}", "line 'door': needs start"),
    ("lines: {door: {start: [0, 0], end: [9, 9], speed: 3}}", "line 'door': unknown keys"),
    ("polygons: {q: [[0, 0], [5, 5]]}", "polygon 'q': .*at least 3"),
    ("polygons: {q: {points: [[0, 0], [2, 0], [0, 2]], coordinates: relative}}", "relative coordinates lie within"),
    ("lines: [[0, 0, 1]]", "needs start"),
    ("zones: []", "unknown keys"),
    ("lines: {a: [0, 0, 5, 5]}\npolygons: {a: [[0, 0], [9, 0], [0, 9]]}", "used twice"),
    ("{", "not valid YAML"),
])
def test_zone_file_errors_name_the_zone(tmp_path, text, message):
    path = tmp_path / "zones.yaml"
    path.write_text(text)
    with pytest.raises(ZoneFileError, match=message):
        load_zones(path, (100, 100))


def test_relative_coordinates_need_the_frame_size_and_missing_files_are_named(tmp_path):
    with pytest.raises(ZoneFileError, match="frame size"):
        parse_line("0,0.5,1,0.5")
    with pytest.raises(ZoneFileError, match="nope.yaml"):
        load_zones(tmp_path / "nope.yaml")


def test_parse_line_pixels_relative_and_names():
    assert parse_line("10,20,300,20").start == (10, 20)
    line = parse_line("door=0,0.5,1,0.5", (640, 480))
    assert (line.name, line.start, line.end) == ("door", (0, 240), (640, 240))
    for bad in ("1,2,3", "a,b,c,d", "5,5,5,5"):
        with pytest.raises(ZoneFileError, match="--line"):
            parse_line(bad)


# -- annotators ------------------------------------------------------------------------------
def test_heatmap_hot_where_tracks_went_cold_elsewhere_and_decays_away():
    image = np.full((100, 200, 3), 40, np.uint8)
    heat = HeatmapAnnotator(position="center", radius=6, decay=0.7, opacity=0.6)
    for x in range(20, 120, 4):  # a track walking right along y = 30
        frame = image.copy()
        heat.annotate(frame, tracked([(x, 30)], [1]))
    changed = np.any(frame != image, axis=2)
    assert changed[30, 116] and changed[30, 100]               # hot along the recent path
    assert not changed[60:].any() and not changed[:, 130:].any()  # cold where nothing went
    assert not changed[30, 25]                               # the start has decayed below the cut-off
    assert heat.heat[30, 116] > heat.heat[30, 100] > 0        # the newest part is the hottest
    for _ in range(30):  # nobody there any more: 0.7 ** 30 of the heat is under 1/100
        frame = image.copy()
        heat.annotate(frame, vistream.Detections.empty())
    assert np.array_equal(frame, image) and not heat.heat.any()


def test_heatmap_without_decay_keeps_every_visit_and_colours_the_hottest_red():
    heat = HeatmapAnnotator(position="center", radius=5, decay=1.0, opacity=1.0)
    image = np.zeros((60, 60, 3), np.uint8)
    for _ in range(10):
        heat.annotate(image.copy(), tracked([(15, 15)], [1]))
    frame = image.copy()
    heat.annotate(frame, tracked([(45, 45)], [2]))
    assert heat.heat[15, 15] == pytest.approx(10 * heat.heat[45, 45])
    b, g, r = frame[15, 15].tolist()
    assert r > 100 and b < 50          # JET's hot end
    assert frame[45, 45, 0] > frame[45, 45, 2]  # a single visit stays on the cool (blue) side


@pytest.mark.parametrize("kwargs", [dict(opacity=0), dict(decay=0), dict(decay=1.5), dict(radius=0),
                                    dict(position="middle")])
def test_heatmap_rejects_bad_arguments(kwargs):
    with pytest.raises((ValueError, TypeError)):
        HeatmapAnnotator(**kwargs)


def test_line_zone_annotator_draws_the_line_and_takes_supervisions_call():
    line = LineZone((10, 50), (190, 50))
    walk(line, [20, 80], x=100)
    image = np.zeros((100, 200, 3), np.uint8)
    assert LineZoneAnnotator(line, color=(0, 0, 255)).label(line) == "in: 0  out: 1"
    LineZoneAnnotator(line, color=(0, 0, 255), thickness=3).annotate(image, vistream.Detections.empty())
    assert image[50, 20].tolist() == [0, 0, 255] and not image[:30].any() and not image[70:].any()
    other = np.zeros_like(image)
    LineZoneAnnotator(color=(0, 0, 255), thickness=3).annotate(other, line_counter=line)  # supervision's shape
    assert np.array_equal(image, other)
    with pytest.raises(ValueError, match="no zone"):
        LineZoneAnnotator().annotate(image)


def test_zone_annotator_outlines_fills_and_counts():
    zone = PolygonZone([(20, 20), (80, 20), (80, 80), (20, 80)])
    zone.trigger(tracked([(50, 40)], [1]))
    image = np.zeros((100, 100, 3), np.uint8)
    ZoneAnnotator(zone, color=(0, 255, 0), thickness=3, opacity=0.5).annotate(image)
    assert image[20, 50].tolist() == [0, 255, 0]              # outline
    assert image[30, 25].tolist() == [0, 128, 0]              # half-opaque fill
    assert not image[:15].any() and not image[90:].any()      # outside untouched
    assert (image[45:56, 40:60] != [0, 128, 0]).any()         # the count's label at the centre
