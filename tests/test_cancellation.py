"""Nothing blocks past stop(): stalled network sources, Ctrl-C, close() from another thread.

Every server here is a real HTTP server on 127.0.0.1 that misbehaves on purpose: one accepts
the request and never answers, one sends the first 300 KB of an MPEG-TS and then stalls with
the connection open (a live camera that froze). Signals are real SIGINTs sent to real
subprocesses. Latencies are measured with time.monotonic() around the call that must return.
"""
from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, ffprobe_count

STALL_AFTER = 300_000  # bytes served before the stall: well past probing, ~150 frames of the clip
STOP_LATENCY = 0.5     # seconds stop()/close() may take in any state


@pytest.fixture(scope="module")
def stream_ts(tmp_path_factory) -> Path:
    """A 20 s 320x240 H.264 + AAC MPEG-TS (~1.2 MB): playback can start from any prefix.

    ffmpeg -f lavfi -i testsrc2=size=320x240:rate=30:duration=20
           -f lavfi -i sine=frequency=440:sample_rate=44100:duration=20
           -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 30 -c:a aac -f mpegts stream.ts
    """
    path = tmp_path_factory.mktemp("cancel") / "stream.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=20",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=20",
                    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30",
                    "-c:a", "aac", "-f", "mpegts", str(path)], check=True, timeout=120)
    return path


class _StallingHandler(http.server.BaseHTTPRequestHandler):
    """/never: reads the request, never answers. /stalled: headers for the whole file, the first
    STALL_AFTER bytes, then silence with the connection held open. /dropped: the same bytes,
    then the connection is closed although more were promised (a broken transfer)."""

    data = b""
    release: threading.Event  # set at teardown: every held connection ends
    stalled: threading.Event  # set once a /stalled response has sent all it will send

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/never"):
            self.release.wait()
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Content-Length", str(len(self.data)))
        self.end_headers()
        try:
            for start in range(0, STALL_AFTER, 16384):
                self.wfile.write(self.data[start:min(start + 16384, STALL_AFTER)])
            self.wfile.flush()
            if self.path.startswith("/stalled"):
                self.stalled.set()
                self.release.wait()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: that is what the tests want


class _Server:
    """server("never") / server("stalled") / server("dropped") are URLs; .stalled is set once a
    /stalled response went silent."""

    def __init__(self, port: int, stalled: threading.Event):
        self.port = port
        self.stalled = stalled

    def __call__(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"


@pytest.fixture()
def server(stream_ts):
    release, stalled = threading.Event(), threading.Event()
    handler = type("Handler", (_StallingHandler,),
                   {"data": stream_ts.read_bytes(), "release": release, "stalled": stalled})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield _Server(httpd.server_address[1], stalled)
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()


class _Background:
    """Runs fn() in a daemon thread; records its result or exception and when it ended (a hang
    fails the test by timing out its join instead of hanging the suite)."""

    def __init__(self, fn):
        self.result = None
        self.error = None
        self.ended_at = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            self.error = error
        self.ended_at = time.monotonic()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


def _wait_until_stalled(count, quiet: float = 0.6, limit: float = 30.0) -> None:
    """Waits until count() > 0 and has not changed for `quiet` seconds (the source stalled)."""
    deadline = time.monotonic() + limit
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif now > 0 and time.monotonic() - since >= quiet:
            return
    raise AssertionError(f"the source never stalled (count {last})")


def test_open_of_a_server_that_never_answers_times_out(vs, server):
    url = server("never")
    started = time.monotonic()
    with pytest.raises(vs.SourceTimeoutError) as error:
        vs.Reader(url, timeout=1)
    took = time.monotonic() - started
    assert 0.9 <= took <= 1.8, f"open timeout took {took:.2f} s"
    assert isinstance(error.value, vs.SourceError) and isinstance(error.value, TimeoutError)
    assert url in str(error.value) and "open" in str(error.value)
    print(f"open timeout after {took:.3f} s")


def test_player_open_timeout_is_typed(vs, server):
    started = time.monotonic()
    with pytest.raises(vs.SourceTimeoutError):
        vs.Player(server("never"), timeout=(0.5, 5))
    assert time.monotonic() - started < 1.5


def test_timeout_argument_is_checked(vs, test_mp4):
    with pytest.raises(ValueError):
        vs.Reader(test_mp4, timeout=0)
    with pytest.raises(TypeError):
        vs.Player(test_mp4, timeout="10")
    with vs.Reader(test_mp4, timeout=(None, 0.5)) as reader:  # local files never time out
        assert next(reader).index == 0


def test_reader_read_timeout_fires_when_nobody_stops_it(vs, server):
    url = server("stalled")
    frames, last_frame_at = 0, None
    # reconnect=False: an HTTP source is a network source, which would reconnect by default.
    with vs.Reader(url, timeout=1, reconnect=False) as reader:
        with pytest.raises(vs.SourceTimeoutError) as error:
            for _ in reader:
                frames += 1
                last_frame_at = time.monotonic()
        raised_at = time.monotonic()
    assert frames > 100, "the 300 KB served before the stall decode first"
    assert "read" in str(error.value) and url in str(error.value)
    assert raised_at - last_frame_at < 1.8


def test_reader_close_from_another_thread_ends_a_blocked_read(vs, server):
    reader = vs.Reader(server("stalled"), timeout=30)
    frames = []
    iteration = _Background(lambda: [frames.append(f.index) for f in reader])
    _wait_until_stalled(lambda: len(frames))
    started = time.monotonic()
    closing = _Background(reader.close)
    assert closing.join(STOP_LATENCY + 1), "close() blocked"
    close_took = closing.ended_at - started
    assert iteration.join(STOP_LATENCY + 1), "iteration still blocked after close()"
    iteration_took = iteration.ended_at - started
    print(f"Reader.close(): returned in {close_took * 1000:.0f} ms, iteration ended in {iteration_took * 1000:.0f} ms")
    assert close_took < STOP_LATENCY and iteration_took < STOP_LATENCY
    assert iteration.error is None, f"iteration ended with {iteration.error!r}"  # it just stops
    assert len(frames) > 100
    with pytest.raises(ValueError):
        next(reader)


def _player_stalled(vs, url, out, **kwargs):
    # ultrafast: the encoder flush at the end (finalizing) stays small next to the cancellation
    player = vs.Player(url, output=str(out), timeout=30, preset="ultrafast", **kwargs)
    seen = []
    player.on_frame(lambda frame: seen.append(frame.index))
    run = _Background(player.run)
    _wait_until_stalled(lambda: len(seen))
    return player, run, seen


@pytest.mark.parametrize("mode", ["offline", "realtime"])
def test_player_stop_while_the_source_is_stalled(vs, server, tmp_path, mode):
    out = tmp_path / "stalled.mkv"
    player, run, seen = _player_stalled(vs, server("stalled"), out, mode=mode, speed=16.0)
    started = time.monotonic()
    player.stop()
    stop_took = time.monotonic() - started
    assert run.join(STOP_LATENCY + 1), "run() still blocked after stop()"
    run_took = run.ended_at - started
    print(f"{mode}: stop() returned in {stop_took * 1000:.0f} ms, run() in {run_took * 1000:.0f} ms")
    assert run.error is None, repr(run.error)
    assert run_took < STOP_LATENCY
    assert run.result.frames_encoded == len(seen) > 0
    assert ffprobe_count(out) == len(seen), "the output must be finalized with every frame"


def test_player_stop_when_paused_on_a_stalled_source(vs, server, tmp_path):
    out = tmp_path / "paused.mkv"
    player, run, seen = _player_stalled(vs, server("stalled"), out)
    player.pause()
    time.sleep(0.2)
    started = time.monotonic()
    player.stop()
    assert run.join(STOP_LATENCY + 1), "run() still blocked after stop() while paused"
    print(f"paused + stalled: run() returned {(run.ended_at - started) * 1000:.0f} ms after stop()")
    assert run.ended_at - started < STOP_LATENCY and run.error is None
    assert ffprobe_count(out) == len(seen)


def test_player_stop_when_paused_from_the_start(vs, test_mp4):
    player = vs.Player(test_mp4, paused=True)
    run = _Background(player.run)
    deadline = time.monotonic() + 10
    while player.position.index < 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert player.position.index == 0, "a paused player shows its first frame"
    time.sleep(0.2)
    started = time.monotonic()
    player.stop()
    assert run.join(STOP_LATENCY + 1)
    assert run.ended_at - started < STOP_LATENCY and run.error is None


def test_player_read_timeout_ends_run_with_a_finalized_file(vs, server, tmp_path):
    out = tmp_path / "timeout.mkv"
    player = vs.Player(server("stalled"), output=str(out), timeout=1, reconnect=False)
    seen = []
    player.on_frame(lambda frame: seen.append(frame.index))
    started = time.monotonic()
    with pytest.raises(vs.SourceTimeoutError) as error:
        player.run()
    assert time.monotonic() - started < 15
    assert "read stalled" in str(error.value)
    # A failed run leaves the target name alone and keeps its finalized partial file, named in
    # stats.output and in the exception's notes.
    partial = player.stats.output
    assert not out.exists() and partial != str(out) and partial in " ".join(getattr(error.value, "__notes__", []))
    assert len(seen) > 100 and ffprobe_count(partial) == len(seen)


def test_a_broken_transfer_is_a_read_error_not_the_end(vs, server, tmp_path):
    """The server closes the connection with most of the promised bytes unsent: before, the
    reader reported a normal end of stream and the player a complete run."""
    url = server("dropped")
    frames = 0
    with vs.Reader(url, timeout=5, reconnect=False) as reader:
        with pytest.raises(vs.SourceError) as error:
            for _ in reader:
                frames += 1
        assert reader.stats.read_errors >= 1
    assert not isinstance(error.value, vs.SourceTimeoutError)
    assert url in str(error.value) and frames > 100
    out = tmp_path / "dropped.mkv"
    player = vs.Player(url, output=str(out), timeout=5, reconnect=False)
    with pytest.raises(vs.SourceError):
        player.run()
    assert player.stats.read_errors >= 1
    assert not out.exists()  # failed run: the finalized partial file is kept under its own name
    assert ffprobe_count(player.stats.output) == player.stats.frames_encoded > 100


def _interrupt(proc: subprocess.Popen, ready_marker: str, ready_timeout: float = 60) -> float:
    """Waits for `ready_marker` on the child's stdout, waits for it to block, sends SIGINT, and
    returns how long the child took to exit. The SIGINT's time.monotonic() (system-wide, so
    comparable with the child's) is kept in proc.sigint_at."""
    deadline = time.monotonic() + ready_timeout
    line = ""
    while ready_marker not in line:
        assert time.monotonic() < deadline, "child never got ready"
        line = proc.stdout.readline()
        assert line, f"child exited early: {proc.wait()} {proc.stderr.read()}"
    time.sleep(1.0)  # let it reach the stall / the blocking call
    started = time.monotonic()
    proc.sigint_at = started
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("SIGINT did not end the process")
    return time.monotonic() - started


def _caught_after(proc: subprocess.Popen, stdout: str) -> float:
    """Seconds from the SIGINT to the child's 'caught <monotonic>' line."""
    caught = [line for line in stdout.splitlines() if line.startswith("caught ")]
    assert caught, stdout
    return float(caught[-1].split()[1]) - proc.sigint_at


def _python(code: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def test_ctrl_c_ends_cli_play_of_a_stalled_stream_and_finalizes_output(server, tmp_path):
    out = tmp_path / "interrupted.mkv"
    proc = subprocess.Popen([sys.executable, "-m", "vistream", "play", server("stalled"), "--headless",
                             "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)
    assert server.stalled.wait(60), "the player never read up to the stall"
    time.sleep(1.0)  # decoding and encoding catch up with the stall
    assert proc.poll() is None, proc.stderr.read()
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("SIGINT did not end `vistream play`")
    took = time.monotonic() - started
    print(f"SIGINT -> `vistream play` exit in {took * 1000:.0f} ms")
    assert proc.returncode == 130, proc.stderr.read()
    assert took < 1.5
    assert ffprobe_count(out) > 100, "the output must be finalized and playable"


def test_ctrl_c_ends_vistream_play_while_opening(server):
    proc = subprocess.Popen([sys.executable, "-m", "vistream", "play", server("never"), "--headless"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    time.sleep(1.5)  # python starts, imports, then blocks opening (default open timeout: 10 s)
    assert proc.poll() is None, proc.stderr.read()
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)
    took = time.monotonic() - started
    print(f"SIGINT while opening -> exit in {took * 1000:.0f} ms")
    assert proc.returncode == 130 and took < 1.5


def test_ctrl_c_ends_a_reader_blocked_on_a_stalled_read(server):
    proc = _python(f"""
        import time, vistream as vs
        reader = vs.Reader({server("stalled")!r})
        try:
            for frame in reader:
                if frame.index == 0:
                    print("reading", flush=True)
        except KeyboardInterrupt:
            print("caught", time.monotonic(), flush=True)
            raise SystemExit(130)
    """)
    took = _interrupt(proc, "reading")
    assert proc.returncode == 130, proc.stderr.read()
    caught = _caught_after(proc, proc.stdout.read())
    print(f"Reader: KeyboardInterrupt {caught * 1000:.0f} ms after SIGINT, exit after {took * 1000:.0f} ms")
    assert caught < STOP_LATENCY and took < 1.5


def test_ctrl_c_during_a_slow_callback(test_mp4, tmp_path):
    out = tmp_path / "slow.mkv"
    proc = _python(f"""
        import time, vistream as vs
        player = vs.Player({str(test_mp4)!r}, output={str(out)!r})
        @player.on_frame
        def slow(frame):
            if frame.index == 0:
                print("started", flush=True)
            deadline = time.monotonic() + 0.3  # busy, in Python: a slow detector
            while time.monotonic() < deadline:
                pass
        try:
            player.run()
        except KeyboardInterrupt:
            print("caught", time.monotonic(), flush=True)
            print("frames", player.stats.frames_encoded, flush=True)
            raise SystemExit(130)
    """)
    took = _interrupt(proc, "started")
    assert proc.returncode == 130, proc.stderr.read()
    stdout = proc.stdout.read()
    caught = _caught_after(proc, stdout)
    encoded = int(stdout.split()[-1])
    print(f"slow callback: KeyboardInterrupt {caught * 1000:.0f} ms after SIGINT, exit after {took * 1000:.0f} ms")
    assert caught < STOP_LATENCY and took < 1.0 and encoded >= 1
    assert ffprobe_count(out) == encoded


def test_ctrl_c_ends_a_paused_player(test_mp4, tmp_path):
    """Paused, the run() thread waits for a resume that never comes: Ctrl-C must still reach it."""
    out = tmp_path / "paused.mkv"
    proc = _python(f"""
        import time, vistream as vs
        player = vs.Player({str(test_mp4)!r}, output={str(out)!r}, paused=True)
        player.on_frame(lambda frame: print("paused at", frame.index, flush=True))
        try:
            player.run()
        except KeyboardInterrupt:
            print("caught", time.monotonic(), flush=True)
            raise SystemExit(130)
    """)
    took = _interrupt(proc, "paused at 0")
    assert proc.returncode == 130, proc.stderr.read()
    caught = _caught_after(proc, proc.stdout.read())
    print(f"paused Player: KeyboardInterrupt from run() {caught * 1000:.0f} ms after SIGINT, exit after {took * 1000:.0f} ms")
    assert caught < STOP_LATENCY and took < 1.0
    assert ffprobe_count(out) == 1, "the frame shown before the pause is in the finalized file"
