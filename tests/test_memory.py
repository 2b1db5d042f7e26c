"""Bounded memory: a long run through a Pipeline (detector, ByteTrack, an interval plugin, a
results file) holds the same memory late in the run as early on — what replay needs is kept
for a window of frames, not for every frame ever seen.

The clip: ``ffmpeg -f lavfi -i testsrc2=size=64x48:rate=100:duration=200 -c:v libx264 -preset
ultrafast -pix_fmt yuv420p -an long.mp4`` (20 000 frames). Measured in a subprocess with
tracemalloc (Python and numpy allocations), started once the replay window has filled.
"""
from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import threading

import pytest

from conftest import TEST_MP4_FRAMES, run_py_json

FRAMES = 20_000

SCRIPT = r"""
import json, tracemalloc
import numpy as np
import vistream as vs
from vistream.track import ByteTrack

path, results = {path!r}, {results!r}
marks = {{4_000: None, 12_000: None, 16_000: None, 19_999: None}}
state = {{"index": 0}}

def detector(image):
    i = state["index"]
    x = abs((0.1 * i) % 80 - 40)  # three squares bouncing left and right
    boxes = [[x + 3 * k, 12 * k, x + 3 * k + 10, 12 * k + 10] for k in range(3)]
    return vs.Detections(xyxy=np.array(boxes, np.float32), confidence=[0.9, 0.9, 0.9])

pipeline = vs.Pipeline(detector, ByteTrack(frame_rate=100),
                       plugins=[vs.Schedule(lambda frames, d: len(d), name="count", interval=1.0)],
                       results=results)
# A small back-step cache, so the engine's own (bounded, 256 MB by default) frame cache is full
# early and the RSS shows the pipeline's memory.
player = vs.Player(path, cache_bytes=4 << 20)

@player.on_frame
def callback(frame):
    state["index"] = frame.index
    pipeline(frame)
    if frame.index in marks:
        if frame.index == 4_000:
            tracemalloc.start()
        marks[frame.index] = tracemalloc.get_traced_memory()[0]
        with open("/proc/self/statm") as f:
            marks[frame.index] = (marks[frame.index], int(f.read().split()[1]) * 4096)

stats = player.run()
pipeline.close()
print(json.dumps({{"marks": marks, "processed": stats.frames_processed}}))
"""


def test_long_run_memory_stays_flat_after_warm_up(tmp_path):
    clip = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=64x48:rate=100:duration=200", "-c:v", "libx264", "-preset",
                    "ultrafast", "-pix_fmt", "yuv420p", "-an", str(clip)], check=True, capture_output=True)
    out = run_py_json(SCRIPT.format(path=str(clip), results=str(tmp_path / "tracks.jsonl")), timeout=600)
    assert out["processed"] == FRAMES
    marks = {int(k): v for k, v in out["marks"].items()}
    traced = {k: v[0] for k, v in marks.items()}
    rss = {k: v[1] for k, v in marks.items()}
    # By 12 000 the window (3 000 frames) has been refilled with traced allocations several
    # times; from there on nothing may accumulate per frame (the per-frame dicts of old grew
    # by ~1 kB a frame: 8 MB here). What is left is the snapshots' size varying with the tracks.
    assert traced[19_999] - traced[12_000] < 256 * 1024, (traced, rss)
    assert traced[19_999] - traced[16_000] < 256 * 1024, (traced, rss)
    assert rss[19_999] - rss[12_000] < 4 * 1024 * 1024, (traced, rss)


# ------------------------------------------------------------------ the back-step frame cache
# The Player keeps recently decoded frames so that stepping back is a lookup, not a re-decode
# from the previous keyframe. It is sized by use: a plain run that never looks back keeps a few
# frames (it used to fill its whole 256 MB cap: a 720p decode-with-callback run peaked at
# ~360 MB RSS against ~110 MB with the cache off); stepping back grows it, up to cache_bytes.

RSS_SCRIPT = r"""
import dataclasses, json, resource
import vistream as vs

player = vs.Player({path!r}, **{kwargs!r})
seen = []

@player.on_frame
def callback(frame):
    seen.append(int(frame.array[0, 0, 0]))  # reads the pixels, as any real callback does

stats = player.run()
print(json.dumps({{"frames": len(seen), "cache": dataclasses.asdict(stats.cache),
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
"""

# What a plain run may cost over the same run with no cache at all: the initial few frames
# (4 x 1.4 MB at 720p) plus what the allocator keeps around them. The old default cost ~250 MB.
CACHE_RSS_MARGIN = 32 * 1024 * 1024


def _peak_rss_run(path, **kwargs) -> dict:
    return run_py_json(RSS_SCRIPT.format(path=str(path), kwargs=kwargs), timeout=300)


@pytest.mark.parametrize("with_output", [False, True], ids=["callback-only", "with-output"])
def test_a_plain_run_does_not_pay_for_the_back_step_cache(test_mp4, tmp_path, with_output):
    output = {"output": str(tmp_path / "out.mp4")} if with_output else {}
    default = _peak_rss_run(test_mp4, **output)
    uncached = _peak_rss_run(test_mp4, cache_bytes=0, **output)
    assert default["frames"] == uncached["frames"] == TEST_MP4_FRAMES
    extra = default["peak_rss"] - uncached["peak_rss"]
    assert extra <= CACHE_RSS_MARGIN, (
        f"peak RSS {default['peak_rss'] / 2**20:.0f} MB with the default cache vs "
        f"{uncached['peak_rss'] / 2**20:.0f} MB without: +{extra / 2**20:.0f} MB")
    cache = default["cache"]
    assert cache["max_bytes"] > 0, "the cache is on by default"
    assert cache["grew"] == 0 and cache["misses_behind"] == 0, cache
    assert cache["frames"] <= cache["budget_frames"] <= 8, f"a forward run keeps a few frames: {cache}"


def _step_session(vs, test_mp4, start: int, plan, steps: int):
    """Plays to frame `start`, then steps as `plan(index)` says (a frame count) `steps` times,
    from the callback. Returns [(index, pixels match the first pass, cache stats)] per landing."""
    player = vs.Player(test_mp4, exit_at_end=False)
    first_pass: dict[int, str] = {}
    landings: list[tuple[int, bool, dict]] = []

    @player.on_frame
    def callback(frame):
        digest = hashlib.md5(frame.array.tobytes()).hexdigest()
        if not frame.revisit:
            first_pass[frame.index] = digest
        if frame.index != start and not landings:
            return
        landings.append((frame.index, first_pass.get(frame.index) == digest, dataclasses.asdict(player.stats.cache)))
        if len(landings) > steps:
            player.stop()
        else:
            player.step(plan(frame.index))

    guard = threading.Timer(120, player.stop)  # a lost step must fail the test, not hang it
    guard.start()
    try:
        player.run()
    finally:
        guard.cancel()
    assert len(landings) == steps + 1, f"only {len(landings)} of {steps + 1} landings: {landings}"
    return landings


def test_stepping_back_and_forth_is_served_from_the_cache_once_it_grew(vs, test_mp4):
    # Re-watching a moment: back 5 frames, forward 5, back 5 again... (keyframes every 30).
    start, k = 178, 5
    landings = _step_session(vs, test_mp4, start, lambda index: -k if index == start else k, steps=16)
    assert [index for index, _, _ in landings] == [start, start - k] * 8 + [start]
    assert all(exact for _, exact, _ in landings), "every landing shows the frame of the first pass"
    before, first_back = landings[0][2], landings[1][2]
    assert before["budget_frames"] <= 8, f"small until the user steps back: {before}"
    assert first_back["misses_behind"] == 1 and first_back["grew"] == 1, (
        f"the first step back re-decodes and grows the cache: {first_back}")
    backs = [stats for index, _, stats in landings[1:] if index == start - k]
    assert all(stats["misses_behind"] == 1 for stats in backs), (
        f"every later step back comes from the cache: {[s['misses_behind'] for s in backs]}")
    assert backs[-1]["hits"] >= len(backs) - 1
    final = landings[-1][2]
    assert final["bytes"] <= final["max_bytes"]
    assert final["budget_frames"] < 60, f"grown for this step back, not to the cap: {final}"


def test_walking_back_frame_by_frame_is_served_from_the_cache_after_growth(vs, test_mp4):
    # The ',' key: one frame back at a time through a GOP (150..179).
    start = 178
    landings = _step_session(vs, test_mp4, start, lambda index: -1, steps=26)
    assert [index for index, _, _ in landings] == list(range(start, start - 27, -1))
    assert all(exact for _, exact, _ in landings)
    misses = [stats["misses_behind"] for _, _, stats in landings]
    # A re-decode at the first step, maybe one more while the budget catches up with the walk:
    # the other 24 steps are lookups (the old fixed-size cache hit every time but held 256 MB).
    assert misses[-1] <= 2, misses
    assert misses[1] == 1, misses
    assert landings[-1][2]["grew"] == misses[-1]
