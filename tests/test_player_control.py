"""Player control API, headless: pause/resume, frame-exact seek and step (both directions),
revisit flag, real-time vs offline pacing, bad control input."""
from __future__ import annotations

import threading
import time

import pytest

from conftest import TEST_MP4_FRAMES, frame_hash


@pytest.fixture(scope="module")
def reference_hashes(test_mp4):
    import vistream as vs
    with vs.Reader(test_mp4) as reader:
        return [frame_hash(f.array) for f in reader]


class Recorder:
    """Callback that records (index, hash, revisit) and lets a controller wait for an index."""

    def __init__(self):
        self.seen = []
        self.cond = threading.Condition()

    def __call__(self, frame):
        entry = (frame.index, frame_hash(frame.array), frame.revisit)
        with self.cond:
            self.seen.append(entry)
            self.cond.notify_all()

    def wait_for(self, index, after=0, timeout=30.0):
        """Waits until a frame with `index` is recorded at position >= after; returns its entry."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for entry in self.seen[after:]:
                    if entry[0] == index:
                        return entry
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"frame {index} never reached the callback; got {[e[0] for e in self.seen[after:]][-10:]}"
                self.cond.wait(remaining)

    def count(self):
        with self.cond:
            return len(self.seen)


def start(player):
    errors = []

    def target():
        try:
            player.run()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


def finish(player, thread, errors):
    player.stop()
    thread.join(30)
    assert not thread.is_alive(), "run() did not return after stop()"
    assert not errors, errors


def test_seek_while_paused_delivers_exact_frame(vs, test_mp4, reference_hashes):
    rec = Recorder()
    player = vs.Player(test_mp4, paused=True, exit_at_end=False)
    player.on_frame(rec)
    thread, errors = start(player)
    try:
        for k in (120, 7, 233, 61, 0, 199):
            mark = rec.count()
            player.seek(index=k)
            index, digest, _ = rec.wait_for(k, after=mark)
            assert digest == reference_hashes[k], f"seek to {k} delivered another picture"
            assert player.position.index == k
        time.sleep(0.2)
        assert rec.seen[-1][0] == 199, "paused player kept delivering frames after the seek"
        assert player.paused
    finally:
        finish(player, thread, errors)


def test_step_back_230_times_every_frame_exact(vs, test_mp4, reference_hashes):
    rec = Recorder()
    player = vs.Player(test_mp4, paused=True, exit_at_end=False)
    player.on_frame(rec)
    thread, errors = start(player)
    try:
        player.seek(index=230)
        rec.wait_for(230)
        for expected in range(229, -1, -1):
            mark = rec.count()
            player.step(-1)
            index, digest, revisit = rec.wait_for(expected, after=mark)
            assert digest == reference_hashes[expected], f"step back to {expected}: wrong picture"
        assert player.position.index == 0
        # forward steps from 0 are exact too, and these frames were seen before
        for expected in range(1, 12):
            mark = rec.count()
            player.step(1)
            index, digest, revisit = rec.wait_for(expected, after=mark)
            assert digest == reference_hashes[expected]
            assert revisit, "frame.revisit must be True for an index the callback has seen"
    finally:
        finish(player, thread, errors)


def test_step_back_far_and_seek_by_time(vs, test_mp4, reference_hashes):
    rec = Recorder()
    player = vs.Player(test_mp4, paused=True, exit_at_end=False, cache_bytes=0)
    player.on_frame(rec)
    thread, errors = start(player)
    try:
        player.seek(index=200)
        rec.wait_for(200)
        mark = rec.count()
        player.step(-137)  # far back, no cache: re-decoded from the previous keyframe
        _, digest, _ = rec.wait_for(63, after=mark)
        assert digest == reference_hashes[63]
        mark = rec.count()
        player.seek(time=5.0)
        # The frame on screen at 5 s (issue 17): the last one whose time is <= 5 s.
        with vs.Reader(test_mp4) as info:
            expected = max(frame.index for frame in info if frame.time <= 5.0)
        _, digest, _ = rec.wait_for(expected, after=mark)
        assert digest == reference_hashes[expected]
    finally:
        finish(player, thread, errors)


def test_seek_past_end_clamps_to_last_frame(vs, test_mp4, reference_hashes):
    rec = Recorder()
    player = vs.Player(test_mp4, paused=True, exit_at_end=False)
    player.on_frame(rec)
    thread, errors = start(player)
    try:
        player.seek(index=10_000)
        _, digest, _ = rec.wait_for(TEST_MP4_FRAMES - 1)
        assert digest == reference_hashes[-1]
        mark = rec.count()
        player.seek(time=1e6)
        rec.wait_for(TEST_MP4_FRAMES - 1, after=mark)
    finally:
        finish(player, thread, errors)


def test_pause_and_resume(vs, test_mp4):
    rec = Recorder()
    player = vs.Player(test_mp4, mode="realtime")
    player.on_frame(rec)
    thread, errors = start(player)
    try:
        rec.wait_for(15)
        player.pause()
        # a frame already released may still arrive (later on a loaded machine): wait for quiet
        quiet_since, last = time.monotonic(), rec.count()
        deadline = quiet_since + 5
        while time.monotonic() - quiet_since < 0.3:
            assert time.monotonic() < deadline, "frames kept coming while paused"
            time.sleep(0.02)
            if rec.count() != last:
                quiet_since, last = time.monotonic(), rec.count()
        paused_at = rec.count()
        time.sleep(0.5)
        assert rec.count() == paused_at, "frames kept coming while paused"
        assert player.paused
        last_index = rec.seen[-1][0]
        player.resume()
        # realtime mode may drop a frame on a loaded machine: wait for any index 10 past, not one
        deadline = time.monotonic() + 10
        while rec.seen[-1][0] < last_index + 10:
            assert time.monotonic() < deadline, "frames did not resume"
            time.sleep(0.02)
        indices = [e[0] for e in rec.seen]
        assert indices == sorted(indices)
    finally:
        finish(player, thread, errors)


def test_seek_from_inside_the_callback(vs, test_mp4, reference_hashes):
    delivered = []
    player = vs.Player(test_mp4)

    @player.on_frame
    def jump(frame):
        delivered.append((frame.index, frame_hash(frame.array)))
        if frame.index == 20 and len(delivered) < 30:
            player.seek(index=150)

    player.run()
    indices = [i for i, _ in delivered]
    assert indices[:21] == list(range(21))
    assert indices[21] == 150, "the frame after an in-callback seek must be the target"
    assert indices[21:] == list(range(150, TEST_MP4_FRAMES))
    assert all(h == reference_hashes[i] for i, h in delivered)


def test_stop_mid_file_finalizes_output(vs, test_mp4, tmp_path):
    from conftest import ffprobe_count
    out = tmp_path / "stopped.mp4"
    player = vs.Player(test_mp4, output=str(out), mode="realtime")
    thread, errors = start(player)
    time.sleep(1.5)
    finish(player, thread, errors)
    frames = ffprobe_count(out)
    assert 20 <= frames < TEST_MP4_FRAMES, frames


def test_realtime_drops_slow_callback_frames_offline_does_not(vs, test_mp4):
    duration = TEST_MP4_FRAMES / 30.0

    def run(mode):
        got = []
        player = vs.Player(test_mp4, mode=mode)

        @player.on_frame
        def slow(frame):
            got.append(frame.index)
            time.sleep(0.05)

        t0 = time.monotonic()
        stats = player.run()
        return time.monotonic() - t0, got, stats

    elapsed, got, stats = run("realtime")
    assert abs(elapsed - duration) <= 0.2 * duration, f"realtime took {elapsed:.2f}s for {duration:.2f}s of media"
    assert stats.frames_dropped > 0
    assert got == sorted(got) and len(set(got)) == len(got)
    assert stats.frames_processed == len(got) < TEST_MP4_FRAMES

    elapsed, got, stats = run("offline")
    assert got == list(range(TEST_MP4_FRAMES))
    assert stats.frames_dropped == 0
    assert elapsed >= TEST_MP4_FRAMES * 0.05


def test_realtime_headless_paces_at_media_clock(vs, test_mp4):
    player = vs.Player(test_mp4, mode="realtime", end=2.0)
    t0 = time.monotonic()
    stats = player.run()
    elapsed = time.monotonic() - t0
    assert 1.6 <= elapsed <= 2.6, elapsed
    assert stats.frames_processed >= 50


def test_seek_on_non_seekable_source_raises(vs, media):
    import functools
    import http.server
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(media["bframes"].parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{media['bframes'].name}"
        player = vs.Player(url)
        with pytest.raises(vs.SourceError, match="not seekable"):
            player.seek(index=3)
        with pytest.raises(vs.SourceError):
            player.step(-1)
    finally:
        server.shutdown()
        server.server_close()


def test_control_argument_errors(vs, test_mp4):
    player = vs.Player(test_mp4)
    with pytest.raises(ValueError):
        player.seek()
    with pytest.raises(ValueError):
        player.seek(time=1.0, index=2)
    with pytest.raises(TypeError):
        player.step(1.5)
    with pytest.raises(ValueError):
        player.set_speed(0)
    with pytest.raises(ValueError):
        vs.Player(test_mp4, mode="fastest")


def test_one_speed_range_checked_by_the_engine(vs, media):
    """The engine's range is the only one: the constructor, set_speed and the CLI use it."""
    from vistream.player import MAX_SPEED, MIN_SPEED

    assert (MIN_SPEED, MAX_SPEED) == vs._core.SPEED_RANGE
    for bad in (0.0, MIN_SPEED / 2, MAX_SPEED * 2):
        with pytest.raises(ValueError, match="speed must be between"):
            vs.Player(str(media["noaudio"]), speed=bad)
    player = vs.Player(str(media["noaudio"]), speed=MAX_SPEED)
    player.set_speed(MIN_SPEED)
    assert player.speed == MIN_SPEED
    with pytest.raises(ValueError, match="speed must be between"):
        player.set_speed(MAX_SPEED * 2)
    assert player.speed == MIN_SPEED
