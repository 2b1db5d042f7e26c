"""A recording of a live source keeps its outages: wall-clock truth for operators.

The source maps a reconnected stream's timestamps right after the last ones delivered (one
forward timeline); the recorder moves the frames and sound after an outage later by the time
the stream was missing, so the file's timeline matches the clock on the wall.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time

import vistream
from live_servers import udp_rig

OUTAGE = 2.0  # seconds the sender is gone


def probe_times(path, stream: str) -> list:
    result = subprocess.run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time",
                             "-of", "json", str(path)], capture_output=True, text=True, timeout=60, check=True)
    return sorted(float(p["pts_time"]) for p in json.loads(result.stdout)["packets"] if "pts_time" in p)


def test_recording_across_a_source_outage_keeps_the_gap(tmp_path, test_mp4):
    rig = udp_rig(tmp_path, test_mp4).start()
    output = tmp_path / "rec.mkv"
    try:
        player = vistream.Player(rig.url, output=str(output), timeout=1.0, reconnect_delay=0.1,
                                 reconnect_delay_max=0.2)
    except BaseException:
        rig.close()  # the sender must not outlive a failed open
        raise
    seen = {"before": 0, "after": 0}
    wall = {}
    outage_thread = []

    def outage() -> None:
        rig.kill_feed()
        wall["killed"] = time.monotonic()
        time.sleep(OUTAGE)
        rig.start_feed()

    @player.on_frame
    def drive(frame):
        if frame.reconnected:
            seen["after"] += 1
            if seen["after"] == 1:
                wall["back"] = time.monotonic()
            if seen["after"] >= 45:
                player.stop()
            return
        seen["before"] += 1
        if seen["before"] == 45:
            thread = threading.Thread(target=outage, daemon=True)
            outage_thread.append(thread)
            thread.start()

    try:
        stats = player.run()
    finally:
        for thread in outage_thread:
            thread.join(timeout=10)
        rig.close()
    assert stats.reconnects == 1 and seen["after"] >= 45
    video = probe_times(output, "v:0")
    assert len(video) == stats.frames_encoded
    steps = [b - a for a, b in zip(video, video[1:])]
    assert all(step > 0 for step in steps), "timestamps must grow"
    # The frames on either side of the outage are as far apart in the file as they were on
    # the wall clock: the outage itself (2 s) plus detecting it (the 1 s read timeout).
    wall_gap = wall["back"] - wall["killed"]
    assert max(steps) >= OUTAGE, f"largest step {max(steps):.2f} s: the outage vanished from the file"
    assert abs(max(steps) - wall_gap) < 1.0, f"gap {max(steps):.2f} s in the file, {wall_gap:.2f} s on the wall"
    assert sorted(steps)[-2] < 0.5, "one gap only"
    # The sound moves with the pictures: audio resumes within a second of the video's resumption.
    audio = probe_times(output, "a:0")
    resumed = video[steps.index(max(steps)) + 1]
    audio_after = [t for t in audio if t >= resumed - 1.0]
    assert audio_after and audio_after[0] >= video[steps.index(max(steps))]
