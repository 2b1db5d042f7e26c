"""The web view's server (issue 16): real uvicorn on 127.0.0.1, real WebSocket clients (the
``websockets`` package), real HTTP, a real Player on the tests' media, `vistream serve` as a process.

Clip: ``ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30:duration=8 -c:v libx264 -preset ultrafast
-g 30 -pix_fmt yuv420p web_clip.mp4`` (generated per module: 240 frames that all differ).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import cv2
import numpy as np
import pytest
import websockets

import vistream
from live_servers import stalled_websocket
from vistream.web import WebOptions, WebView
from vistream.web.serving import STATIC_DIR, WORKER_THREADS, static_file

FRAMES = 240


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("web") / "web_clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=1280x720:rate=30:duration={FRAMES // 30}", "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory) -> Path:
    """``ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30:duration=4 -vf noise=alls=60:allf=t+u -c:v
    libx264 -preset ultrafast -g 30 -pix_fmt yuv420p``: frames that JPEG cannot shrink much (~170 kB
    at quality 95 against 0.7 MB of pixels), so a queue of them shows in the RSS at once."""
    path = tmp_path_factory.mktemp("web") / "noisy_clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=4",
                    "-vf", "noise=alls=60:allf=t+u", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@contextlib.contextmanager
def serving(source: Path, web: "WebOptions | int" = None, **player_options) -> Iterator[Tuple[vistream.Player, WebView]]:
    """A real-time Player with ``web=`` running on a thread; stopped (and its view gone) on exit."""
    options = dict(display=False, mode="realtime", exit_at_end=False, play_audio=False, loop=True)
    options.update(player_options)
    player = vistream.Player(str(source), web=web if web is not None else WebOptions(port=0), **options)
    failures: List[BaseException] = []

    def run() -> None:
        try:
            player.run()
        except BaseException as error:  # noqa: BLE001 - re-raised by the test
            failures.append(error)

    runner = threading.Thread(target=run, name="test-player")
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while player.web_view is None and runner.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert player.web_view is not None, f"the web view did not start: {failures}"
        yield player, player.web_view
    finally:
        player.stop()
        runner.join(20)
        assert not runner.is_alive(), "run() did not end after stop()"
    if failures:
        raise failures[0]


def http_json(url: str, body: Optional[dict] = None, headers: Optional[dict] = None, timeout: float = 15) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def ws_url(view: WebView) -> str:
    return f"ws://127.0.0.1:{view.port}/ws"


async def ws_frames(url: str, count: int, timeout: float = 10.0, **connect) -> List[Tuple[dict, bytes]]:
    """``count`` (header, JPEG) pairs read from /ws."""
    frames: List[Tuple[dict, bytes]] = []
    async with websockets.connect(url, max_size=None, **connect) as client:
        async with asyncio.timeout(timeout):
            while len(frames) < count:
                message = await client.recv()
                if isinstance(message, str) and json.loads(message)["type"] == "frame":
                    jpeg = await client.recv()
                    assert isinstance(jpeg, bytes), "a frame header is followed by its JPEG"
                    frames.append((json.loads(message), jpeg))
    return frames


async def ws_frames_during(url: str, seconds: float) -> List[dict]:
    """The frame headers /ws sends within ``seconds``."""
    headers: List[dict] = []
    async with websockets.connect(url, max_size=None) as client:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(client.recv(), left)
            except asyncio.TimeoutError:
                break
            if isinstance(message, str) and json.loads(message)["type"] == "frame":
                headers.append(json.loads(message))
    return headers


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def mjpeg_parts(port: int, count: int, path: str = "/stream.mjpg", headers: Optional[dict] = None) -> List[bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("content-type").startswith("multipart/x-mixed-replace")
        parts: List[bytes] = []
        buffer = b""
        while len(parts) < count:  # the body is chunked: read it decoded, parse the parts ourselves
            head_end = buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = buffer[:head_end].decode()
                assert head.startswith("--"), head
                length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))
                if len(buffer) >= head_end + 4 + length:
                    parts.append(buffer[head_end + 4:head_end + 4 + length])
                    buffer = buffer[head_end + 4 + length:].lstrip(b"\r\n")
                    continue
            chunk = response.read1(65536)
            assert chunk, "the stream ended"
            buffer += chunk
        return parts
    finally:
        connection.close()


def worker_threads() -> int:
    return sum(t.name.startswith("vistream-web-worker") for t in threading.enumerate())


def threads_started_since(before: set[threading.Thread], pool_too: bool = False) -> list[str]:
    """Live threads that were not in ``before`` (besides the server's bounded worker pool,
    unless ``pool_too``).

    Identities, not counts: a thread an earlier test left (a native callback's Dummy thread)
    may end while this test runs, and a count would then hide a leaked one.
    """
    return [t.name for t in threading.enumerate()
            if t not in before and t.is_alive() and (pool_too or not t.name.startswith("vistream-web-worker"))]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ----------------------------------------------------------------------------------- frames


def test_frames_arrive_over_websocket_and_mjpeg_and_change(clip):
    with serving(clip) as (player, view):
        frames = asyncio.run(ws_frames(ws_url(view), 6))
        indices = [header["index"] for header, _ in frames]
        assert indices == sorted(indices) and len(set(indices)) == len(indices), indices
        for header, _ in frames:
            assert {"index", "time", "serial", "published_at"} <= header.keys()
            assert abs(header["published_at"] - time.time()) < 5
        first, last = decode(frames[0][1]), decode(frames[-1][1])
        assert first.shape == (720, 1280, 3)
        assert np.abs(first.astype(int) - last.astype(int)).mean() > 1, "the frames do not change"

        parts = mjpeg_parts(view.port, 4)
        images = [decode(part) for part in parts]
        assert images[0].shape == (720, 1280, 3)
        assert np.abs(images[0].astype(int) - images[-1].astype(int)).mean() > 1

        state = http_json(f"{view.url}api/state")
        assert state["source"] == clip.name and state["mode"] == "realtime"
        assert (state["width"], state["height"], state["frame_count"]) == (1280, 720, FRAMES)
        assert state["fps"] > 5 and state["index"] >= 0 and not state["paused"]


def test_the_published_frame_is_the_annotated_one(clip):
    """The view shows what the callback drew (the frame the window and encoder get)."""
    player = vistream.Player(str(clip), display=False, mode="realtime", exit_at_end=False, play_audio=False,
                             web=WebOptions(port=0))

    @player.on_frame
    def paint(frame):
        frame.array[:] = (0, 0, 255)  # all red, in place

    runner = threading.Thread(target=player.run)
    runner.start()
    try:
        while player.web_view is None:
            time.sleep(0.01)
        (_, jpeg), = asyncio.run(ws_frames(ws_url(player.web_view), 1))
        image = decode(jpeg)
        assert np.abs(image.astype(int) - (0, 0, 255)).max() < 20
    finally:
        player.stop()
        runner.join(20)


# --------------------------------------------------------------------------------- controls


def test_pause_stops_frames_and_resume_restarts_them(clip):
    with serving(clip) as (player, view):
        asyncio.run(ws_frames(ws_url(view), 2))
        state = http_json(f"{view.url}api/control", {"action": "pause"})
        assert state["paused"] and player.paused
        # A frame in flight when the pause landed is still published (a loaded machine can hold
        # it in the callback for a while): wait until what the player shows reached the feed.
        deadline = time.monotonic() + 10
        time.sleep(0.3)
        while view.feed.last[0] != player.position.index and time.monotonic() < deadline:
            time.sleep(0.05)
        paused_at = http_json(f"{view.url}api/state")["index"]
        assert view.feed.last[0] == paused_at
        # a client connecting gets the frame on screen, once; then nothing while paused
        headers = asyncio.run(ws_frames_during(ws_url(view), 1.5))
        assert [header["index"] for header in headers] in ([], [paused_at]), "frames kept coming while paused"
        assert http_json(f"{view.url}api/state")["index"] == paused_at
        state = http_json(f"{view.url}api/control", {"action": "toggle"})
        assert not state["paused"]
        assert len(asyncio.run(ws_frames_during(ws_url(view), 1.0))) >= 5


def test_step_moves_exactly_one_frame_and_its_frame_is_sent(clip):
    with serving(clip) as (player, view):
        asyncio.run(ws_frames(ws_url(view), 2))
        paused = http_json(f"{view.url}api/control", {"action": "pause"})
        time.sleep(0.3)
        start = http_json(f"{view.url}api/state")["index"]
        assert start >= paused["index"]
        forward = http_json(f"{view.url}api/control", {"action": "step"})
        assert forward["index"] == start + 1 and forward["paused"]
        (header, jpeg), = asyncio.run(ws_frames(ws_url(view), 1))
        assert header["index"] == start + 1, "a page opened after the step shows the stepped frame"
        back = http_json(f"{view.url}api/control", {"action": "step", "frames": -1})
        assert back["index"] == start
        assert player.position.index == start


def test_step_and_speed_over_the_websocket(clip):
    async def scenario(url: str) -> Tuple[int, dict]:
        async with websockets.connect(url, max_size=None) as client:
            await client.send(json.dumps({"action": "pause"}))
            await client.send(json.dumps({"action": "speed", "speed": 2.0}))
            states = []
            async with asyncio.timeout(10):
                while not (states and states[-1]["paused"] and states[-1]["speed"] == 2.0):
                    message = await client.recv()
                    if isinstance(message, str) and json.loads(message)["type"] == "state":
                        states.append(json.loads(message))
            await asyncio.sleep(0.3)
            before = player.position.index
            await client.send(json.dumps({"action": "step", "frames": 1}))
            async with asyncio.timeout(10):
                while True:
                    message = await client.recv()
                    if isinstance(message, str) and json.loads(message)["type"] == "frame":
                        return before, json.loads(message)

    with serving(clip) as (player, view):
        before, header = asyncio.run(scenario(ws_url(view)))
        assert header["index"] == before + 1
        assert player.speed == 2.0


def test_seek_by_index_and_time(clip):
    with serving(clip) as (player, view):
        http_json(f"{view.url}api/control", {"action": "pause"})
        state = http_json(f"{view.url}api/control", {"action": "seek", "index": 150})
        assert state["index"] == 150
        state = http_json(f"{view.url}api/control", {"action": "seek", "time": 2.0})
        assert state["index"] == 60 and abs(state["time"] - 2.0) < 1e-6
        (header, _), = asyncio.run(ws_frames(ws_url(view), 1))
        assert header["index"] == 60


def test_bad_control_messages_answer_400(clip):
    with serving(clip) as (player, view):
        for body in ({"action": "jump"}, {"action": "seek"}, {"action": "speed", "speed": "fast"},
                     {"action": "step", "frames": 1.5}, [1, 2]):
            with pytest.raises(urllib.error.HTTPError) as refused:
                http_json(f"{view.url}api/control", body)
            assert refused.value.code == 400
            assert "error" in json.loads(refused.value.read())
        assert not player.paused, "a refused message changed nothing"


# ------------------------------------------------------------------------- pipeline panels


@contextlib.contextmanager
def serving_pipeline(clip: Path) -> Iterator[Tuple[vistream.Player, Any]]:
    """A looping realtime Player with a web view and a MotionDetector + ByteTrack + BoxAnnotator
    pipeline, run on a thread; stopped on exit."""
    from vistream.annotate import BoxAnnotator
    from vistream.detect import MotionDetector
    from vistream.pipeline import Pipeline
    from vistream.track import ByteTrack

    pipeline = Pipeline(MotionDetector(), ByteTrack(), [BoxAnnotator()])
    player = vistream.Player(str(clip), display=False, mode="realtime", exit_at_end=False, play_audio=False,
                             loop=True, web=WebOptions(port=0))
    player.on_frame(pipeline)
    runner = threading.Thread(target=player.run)
    runner.start()
    try:
        while player.web_view is None and runner.is_alive():
            time.sleep(0.01)
        yield player, pipeline
    finally:
        player.stop()
        runner.join(20)


def test_panels_params_and_highlight_reach_the_pipeline(clip):
    with serving_pipeline(clip) as (player, pipeline):
        url = player.web_view.url

        async def panels_messages() -> List[dict]:
            found = []
            async with websockets.connect(ws_url(player.web_view), max_size=None) as client:
                async with asyncio.timeout(10):
                    while len(found) < 2:
                        message = await client.recv()
                        if isinstance(message, str) and json.loads(message)["type"] == "panels":
                            found.append(json.loads(message))
            return found

        first, second = asyncio.run(panels_messages())
        assert {"index", "detections", "counts", "timings"} <= first.keys()
        assert second["index"] >= first["index"]
        panels = http_json(f"{url}api/panels")
        assert panels["index"] >= 0 and isinstance(panels["detections"], list)

        params = {(p["plugin"], p["name"]): p for p in http_json(f"{url}api/params")}
        assert params[("detector", "var_threshold")]["value"] == 25.0
        updated = http_json(f"{url}api/params", {"plugin": "detector", "name": "var_threshold", "value": 80})
        assert {(p["plugin"], p["name"]): p["value"] for p in updated}[("detector", "var_threshold")] == 80
        deadline = time.monotonic() + 5
        while pipeline.detector.var_threshold != 80 and time.monotonic() < deadline:
            time.sleep(0.05)  # applied at the start of the next frame, on the pipeline's thread
        assert pipeline.detector.var_threshold == 80
        for bad in ({"plugin": "detector", "name": "var_threshold", "value": 1e9},
                    {"plugin": "detector", "name": "no_such", "value": 1},
                    {"plugin": "detector", "name": "var_threshold", "value": "high"},
                    {"plugin": "detector"}):
            with pytest.raises(urllib.error.HTTPError) as refused:
                http_json(f"{url}api/params", bad)
            assert refused.value.code == 400 and json.loads(refused.value.read())["error"], bad

        assert http_json(f"{url}api/highlight", {"track_id": 7}) == {"highlighted": 7}
        assert pipeline.highlighted == 7
        http_json(f"{url}api/highlight", {"track_id": None})
        assert pipeline.highlighted is None


def test_a_change_while_paused_redraws_the_paused_frame_at_once(clip):
    """A highlight or a parameter set while paused shows on the frame on screen when the request
    returns: the player re-shows that frame (the pipeline runs on it again), without a step."""
    from vistream.annotate import BoxAnnotator
    from vistream.detect import MotionDetector
    from vistream.pipeline import Pipeline
    from vistream.track import ByteTrack

    with serving_pipeline(clip) as (player, pipeline):
        view = player.web_view
        url = view.url
        view.feed.wait_for_publish(5, 10)
        http_json(f"{url}api/control", {"action": "pause"})
        index = wait_until_still(view)
        published = view.feed.published

        assert http_json(f"{url}api/highlight", {"track_id": 7}) == {"highlighted": 7}
        panels = http_json(f"{url}api/panels")
        assert panels["index"] == index and panels["highlighted"] == 7, "the paused frame was redrawn with it"
        assert view.feed.published > published and view.feed.last[0] == index

        http_json(f"{url}api/params", {"plugin": "detector", "name": "var_threshold", "value": 60})
        assert pipeline.detector.var_threshold == 60, "applied on the re-shown frame, not at the next one"
        assert view.feed.last[0] == index and player.paused


def wait_until_still(view: WebView, quiet: float = 0.6, timeout: float = 15) -> int:
    """The index the paused player shows once no frame was published for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = view.feed.published, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if view.feed.published != last:
            last, since = view.feed.published, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return view.feed.last[0]
    raise AssertionError("frames kept coming after pause")


# ------------------------------------------------------------------------------------ files


def test_static_files_only_from_the_static_directory(clip):
    assert static_file("../server.py") is None
    assert static_file("../../__init__.py") is None
    assert static_file("/etc/passwd") is None
    with serving(clip) as (player, view):
        for path in ("/static/../server.py", "/static/..%2fserver.py", "/static/%2e%2e/server.py",
                     "/static/%2e%2e%2f%2e%2e%2fplayer.py", "/static//etc/passwd", "/static/..%5cserver.py"):
            connection = http.client.HTTPConnection("127.0.0.1", view.port, timeout=10)
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            connection.close()
            assert response.status == 404, (path, response.status)
            assert b"import" not in body and b"root:" not in body, path


# ------------------------------------------------------------------------------------- auth


def non_loopback_address() -> Tuple[str, str]:
    """(address to bind, address to connect to): this machine's own non-loopback address if it has
    one; else 0.0.0.0, reached through 127.0.0.1 (the token rule is about the bind address)."""
    candidates = set()
    with contextlib.suppress(OSError):
        candidates.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET))
    for address in sorted(candidates):
        if not address.startswith("127."):
            with contextlib.suppress(OSError), socket.socket() as probe:
                probe.bind((address, 0))
                return address, address
    return "0.0.0.0", "127.0.0.1"


def status_of(host: str, port: int, path: str, headers: Optional[dict] = None) -> Tuple[int, dict]:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        post = path.startswith("/api/control")
        connection.request("POST" if post else "GET", path, body=json.dumps({"action": "resume"}) if post else None,
                           headers={**({"content-type": "application/json"} if post else {}), **(headers or {})})
        response = connection.getresponse()
        if path.startswith("/stream.mjpg") and response.status == 200:
            assert response.read1(64).startswith(b"--"), "the stream is flowing"
        else:
            response.read()
        return response.status, dict(response.getheaders())
    finally:
        connection.close()


def test_non_loopback_bind_needs_the_token_on_every_endpoint(clip):
    bind, connect = non_loopback_address()
    static_name = next((p.name for p in sorted(STATIC_DIR.glob("*")) if p.is_file()), "missing.css")
    paths = ["/", f"/static/{static_name}", "/api/state", "/api/panels", "/api/params", "/api/control",
             "/stream.mjpg"]
    with serving(clip, web=WebOptions(port=0, host=bind)) as (player, view):
        token = view.token
        assert token and len(token) >= 16, "a non-loopback host without a token gets a generated one"
        assert f"?token={token}" in view.url
        for path in paths:
            assert status_of(connect, view.port, path)[0] == 401, path
            assert status_of(connect, view.port, path + "?token=wrong")[0] == 401, path
            assert status_of(connect, view.port, path, {"authorization": "Bearer nope"})[0] == 401, path
        for path in paths:
            status, _ = status_of(connect, view.port, path, {"authorization": f"Bearer {token}"})
            expected = 200 if path != f"/static/{static_name}" or (STATIC_DIR / static_name).is_file() else 404
            assert status == expected, (path, status)
        status, headers = status_of(connect, view.port, f"/?token={token}")
        assert status == 200
        cookie = headers.get("set-cookie", "")
        assert cookie.startswith(f"vistream_token={token}") and "HttpOnly" in cookie
        assert status_of(connect, view.port, "/api/state", {"cookie": f"vistream_token={token}"})[0] == 200

        url = f"ws://{connect}:{view.port}/ws"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            asyncio.run(ws_frames(url, 1))
        assert refused.value.response.status_code == 401
        with pytest.raises(websockets.exceptions.InvalidStatus):
            asyncio.run(ws_frames(url + "?token=wrong", 1))
        assert len(asyncio.run(ws_frames(f"{url}?token={token}", 2))) == 2
        assert len(asyncio.run(ws_frames(url, 1, additional_headers={"Authorization": f"Bearer {token}"}))) == 1


def test_loopback_needs_no_token_unless_given(clip):
    with serving(clip, web=WebOptions(port=0, token="s3cret-token")) as (player, view):
        assert view.token == "s3cret-token"
        assert status_of("127.0.0.1", view.port, "/api/state")[0] == 401
        assert status_of("127.0.0.1", view.port, "/api/state?token=s3cret-token")[0] == 200
    with serving(clip) as (player, view):
        assert view.token is None and "token" not in view.url
        assert status_of("127.0.0.1", view.port, "/api/state")[0] == 200


def test_other_sites_in_the_browser_cannot_use_a_loopback_view(clip):
    """No token on loopback: DNS rebinding (a foreign Host), cross-site WebSockets (a foreign
    Origin) and form/text POSTs (no CORS preflight) are refused; the page's own requests are not."""
    with serving(clip) as (player, view):
        assert status_of("127.0.0.1", view.port, "/api/state", {"host": "evil.example:80"})[0] == 403
        assert status_of("127.0.0.1", view.port, "/api/state", {"host": f"localhost:{view.port}"})[0] == 200
        connection = http.client.HTTPConnection("127.0.0.1", view.port, timeout=10)
        connection.request("POST", "/api/control", body=json.dumps({"action": "pause"}),
                           headers={"content-type": "text/plain"})
        assert connection.getresponse().status == 415
        connection.close()
        assert not player.paused, "the refused POST changed nothing"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            asyncio.run(ws_frames(ws_url(view), 1, origin="http://evil.example"))
        assert refused.value.response.status_code == 403
        same_origin = f"http://127.0.0.1:{view.port}"
        assert len(asyncio.run(ws_frames(ws_url(view), 1, origin=same_origin))) == 1


# ------------------------------------------------------------------------------------- load




def _rate_over(player: vistream.Player, seconds: float) -> float:
    processed, started = player.stats.frames_processed, time.monotonic()
    time.sleep(seconds)
    return (player.stats.frames_processed - processed) / (time.monotonic() - started)


def test_a_websocket_client_that_never_reads_does_not_slow_the_pipeline(noisy_clip):
    # Real-time at 30 fps, one run, windows without and with a client that never reads, taken in
    # turn so that the machine's changing load hits both alike. A per-client queue would hold
    # every JPEG (~170 kB, 30 a second: ~5 MB/s; a queueing variant of the feed grew by 15-19 MB
    # in 4 s here); the newest-wins feed holds at most
    # the slot's pixels, the pixels being encoded (0.7 MB each) and one JPEG, so the RSS may move
    # by ~2 MB: the limit is 8 MB over 4 s.
    alone: List[float] = []
    stalled: List[float] = []
    growths: List[int] = []
    with serving(noisy_clip, web=WebOptions(port=0, jpeg_quality=95), loop=True) as (player, view):
        time.sleep(0.5)
        for _ in range(2):
            alone.append(_rate_over(player, 4.0))
            client = stalled_websocket(view.port)
            try:
                time.sleep(0.5)  # the handshake done, the socket buffers filling
                rss = rss_bytes()
                stalled.append(_rate_over(player, 4.0))
                growths.append(rss_bytes() - rss)
                assert len(view.feed._subscribers) == 1, "the stalled client stayed connected"
            finally:
                client.close()
    assert sum(stalled) >= 0.85 * sum(alone), (alone, stalled)
    assert max(growths) < 8 * 1024 * 1024, f"the server's memory grew by {max(growths) / 1e6:.1f} MB in 4 s"


def test_twenty_client_cycles_leave_threads_and_memory_flat(clip):
    # 20 WebSocket and 20 MJPEG opens/closes, each taking a frame. Each cycle that leaked its
    # subscriber would keep a JPEG and its encoder wake-ups; one that leaked a thread shows as a
    # new live thread. RSS: a leak of one 720p frame per cycle is 2.7 MB x 40; 15 MB of slack covers
    # the allocator's arenas settling.
    with serving(clip) as (player, view):
        def cycle() -> None:
            asyncio.run(ws_frames(ws_url(view), 1))
            mjpeg_parts(view.port, 1)

        for _ in range(3):  # warm-up: worker threads of the thread pool, allocator arenas
            cycle()
        time.sleep(0.5)
        threads, rss = set(threading.enumerate()), rss_bytes()
        for _ in range(20):
            cycle()
        time.sleep(0.5)
        assert len(view.feed._subscribers) == 0, "every client left the feed"
        assert threads_started_since(threads) == []
        # the endpoints' worker pool is bounded: it may have grown to its size, never past it
        assert worker_threads() <= WORKER_THREADS, [t.name for t in threading.enumerate()]
        growth = rss_bytes() - rss
        assert growth < 15 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over 20 cycles"


# -------------------------------------------------------------------------------- lifecycle


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_start_stop_twice_closes_the_port_and_its_threads(clip):
    player = vistream.Player(str(clip), display=False, mode="realtime")
    before = set(threading.enumerate())
    view = WebView(player, port=0)
    for _ in range(2):
        with view:
            assert view.port > 0 and port_open(view.port)
            assert http_json(f"{view.url}api/state")["index"] == -1
            port = view.port
        assert not port_open(port)
        assert threads_started_since(before, pool_too=True) == []


def test_the_view_stops_when_the_callback_fails(clip):
    player = vistream.Player(str(clip), display=False, mode="realtime", web=WebOptions(port=0))
    ports = []

    @player.on_frame
    def fail(frame):
        ports.append(player.web_view.port)
        if frame.index >= 3:
            raise KeyError("plugin bug")

    with pytest.raises(KeyError, match="plugin bug"):
        player.run()
    assert ports and not port_open(ports[0])
    assert player.web_view is None


def test_pipeline_serve_returns_its_stats_when_stopped(clip):
    from vistream.annotate import BoxAnnotator
    from vistream.detect import MotionDetector
    from vistream.pipeline import Pipeline

    seen = {}

    def on_start(view: WebView) -> None:
        def watch() -> None:
            seen["frames"] = asyncio.run(ws_frames(ws_url(view), 3))
            seen["state"] = http_json(f"{view.url}api/state")
            view.player.stop()

        threading.Thread(target=watch).start()

    with Pipeline(MotionDetector(), None, [BoxAnnotator()]) as pipeline:
        stats = pipeline.serve(str(clip), port=0, on_start=on_start)
    assert len(seen["frames"]) == 3 and seen["state"]["mode"] == "realtime"
    assert stats.frames_processed >= 3


def test_vistream_serve_answers_and_stops_on_sigterm(clip, tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "vistream", "serve", str(clip), "--port", "0",
                                "--detector", "motion", "--output", str(tmp_path / "served.mp4")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        deadline = time.monotonic() + 10
        while (state := http_json(match.group(1) + "api/state"))["index"] < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert state["mode"] == "realtime" and state["index"] >= 5
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped by SIGTERM" in out
    assert (tmp_path / "served.mp4").is_file(), "the output was finalized"


def test_import_vistream_does_not_import_the_web_packages_and_a_missing_one_is_named(test_mp4):
    code = """
import sys
import vistream, vistream.web
from vistream.web import WebOptions
assert not any(name in sys.modules for name in ("starlette", "uvicorn")), "imported eagerly"
sys.modules["starlette"] = None  # as if the package were not installed
from vistream.web import WebView
try:
    WebView(vistream.Player(sys.argv[1], display=False), port=0)
except ImportError as error:
    print(error)
"""
    done = subprocess.run([sys.executable, "-c", code, str(test_mp4)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'vistream[web]'" in done.stdout and "starlette" in done.stdout


def test_web_options_are_checked(test_mp4):
    with pytest.raises(ValueError, match="port"):
        WebOptions(port=70000)
    with pytest.raises(TypeError, match="port"):
        vistream.Player(str(test_mp4), display=False, web="8000")
    with pytest.raises(ValueError, match="jpeg_quality"):
        WebOptions(jpeg_quality=0)
    with pytest.raises(TypeError, match="token"):
        WebOptions(token="")

