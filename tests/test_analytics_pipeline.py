"""Zones through the real pipeline: a generated clip (squares drawn with numpy, encoded with
vistream.Writer, decoded by the Player) whose objects cross a line a known number of times each
way (one jitters on the line), and enter, stay in and leave a polygon: counts, occupancy, events
and dwell times exact against the generator's ground truth; the heatmap's pixels; the CLI."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

import vistream
from vistream.analytics import LineZone, PolygonZone, Position, ZoneAnalytics
from vistream.annotate import HeatmapAnnotator, LineZoneAnnotator, ZoneAnnotator
from vistream.track import ByteTrack

WIDTH, HEIGHT, FPS, FRAMES, SIDE = 480, 240, 30, 150, 20
LINE_Y = 120                        # the counting line: y = 120 across the frame, drawn left to right
ZONE_X = 301                        # the polygon: x >= 301 (the right part of the frame)
WHITE, GREEN = 0, 1                 # classes, told apart by colour


def squares_at(f):
    """{name: (x, y, class)}: the top-left corner of each 20x20 square on frame f (the truth)."""
    if f < 50:
        ya = 10 + 4 * f                  # A: down across the line (out) ...
    elif f < 100:
        ya = 210 - 4 * (f - 50)          # ... back up (in) ...
    else:
        ya = 10 + 4 * (f - 100)          # ... and down again (out)
    yc = 108 if f < 20 or f >= 120 else 120 + (3 if f % 2 else -3)  # C: jitters 3 px about the line
    if f < 40:
        xd = 236 + 4 * f                 # D: into the zone, waits, leaves
    elif f < 80:
        xd = 396
    else:
        xd = max(240, 396 - 4 * (f - 80))
    xe = 440 if f < 30 else 440 - 2 * (f - 30)  # E: starts in the zone, walks out slowly
    return {"A": (30, ya, WHITE), "B": (110, max(10, 210 - 4 * f), GREEN), "C": (190, yc - SIDE // 2, WHITE),
            "D": (xd, 150, WHITE), "E": (xe, 40, WHITE)}


def truth_inside(f):
    """The squares whose bottom-centre anchor is in the zone on frame f."""
    return {name for name, (x, y, _) in squares_at(f).items() if x + SIDE / 2 >= ZONE_X}


def truth_visits():
    """{name: (first frame inside, first frame outside again)} from the generator."""
    visits = {}
    for f in range(FRAMES):
        for name in truth_inside(f):
            visits.setdefault(name, [f, None])
        for name, visit in visits.items():
            if visit[1] is None and name not in truth_inside(f) and f > visit[0]:
                visit[1] = f
    return {name: tuple(v) for name, v in visits.items()}


def truth_crossings(min_distance=4):
    """[(name, "cross_in"/"cross_out", frame)] of the squares' centres, by the documented rule:
    a crossing counts on the first frame the centre is min_distance beyond the line on the other side."""
    sides, crossings = {}, []
    for f in range(FRAMES):
        for name, (x, y, _) in sorted(squares_at(f).items()):
            distance = LINE_Y - (y + SIDE / 2)  # > 0 above the line: the "in" side
            side = 1 if distance >= min_distance else -1 if distance <= -min_distance else 0
            if side and sides.get(name, side) != side:
                crossings.append((name, "cross_in" if side > 0 else "cross_out", f))
            if side:
                sides[name] = side
    return sorted(crossings, key=lambda c: (c[2], c[0]))


def draw(f):
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for x, y, class_id in squares_at(f).values():
        image[y:y + SIDE, x:x + SIDE] = (0, 255, 0) if class_id == GREEN else (255, 255, 255)
    return image


class SquareDetector:
    """Finds the bright squares in the decoded frame (connected components) and their colour."""

    def __call__(self, image):
        image = np.asarray(image)
        count, _, stats, _ = cv2.connectedComponentsWithStats((image.max(axis=2) > 100).astype(np.uint8))
        boxes, classes = [], []
        for x, y, w, h, _ in stats[1:]:
            boxes.append((x, y, x + w, y + h))
            classes.append(GREEN if image[y + h // 2, x + w // 2, 0] < 128 else WHITE)
        return vistream.Detections(np.array(boxes, np.float32).reshape(-1, 4), class_id=classes,
                                   class_names={WHITE: "white", GREEN: "green"})


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("analytics") / "squares.mp4"
    with vistream.Writer(str(path), fps=FPS, crf=0) as writer:  # lossless: the squares' edges stay put
        for f in range(FRAMES):
            writer.write(draw(f))
    return path


@pytest.fixture(scope="module")
def straight_run(clip, tmp_path_factory):
    """(analytics, heatmap, results records) of the clip played once, start to end."""
    return run_pipeline(clip, tmp_path_factory.mktemp("straight"))


def run_pipeline(clip, tmp_path, every_n_frames=1):
    line = LineZone((0, LINE_Y), (WIDTH, LINE_Y), triggering_anchors=[Position.CENTER], name="door")
    zone = PolygonZone([(ZONE_X, 0), (WIDTH, 0), (WIDTH, HEIGHT), (ZONE_X, HEIGHT)], name="right")
    analytics = ZoneAnalytics([line, zone])
    heatmap = HeatmapAnnotator(position="center", radius=8, decay=1.0)
    player = vistream.Player(str(clip), display=False)
    pipeline = vistream.Pipeline(SquareDetector(), ByteTrack(frame_rate=FPS / every_n_frames),
                                 [heatmap, LineZoneAnnotator(line), ZoneAnnotator(zone)],
                                 plugins=[analytics.schedule()], results=str(tmp_path / "results.jsonl"),
                                 every_n_frames=every_n_frames)
    player.on_frame(pipeline)
    player.run()
    pipeline.close()
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    return analytics, heatmap, records


def test_line_counts_occupancy_events_and_dwell_are_exact_through_the_pipeline(straight_run):
    analytics, heatmap, records = straight_run
    door = analytics.zones["door"]
    # A: out, in, out; B: in; C jitters 3 px about the line 100 times and counts nothing
    assert (door.in_count, door.out_count) == (2, 2)
    assert door.in_count_per_class == {WHITE: 1, GREEN: 1} and door.out_count_per_class == {WHITE: 2}
    crossings = [e for e in analytics.events if e.zone == "door"]
    lane_of = {30: "A", 110: "B", 190: "C"}
    records_by_frame = {r["frame"]: r for r in records}
    lanes = []
    for event in crossings:  # each crossing is where the generator put it: the frame its centre got 4+ px across
        box = next(d["xyxy"] for d in records_by_frame[event.frame]["detections"] if d["tracker_id"] == event.tracker_id)
        lanes.append((lane_of[round(box[0])], event.kind, event.frame))
    lanes.sort(key=lambda c: (c[2], c[0]))
    expected = truth_crossings()
    assert [(name, kind) for name, kind, _ in lanes] == [(name, kind) for name, kind, _ in expected]
    # ByteTrack reports its Kalman-filtered boxes, which may trail the squares by a frame
    assert all(0 <= got[2] - want[2] <= 1 for got, want in zip(lanes, expected)), (lanes, expected)

    # occupancy on every frame, from the results file, against the generator
    assert len(records) == FRAMES
    assert [r["plugins"]["zones"]["counts"]["right"]["count"] for r in records] == \
        [len(truth_inside(f)) for f in range(FRAMES)]
    assert max(len(truth_inside(f)) for f in range(FRAMES)) == 2
    # enter / exit events and dwell times, in media time
    visits = truth_visits()
    assert set(visits) == {"D", "E"}
    events = sorted((e.kind, e.frame) for e in analytics.events if e.zone == "right")
    assert events == sorted([("enter", visits["D"][0]), ("exit", visits["D"][1]),
                             ("enter", visits["E"][0]), ("exit", visits["E"][1])])
    dwell = sorted(analytics.dwell_times("right").values())
    assert dwell == pytest.approx(sorted((end - start) / FPS for start, end in visits.values()), abs=1e-3)
    entered = {e.tracker_id: e.time for e in analytics.events if e.kind == "enter"}
    for event in (e for e in analytics.events if e.kind == "exit"):
        assert event.dwell == pytest.approx(event.time - entered[event.tracker_id])
    # the events are in the results file too, on their frames
    written = [(event["kind"], r["frame"]) for r in records for event in r["plugins"]["zones"].get("events", [])]
    assert sorted(written) == sorted((e.kind, e.frame) for e in analytics.events)
    # counts over time: the line's cumulative counts step at the crossing frames
    assert analytics.series["door"]["frame"] == [0, *sorted({frame for _, _, frame in lanes})]
    assert analytics.series["door"]["in"][-1] == 2 and analytics.series["door"]["out"][-1] == 2

    # heatmap: hot along the lanes the squares' centres travelled, cold where none went
    heat = heatmap.heat
    assert heat.shape == (HEIGHT, WIDTH)
    assert heat[20:220, 40].min() > 0 and heat[20:220, 120].min() > 0   # A's and B's lanes
    assert heat[160, 260:400].min() > 0                                # D's path
    assert not heat[:, 60:100].any() and not heat[60:140, 220:480].any()  # between lanes, above D, below E
    assert heat[110:130, 200].max() > heat[50, 40]                       # C stayed put: hotter than A's passing


def test_counts_hold_when_the_detector_skips_frames(clip, tmp_path):
    analytics, _, _ = run_pipeline(clip, tmp_path, every_n_frames=2)
    door = analytics.zones["door"]
    assert (door.in_count, door.out_count) == (2, 2)
    # held detections: dwell is media time, off by at most the detector's spacing (2 frames)
    visits = truth_visits()
    dwell = sorted(analytics.dwell_times("right").values())
    assert dwell == pytest.approx(sorted((end - start) / FPS for start, end in visits.values()), abs=2 / FPS + 1e-3)


def test_seeking_back_and_replaying_counts_nothing_twice(clip, straight_run):
    """The frame order a player shows around seeks (a Reader seeking between runs): the pipeline
    replays its tracker, the analytics count each frame once: the same as a straight run."""
    straight = straight_run[0]
    line = LineZone((0, LINE_Y), (WIDTH, LINE_Y), triggering_anchors=[Position.CENTER], name="door")
    zone = PolygonZone([(ZONE_X, 0), (WIDTH, 0), (WIDTH, HEIGHT), (ZONE_X, HEIGHT)], name="right")
    analytics = ZoneAnalytics([line, zone])
    pipeline = vistream.Pipeline(SquareDetector(), ByteTrack(frame_rate=FPS), plugins=[analytics.schedule()])
    with vistream.Reader(str(clip)) as reader:
        for first, last in [(0, 90), (20, 100), (95, FRAMES - 1)]:  # back over both crossings of A, then on
            reader.seek(index=first)
            for _ in range(first, last + 1):
                pipeline(next(reader))
    assert analytics.frames == FRAMES
    assert (line.in_count, line.out_count) == (straight.zones["door"].in_count, straight.zones["door"].out_count)
    assert [(e.kind, e.frame, e.tracker_id) for e in analytics.events] == \
        [(e.kind, e.frame, e.tracker_id) for e in straight.events]
    assert analytics.dwell_times("right") == pytest.approx(straight.dwell_times("right"))


def test_cli_counts_with_motion_detection_and_a_zone_file(clip, tmp_path):
    zones = tmp_path / "zones.yaml"
    zones.write_text("polygons:\n  right: {points: [[301, 0], [480, 0], [480, 240], [301, 240]]}\n")
    results = tmp_path / "r.jsonl"
    output = tmp_path / "annotated.mp4"
    done = subprocess.run([sys.executable, "-m", "vistream", "play", str(clip), "--detector", "motion",
                           "--tracker", "bytetrack", "--line", "door=0,0.5,1,0.5", "--zones", str(zones),
                           "--annotate", "box,heatmap", "--results", str(results), "--output", str(output),
                           "--headless", "-q"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "line door: in 2, out 2" in done.stdout                      # the relative line: y = 120
    assert "zone right:" in done.stdout
    last = json.loads(results.read_text().splitlines()[-1])
    assert last["plugins"]["zones"]["counts"]["door"] == {"in": 2, "out": 2}
    with vistream.Reader(str(output)) as reader:
        frame = reader.frame_at(FRAMES // 2).array
    assert frame[LINE_Y, 5].min() > 200     # the line is drawn (white) where the clip is black


@pytest.mark.parametrize("flags, message", [
    (["--line", "0,10,100,10"], "--line/--zones count tracks"),
    (["--detector", "motion", "--tracker", "bytetrack", "--line", "1,2,3"], "--line needs x1,y1,x2,y2"),
    (["--detector", "motion", "--tracker", "bytetrack", "--zones", "missing.yaml"], "missing.yaml"),
])
def test_cli_zone_usage_errors(clip, flags, message):
    done = subprocess.run([sys.executable, "-m", "vistream", "play", str(clip), "--headless", "-q", *flags],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr
