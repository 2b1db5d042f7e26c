"""Reconnecting live sources: real servers on 127.0.0.1 (tests/live_servers.py) killed mid-stream
and restarted; a sender that stalls; files that must never reconnect.

What a camera/VMS operator relies on: the Player (or Reader) notices the loss, retries with
backoff, keeps delivering frames with timestamps that never go back, keeps writing the same
output file (playable afterwards), reports the events and counts, and stop() is prompt even
while it waits. Every wait in a test has a deadline; a broken reconnect fails, never hangs.
"""
from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List

import pytest

import vistream as vs
from live_servers import (LiveRig, StallingTcpServer, gst_rtsp_rig, hls_rig, perl_rtsp_rig, rtmp_rig, srt_rig,
                          udp_rig, wait_until)

# Short waits so an outage costs seconds, not the defaults' tens of seconds.
FAST = dict(reconnect_delay=0.2, reconnect_delay_max=1.0)


def video_frame_times(path: Path) -> List[float]:
    """Presentation times of every video frame ffprobe decodes from `path`."""
    result = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                             "frame=pts_time", "-of", "csv=p=0", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [float(line.split(",")[0]) for line in result.stdout.split() if line.strip() and line != "N/A"]


class Session:
    """A Player run on a background thread, with what its callback and events saw."""

    def __init__(self, url: str, output: "Path | None", **keywords) -> None:
        self.frames: List[tuple] = []  # (index, time, serial, discontinuity)
        self.events: Dict[str, List[vs.ConnectionEvent]] = {"disconnect": [], "reconnect": [], "error": []}
        self.error: BaseException | None = None
        self.stats = None
        self.player = vs.Player(url, output=str(output) if output else None, on_disconnect=self.events["disconnect"].append,
                                on_reconnect=self.events["reconnect"].append, on_error=self.events["error"].append,
                                **keywords)
        self.player.on_frame(lambda f: self.frames.append((f.index, f.time, f.serial, f.discontinuity)))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.stats = self.player.run()
        except BaseException as error:  # noqa: BLE001 (re-raised by finish())
            self.error = error

    def wait_frames(self, count: int, timeout: float, what: str) -> None:
        wait_until(lambda: len(self.frames) >= count or not self.thread.is_alive(), timeout, what)
        assert self.error is None, f"run() failed while waiting for {what}: {self.error!r}"
        assert len(self.frames) >= count, f"run() ended before {what}"

    def wait_event(self, kind: str, timeout: float) -> vs.ConnectionEvent:
        wait_until(lambda: self.events[kind] or not self.thread.is_alive(), timeout, f"an on_{kind} event")
        assert self.events[kind], f"run() ended without on_{kind}: {self.error!r}"
        return self.events[kind][-1]

    def finish(self, timeout: float = 15.0) -> float:
        """stop(), then the seconds until run() returned."""
        asked = time.monotonic()
        self.player.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run() did not return after stop()"
        return time.monotonic() - asked


def outage_through(rig: LiveRig, lose: Callable[[], None], restore: Callable[[], None], tmp_path: Path,
                   **keywords) -> None:
    """Plays `rig` into a file, loses the source mid-stream, restores it, and checks that the
    Player reconnected and the frames and the file stayed right."""
    rig.start()
    output = tmp_path / "recording.mp4"
    try:
        session = Session(rig.url, output, **FAST, **keywords)
    except BaseException:
        rig.close()  # a failed open must not leave the server and its feeder running
        raise
    try:
        session.wait_frames(20, 30, "the first frames")
        lose()
        lost = session.wait_event("disconnect", 20)
        before = len(session.frames)
        restore()
        back = session.wait_event("reconnect", 40)
        after = len(session.frames)
        session.wait_frames(after + 20, 30, "frames after the reconnect")
    finally:
        session.finish()
        rig.close()
    assert session.error is None, repr(session.error)
    assert lost.reason and back.attempt >= 1 and back.downtime > 0

    times = [time for _, time, _, _ in session.frames]
    assert all(b > a for a, b in zip(times, times[1:])), "frame times went back across the outage"
    indices = [index for index, _, _, _ in session.frames]
    assert all(b > a for a, b in zip(indices, indices[1:]))
    serials = [serial for _, _, serial, _ in session.frames]
    assert serials[-1] > serials[before - 1], "the reconnect started no new timeline serial"
    first_new = next(i for i, serial in enumerate(serials) if serial != serials[0])
    assert session.frames[first_new][3], "the first frame after the reconnect is not marked as a discontinuity"

    stats = session.stats
    assert stats.reconnects >= 1 and stats.downtime >= back.downtime - 1e-6
    assert stats.frames_lost > 0
    # The file written across the outage is one valid recording: every frame decodes, in order.
    written = video_frame_times(output)
    assert len(written) == stats.frames_encoded
    assert len(written) >= before + 10  # the frame in the callback when stop() came is not encoded
    assert all(b > a for a, b in zip(written, written[1:]))


def test_rtsp_gstreamer_tcp_server_restart(tmp_path):
    rig = gst_rtsp_rig(tmp_path, vs_test_clip())
    outage_through(rig, rig.kill_server, rig.start_server, tmp_path, timeout=(8, 2),
                   input_options={"rtsp_transport": "tcp"})


def test_rtsp_gstreamer_udp_server_restart(tmp_path):
    rig = gst_rtsp_rig(tmp_path, vs_test_clip())
    outage_through(rig, rig.kill_server, rig.start_server, tmp_path, timeout=(8, 2),
                   input_options={"rtsp_transport": "udp"})


def test_rtsp_perl_udp_server_and_feeder_restart(tmp_path):
    # rtsp-server-perl keeps a killed publisher's mount (clients then wait forever and a new
    # ANNOUNCE is not served), so the outage is the server and its feeder going down together.
    rig = perl_rtsp_rig(tmp_path, vs_test_clip())

    def lose() -> None:
        rig.kill_feed()
        rig.kill_server()

    outage_through(rig, lose, rig.start, tmp_path, timeout=(8, 2), input_options={"rtsp_transport": "udp"})


def test_rtmp_feeder_restart(tmp_path):
    rig = rtmp_rig(tmp_path, vs_test_clip())
    outage_through(rig, rig.kill_feed, rig.start_feed, tmp_path, timeout=(4, 2))


def test_srt_server_restart(tmp_path):
    rig = srt_rig(tmp_path, vs_test_clip())
    outage_through(rig, rig.kill_server, rig.start_server, tmp_path, timeout=(4, 2))


def test_udp_sender_restart(tmp_path):
    rig = udp_rig(tmp_path, vs_test_clip())
    outage_through(rig, rig.kill_feed, rig.start_feed, tmp_path, timeout=(6, 1.5))


def test_hls_http_server_restart(tmp_path):
    rig = hls_rig(tmp_path, vs_test_clip())
    outage_through(rig, rig.kill_server, rig.start_server, tmp_path, timeout=(4, 3))


def vs_test_clip() -> Path:
    return Path(__file__).resolve().parents[1] / "python" / "test.mp4"


# --------------------------------------------------------------------------- a sender that stalls

@pytest.fixture()
def stalling_server(tmp_path, test_mp4):
    ts = tmp_path / "clip.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(test_mp4), "-c", "copy", "-f", "mpegts", str(ts)],
                   check=True, timeout=60)
    server = StallingTcpServer(ts, first_bytes=ts.stat().st_size // 4)  # ~2 s of the clip, then silence
    yield server
    server.close()


@pytest.mark.parametrize("where", ["in a stalled attempt", "in the backoff wait"])
def test_stall_fires_the_read_timeout_and_stop_is_prompt(stalling_server, tmp_path, where):
    delay = 0.1 if where == "in a stalled attempt" else 30.0
    # No output: finishing a file means encoding what the encoder still holds, which is not a
    # wait of the source (the other tests check the file across outages).
    session = Session(stalling_server.url, None, input_format="mpegts", timeout=(1.5, 1.0),
                      reconnect_delay=delay, reconnect_delay_max=max(delay, 1.0))
    try:
        session.wait_frames(10, 20, "the frames sent before the stall")
        lost = session.wait_event("disconnect", 15)
        assert "stalled" in lost.reason and "timeout" in lost.reason
        if where == "in a stalled attempt":
            # Reconnecting began: the server was called again, and that connection stalls too.
            wait_until(lambda: stalling_server.connections >= 2, 10, "a reconnect attempt")
            time.sleep(0.3)
        else:
            time.sleep(0.5)  # inside the 30 s wait before the first attempt
            assert stalling_server.connections == 1
    finally:
        took = session.finish()
    assert took < 0.5, f"stop() during the outage took {took:.2f} s"
    assert session.error is None  # stopping while reconnecting is a stop, not a failure


def test_reader_stall_reconnects_then_gives_up_with_the_typed_error(stalling_server):
    errors: List[vs.ConnectionEvent] = []
    disconnects: List[vs.ConnectionEvent] = []
    reader = vs.Reader(stalling_server.url, input_format="mpegts", timeout=(0.8, 0.8), reconnect_delay=0.05,
                       reconnect_delay_max=0.1, reconnect_attempts=2, on_disconnect=disconnects.append,
                       on_error=errors.append)
    frames = 0
    with pytest.raises(vs.SourceTimeoutError, match="gave up after 2 reconnect attempt"):
        for _ in reader:
            frames += 1
    assert frames > 10
    assert len(disconnects) == 1 and [e.attempt for e in errors] == [1, 2]
    assert all("stalled" in e.reason for e in errors)
    assert stalling_server.connections == 3
    reader.close()


# --------------------------------------------------------------------------- the Player gives up

def test_player_gives_up_after_its_attempts_and_finalizes_the_output(tmp_path, test_mp4):
    rig = udp_rig(tmp_path, test_mp4).start()
    output = tmp_path / "given-up.mp4"
    session = Session(rig.url, output, timeout=(1.0, 1.0), reconnect_attempts=1, reconnect_delay=0.1)
    try:
        session.wait_frames(20, 30, "the first frames")
        rig.kill_feed()  # for good
        session.thread.join(20)
        assert not session.thread.is_alive()
    finally:
        session.finish()
        rig.close()
    assert isinstance(session.error, vs.SourceTimeoutError)
    assert "gave up after 1 reconnect attempt" in str(session.error)
    assert len(session.events["error"]) == 1
    # The run failed, so the recording is kept under its partial name (see Player's output=).
    partial = [path for path in tmp_path.iterdir() if path.name.startswith("given-up.partial")]
    assert len(partial) == 1
    assert len(video_frame_times(partial[0])) >= 20


# --------------------------------------------------------------------------- files never reconnect

def test_truncated_file_ends_with_its_own_error_and_no_reconnect(tmp_path, test_mp4):
    ts = tmp_path / "clip.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(test_mp4), "-c", "copy", "-f", "mpegts", str(ts)],
                   check=True, timeout=60)
    cut = tmp_path / "cut.ts"
    cut.write_bytes(ts.read_bytes()[: ts.stat().st_size // 2 + 101])
    events: List[vs.ConnectionEvent] = []
    started = time.monotonic()
    with vs.Reader(str(cut), reconnect_delay=0.05, on_disconnect=events.append) as reader:
        count = sum(1 for _ in reader)
        stats = reader.stats
    assert 0 < count < 240
    assert events == [] and stats.reconnects == 0
    assert time.monotonic() - started < 30
    # The same with a Player: run() ends at the cut, once, with what was there.
    player = vs.Player(str(cut), reconnect_delay=0.05, on_disconnect=events.append)
    assert player.run().reconnects == 0 and events == []


def test_reconnect_options_are_checked():
    with pytest.raises(ValueError, match="reconnect must be"):
        vs.Reader(str(vs_test_clip()), reconnect="sometimes")
    with pytest.raises(ValueError, match="reconnect_delay_max"):
        vs.Reader(str(vs_test_clip()), reconnect_delay=5, reconnect_delay_max=1)
    with pytest.raises(ValueError, match="reconnect_attempts"):
        vs.Player(str(vs_test_clip()), reconnect_attempts=-3)
    with pytest.raises(TypeError, match="on_reconnect must be a callable"):
        vs.Reader(str(vs_test_clip()), on_reconnect="print")
    assert vs._core.SourceOptions(reconnect=True).reconnect == "always"
    assert vs._core.SourceOptions(reconnect=False).reconnect == "never"
    assert vs._core.SourceOptions().reconnect == "auto"


# --------------------------------------------------------------------------- the tracker across an outage

def test_pipeline_tracker_keeps_its_ids_across_a_reconnect(tmp_path, test_mp4):
    """The Pipeline is not reset by a reconnect: track ids go on. A detector keyed on the
    timeline: before the outage objects A and B (B leaves after the first frames), after it A
    and a newcomer C. Kept state: C gets a new id (3) and A keeps 1; a tracker started afresh
    would hand out 2 again."""
    from vistream.track import ByteTrack

    box_a, box_b, box_c = [100, 100, 200, 300], [400, 100, 500, 300], [700, 100, 800, 300]
    seen = {"serial": 0, "frames": 0}

    def detector(image):
        if seen["serial"] == 0:
            boxes = [box_a, box_b] if seen["frames"] < 10 else [box_a]
        else:
            boxes = [box_a, box_c]
        return vs.Detections(xyxy=boxes, confidence=[0.9] * len(boxes))

    pipeline = vs.Pipeline(detector, ByteTrack(frame_rate=30))
    ids: List[tuple] = []
    flags: List[tuple] = []

    rig = udp_rig(tmp_path, test_mp4).start()
    session = Session(rig.url, None, timeout=(6, 1.0), **FAST)

    def on_frame(frame):
        seen["serial"] = frame.serial
        seen["frames"] += 1
        pipeline(frame)
        ids.append((frame.serial, sorted(int(i) for i in pipeline.last.tracker_id)))
        flags.append((frame.serial, frame.reconnected))

    session.player.on_frame(on_frame)
    try:
        wait_until(lambda: len(ids) >= 20, 30, "the first tracked frames")
        rig.kill_feed()
        session.wait_event("disconnect", 20)
        rig.start_feed()
        session.wait_event("reconnect", 30)
        wait_until(lambda: sum(1 for serial, _ in ids if serial) >= 10, 30, "tracked frames after the reconnect")
    finally:
        session.finish()
        rig.close()
    before = [tracked for serial, tracked in ids if serial == 0]
    after = [tracked for serial, tracked in ids if serial]
    assert before[0] == [1, 2] and before[-1] == [1]
    assert after[0][0] == 1, "track A lost its id across the reconnect"
    assert after[-1] == [1, 3], f"the tracker started afresh after the reconnect: {after[-1]}"
    # The generation the reconnect started is marked on every one of its frames, and only there.
    assert all(reconnected == (serial != 0) for serial, reconnected in flags), flags


def test_pipeline_keeps_tracks_when_the_frames_before_a_reconnect_were_dropped():
    """Real-time mode drops frames the callback could not take; when the last frames before an
    outage were dropped, the first frame after the reconnect has no predecessor the Pipeline
    saw. Its generation was started by the reconnect (``frame.reconnected``): a gap in time, so
    the tracks go on (A keeps id 1, the newcomer C gets 3). The same frames as a forward seek
    (no reconnect flag) start the tracker afresh (ids from 1 again): the flag is what decides.
    Frames are plain objects with the Player frame's attributes (the Pipeline accepts any)."""
    import types

    import numpy as np
    from vistream.track import ByteTrack

    box_a, box_b, box_c = [100, 100, 200, 300], [400, 100, 500, 300], [700, 100, 800, 300]
    image = np.zeros((480, 960, 3), np.uint8)

    def run(reconnected: bool) -> List[List[int]]:
        def detector(frame_image):
            boxes = [box_a, box_b] if state["serial"] == 0 else [box_a, box_c]
            return vs.Detections(xyxy=boxes, confidence=[0.9] * len(boxes))

        state = {"serial": 0}
        pipeline = vs.Pipeline(detector, ByteTrack(frame_rate=30))
        tracked = []
        # Frames 0-9 seen; 10-13 dropped in real time before the outage; after it the source's
        # indices and times go on (frame 14 at 0.9 s, after 0.4 s down), as a new generation.
        timeline = [(i, i / 30, 0) for i in range(10)] + [(i, 0.5 + i / 30, 1) for i in range(12, 20)]
        previous_serial = None
        for index, seconds, serial in timeline:
            state["serial"] = serial
            frame = types.SimpleNamespace(index=index, time=seconds, array=image.copy(), serial=serial,
                                          discontinuity=serial != previous_serial,
                                          reconnected=reconnected and serial == 1)
            previous_serial = serial
            pipeline(frame)
            tracked.append(sorted(int(i) for i in pipeline.last.tracker_id))
        return tracked

    kept = run(reconnected=True)
    assert kept[9] == [1, 2]
    assert kept[-1] == [1, 3], f"the reconnect restarted the tracker: {kept[-1]}"
    restarted = run(reconnected=False)
    assert restarted[-1] == [1, 2], f"a forward seek kept the old tracks: {restarted[-1]}"
