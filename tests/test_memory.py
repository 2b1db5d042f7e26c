"""Bounded memory: a long run through a Pipeline (detector, ByteTrack, an interval plugin, a
results file) holds the same memory late in the run as early on — what replay needs is kept
for a window of frames, not for every frame ever seen.

The clip: ``ffmpeg -f lavfi -i testsrc2=size=64x48:rate=100:duration=200 -c:v libx264 -preset
ultrafast -pix_fmt yuv420p -an long.mp4`` (20 000 frames). Measured in a subprocess with
tracemalloc (Python and numpy allocations), started once the replay window has filled.
"""
from __future__ import annotations

import subprocess

from conftest import run_py_json

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
