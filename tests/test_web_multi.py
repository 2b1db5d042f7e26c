"""Several sources on one page (issue 16): ``MultiPlayer(web=)`` serves every source live, each
tile with its own frames and state, one source at a time shown alone with its detections.

Sources: two clips generated per module with different content so that a frame of one cannot
pass for the other: the moving-shapes clip of test_web_browser (MotionDetector finds the three
shapes) and a plain ``testsrc2`` clip of another size. Servers are real (uvicorn on 127.0.0.1,
port 0); the page runs in Debian's headless Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import time
import urllib.error
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import websockets

import vistream
from vistream.detect.motion import MotionDetector
from vistream.track import ByteTrack
from vistream.web import WebOptions

from test_web_browser import (ARTIFACTS, WAIT, _CLIP_COMMAND, browser, script_errors,  # noqa: F401 (browser: fixture)
                              wait_for)
from test_web_server import http_json, non_loopback_address, port_open

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


SECONDS = 30


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory) -> Dict[str, Path]:
    folder = tmp_path_factory.mktemp("web_multi")
    shapes, bars = folder / "shapes.mp4", folder / "bars.mp4"
    # 30 s each: a realtime run outlasts what a test does with it even on a loaded machine
    longer = [arg.replace("d=10", f"d={SECONDS}") for arg in _CLIP_COMMAND]
    longer[longer.index("-t") + 1] = str(SECONDS)
    subprocess.run([*longer, str(shapes)], check=True, timeout=120)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=480x270:rate=25:duration={SECONDS}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", str(bars)],
                   check=True, timeout=120)
    return {"shapes": shapes, "bars": bars}


@contextlib.contextmanager
def running(sources: Dict[str, Path], web: Any = None, **options) -> Iterator[vistream.MultiPlayer]:
    """A realtime MultiPlayer with a web view, run on a thread; stopped on exit."""
    options.setdefault("realtime", True)
    multi = vistream.MultiPlayer({name: str(path) for name, path in sources.items()},
                                 detector=vistream.PerSourceDetector(MotionDetector),
                                 tracker=lambda: ByteTrack(frame_rate=30),
                                 web=web if web is not None else WebOptions(port=0), **options)
    outcome: Dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["stats"] = multi.run()
        except BaseException as error:  # noqa: BLE001 - re-raised by the test
            outcome["error"] = error

    runner = threading.Thread(target=run, name="test-multi-web")
    runner.start()
    try:
        deadline = time.monotonic() + WAIT
        while multi.web_view is None and runner.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert multi.web_view is not None, f"the web view did not start: {outcome}"
        multi.test_outcome = outcome  # type: ignore[attr-defined]
        yield multi
    finally:
        multi.stop()
        runner.join(WAIT)
        assert not runner.is_alive(), "MultiPlayer.run() did not end after stop()"
    if "error" in outcome:
        raise outcome["error"]


async def source_messages(url: str, frames: int, timeout: float = WAIT) -> Tuple[List[dict], List[dict], List[dict]]:
    """(frame headers, state messages, detections messages) of one source's WebSocket until
    ``frames`` frames (each header followed by its JPEG) and at least one of each other kind came."""
    headers: List[dict] = []
    states: List[dict] = []
    detections: List[dict] = []
    async with websockets.connect(url, max_size=None) as client:
        async with asyncio.timeout(timeout):
            while len(headers) < frames or not states or not detections:
                message = await client.recv()
                assert isinstance(message, str), "binary data comes only after a frame header"
                kind = json.loads(message)
                if kind["type"] == "frame":
                    jpeg = await client.recv()
                    assert isinstance(jpeg, bytes) and jpeg[:2] == b"\xff\xd8", "a JPEG follows its header"
                    headers.append(kind)
                elif kind["type"] == "state":
                    states.append(kind)
                elif kind["type"] == "detections":
                    detections.append(kind)
    return headers, states, detections


def test_every_source_streams_its_own_frames_state_and_detections(two_clips):
    with running(two_clips) as multi:
        view = multi.web_view
        base = f"http://127.0.0.1:{view.port}"
        run = http_json(f"{base}/api/sources")
        assert run["running"] is True
        assert [(s["position"], s["name"], s["label"]) for s in run["sources"]] == [
            (0, "shapes", "shapes.mp4"), (1, "bars", "bars.mp4")], "names and file names, never the directories"

        sizes = {}
        for position, name in enumerate(("shapes", "bars")):
            headers, states, detections = asyncio.run(source_messages(f"ws://127.0.0.1:{view.port}/ws/{position}", 5))
            indices = [h["index"] for h in headers]
            assert indices == sorted(indices) and indices[-1] > indices[0], f"{name}: frames move on: {indices}"
            assert states[-1]["name"] == name and states[-1]["state"] == "running"
            assert {"frames", "drops", "fps", "reconnects", "count", "counts"} <= states[-1].keys()
            sizes[name] = detections[-1]["rows"]
            for row in detections[-1]["rows"]:
                assert len(row["box"]) == 4 and row["class_name"] is not None
            # the counts over time come with the detections, up to the frame they describe
            series = detections[-1]["series"]
            assert len(series["time"]) == len(series["total"]) >= 1
            assert series["time"] == sorted(series["time"]) and series["time"][-1] == detections[-1]["time"]
            assert series["total"][-1] == len(detections[-1]["rows"])
            for values in series["by_class"].values():
                assert len(values) == len(series["time"])

        # the shapes clip has three moving shapes for the motion detector; one source's detections
        # never show up on the other's socket
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            shapes = http_json(f"{base}/api/sources/0")
            if len(shapes["detections"]) >= 2:
                break
            time.sleep(0.1)
        assert len(shapes["detections"]) >= 2 and shapes["count"] == len(shapes["detections"]), shapes
        assert sum(shapes["counts"].values()) == shapes["count"]
        series = shapes["series"]
        assert series["total"][-1] == len(shapes["detections"])
        assert all(sum(values[k] for values in series["by_class"].values()) == total
                   for k, total in enumerate(series["total"])), "the classes add up to the total at every point"

        with pytest.raises(urllib.error.HTTPError) as missing:
            http_json(f"{base}/api/sources/2")
        assert missing.value.code == 404
        with pytest.raises(websockets.exceptions.InvalidStatus):
            asyncio.run(source_messages(f"ws://127.0.0.1:{view.port}/ws/9", 1, timeout=5))


def test_mjpeg_per_source_and_the_page_is_served(two_clips):
    import cv2
    import numpy as np
    from test_web_server import mjpeg_parts

    with running(two_clips) as multi:
        port = multi.web_view.port
        shapes = cv2.imdecode(np.frombuffer(mjpeg_parts(port, 1, "/stream/0.mjpg")[0], np.uint8), cv2.IMREAD_COLOR)
        bars = cv2.imdecode(np.frombuffer(mjpeg_parts(port, 1, "/stream/1.mjpg")[0], np.uint8), cv2.IMREAD_COLOR)
        assert shapes.shape == (360, 640, 3) and bars.shape == (270, 480, 3), "each stream is its own source"
        page = urllib_text(f"http://127.0.0.1:{port}/")
        assert "multi.js" in page


def urllib_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=WAIT) as response:
        return response.read().decode()


def test_stop_from_the_page_ends_the_run_and_closes_the_port(two_clips):
    with running(two_clips, realtime=True) as multi:
        port = multi.web_view.port
        deadline = time.monotonic() + WAIT
        while http_json(f"http://127.0.0.1:{port}/api/sources")["frames"] < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http_json(f"http://127.0.0.1:{port}/api/stop", {}) == {"stopping": True}
        deadline = time.monotonic() + WAIT
        while multi.web_view is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert multi.web_view is None, "the view stops when the run ends"
        assert not port_open(port)
    stats = multi.test_outcome["stats"]
    assert all(s.state in ("stopped", "finished") for s in stats.sources.values()), stats
    assert stats.frames > 0


def test_offline_run_to_the_end_stops_the_view_and_keeps_every_frame(two_clips):
    with running(two_clips, realtime=False) as multi:
        deadline = time.monotonic() + 120
        while multi.web_view is not None and time.monotonic() < deadline:
            time.sleep(0.1)
    stats = multi.test_outcome["stats"]
    assert stats.sources["shapes"].frames == 30 * SECONDS and stats.sources["bars"].frames == 25 * SECONDS, stats
    assert stats.sources["shapes"].drops == 0 and stats.sources["bars"].drops == 0


def test_non_loopback_bind_needs_the_token_everywhere(two_clips):
    bind, connect = non_loopback_address()
    with running(two_clips, web=WebOptions(port=0, host=bind)) as multi:
        view = multi.web_view
        token = view.token
        assert token and f"?token={token}" in view.url
        for path in ("/", "/static/multi.js", "/api/sources", "/api/sources/0", "/stream/0.mjpg"):
            assert status_only(connect, view.port, path) == 401, path
            assert status_only(connect, view.port, path, {"authorization": f"Bearer {token}"}) == 200, path
        with pytest.raises(urllib.error.HTTPError) as refused:
            http_json(f"http://{connect}:{view.port}/api/stop", {})
        assert refused.value.code == 401 and not multi.stopping, "stop without the token is refused"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused_ws:
            asyncio.run(source_messages(f"ws://{connect}:{view.port}/ws/0", 1, timeout=5))
        assert refused_ws.value.response.status_code == 401
        headers, _, _ = asyncio.run(source_messages(f"ws://{connect}:{view.port}/ws/1?token={token}", 2))
        assert len(headers) >= 2


def status_only(host: str, port: int, path: str, headers: Optional[dict] = None) -> int:
    """The status of a GET, without reading the body (a stream's body never ends)."""
    import http.client

    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_port_in_use_fails_run_before_any_source_opens(two_clips):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        multi = vistream.MultiPlayer([str(two_clips["bars"])], web=taken.getsockname()[1])
        with pytest.raises(OSError, match="cannot listen"):
            multi.run()
    with pytest.raises(TypeError, match="web must be a port"):
        vistream.MultiPlayer([str(two_clips["bars"])], web="8000")


# ------------------------------------------------------------------------------------- the page


def tile_frames(driver: Any) -> Dict[str, int]:
    return {str(k): int(v) for k, v in driver.execute_script("return window.vistreamMulti.frames").items()}


def test_the_page_tiles_every_source_and_shows_one_alone_with_its_detections(two_clips, browser):
    from PIL import Image
    import io

    from vistream.annotate import BoxAnnotator, LabelAnnotator

    # the annotators draw the tracks into what the tiles show (the screenshots have the boxes)
    with running(two_clips, annotators=[BoxAnnotator(), LabelAnnotator()]) as multi:
        browser.get(multi.web_view.url)
        wait_for(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, ".tile")) == 2, "two tiles")
        names = [t.get_attribute("data-name") for t in browser.find_elements(By.CSS_SELECTOR, ".tile")]
        assert names == ["shapes", "bars"]
        # both tiles draw frames, and keep drawing
        wait_for(browser, lambda: all(n >= 3 for n in tile_frames(browser).values()), "both tiles draw frames")
        before = tile_frames(browser)
        wait_for(browser, lambda: all(tile_frames(browser)[k] > before[k] for k in before), "frames keep coming")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        Image.open(io.BytesIO(browser.get_screenshot_as_png())).save(ARTIFACTS / "multi_tiles.png")
        assert "sources" in browser.find_element(By.ID, "summary").text

        # a click shows the shapes source alone, with its detections table
        browser.find_elements(By.CSS_SELECTOR, ".tile")[0].click()
        wait_for(browser, lambda: browser.find_element(By.ID, "focus-panel").is_displayed(), "the focus panel shows")
        assert not browser.find_elements(By.CSS_SELECTOR, ".tile")[1].is_displayed(), "the other tile is hidden"
        wait_for(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#detections tbody tr")) >= 2,
                 "the shapes source's detections fill the table")
        assert "shapes.mp4" in browser.find_element(By.ID, "focus-state").text
        # its counts chart gains points while the source plays, the legend names the total
        chart = browser.find_element(By.ID, "counts-chart")
        wait_for(browser, lambda: int(chart.get_attribute("data-points")) >= 2, "the counts chart has points")
        points = int(chart.get_attribute("data-points"))
        wait_for(browser, lambda: int(chart.get_attribute("data-points")) > points, "the counts chart gains points")
        assert "total" in browser.find_element(By.ID, "counts-legend").text
        Image.open(io.BytesIO(browser.get_screenshot_as_png())).save(ARTIFACTS / "multi_focus.png")

        # Escape goes back to every tile
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        wait_for(browser, lambda: not browser.find_element(By.ID, "focus-panel").is_displayed(), "back to the tiles")
        assert all(t.is_displayed() for t in browser.find_elements(By.CSS_SELECTOR, ".tile"))

        # the page's stop button ends the run
        browser.find_element(By.ID, "stop").click()
        deadline = time.monotonic() + WAIT
        while multi.web_view is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert multi.web_view is None, "the run ended from the page"
        assert script_errors(browser) == [], "the page raised script errors"


# ---------------------------------------------------------------------------------- the command


def test_vistream_serve_with_several_sources_serves_them_on_one_page(two_clips):
    import re
    import signal
    import sys

    process = subprocess.Popen([sys.executable, "-m", "vistream", "serve", str(two_clips["shapes"]),
                                str(two_clips["bars"]), str(two_clips["bars"]), "--port", "0",
                                "--detector", "motion", "--tracker", "bytetrack"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for _ in range(5):
            line = process.stdout.readline()
            match = re.search(r"page at (http://127\.0\.0\.1:\d+/)", line)
            if match:
                url = match.group(1)
                break
        assert url, (line, process.stderr.read() if process.poll() is not None else "")
        run = http_json(f"{url}api/sources")
        assert [s["name"] for s in run["sources"]] == ["shapes", "bars", "bars-2"], "one tile per source, named"
        deadline = time.monotonic() + WAIT
        rows: List[dict] = []
        while time.monotonic() < deadline:
            rows = http_json(f"{url}api/sources/0")["detections"]
            if len(rows) >= 2 and all(r["track_id"] is not None for r in rows):
                break
            time.sleep(0.1)
        assert len(rows) >= 2 and all(r["track_id"] is not None for r in rows), \
            f"each source runs the detector and the tracker: {rows}"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped by SIGTERM" in out and "shapes: stopped" in out, out


def test_vistream_serve_refuses_single_source_options_with_several_sources(two_clips, tmp_path):
    import sys

    result = subprocess.run([sys.executable, "-m", "vistream", "serve", str(two_clips["shapes"]),
                             str(two_clips["bars"]), "--port", "0", "--output", str(tmp_path / "out.mp4")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--output works with one source" in result.stderr, result
    assert not (tmp_path / "out.mp4").exists()
