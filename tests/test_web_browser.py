"""The web view's page (issue 16) driven in a real browser: Debian's headless ``chromium`` through
selenium and ``chromium-driver``, against a real ``WebView`` (uvicorn on 127.0.0.1, port 0) serving a
real realtime Player + Pipeline (MotionDetector + ByteTrack + BoxAnnotator).

Clip (generated per module, ``_CLIP_COMMAND``): a grey 640x360 background with three shapes that
move at different speeds: a 90x90 square (box area 3.5 % of the image), a disc of radius 35 (1.7 %)
and a 60x60 triangle (0.8 %), so the motion detector finds boxes that move and the ``min_area``
threshold decides how many there are.

Screenshots go to tests/artifacts/web/ (CI keeps the directory). Every wait is a condition
(WebDriverWait), never a fixed sleep: the machine running this may be loaded.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import numpy as np
import pytest
from PIL import Image

import vistream
from vistream.annotate import BoxAnnotator
from vistream.detect.motion import MotionDetector
from vistream.track import ByteTrack

# scripts/setup.sh --test installs selenium (pip) and chromium + chromium-driver (apt); missing = failure
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Generous: the browser, the player and the server share 2 loaded cores with other test runs.
WAIT = 30.0

_CLIP_COMMAND = [
    "ffmpeg", "-v", "error", "-y",
    "-f", "lavfi", "-i", "color=c=0x404040:s=640x360:r=30:d=10",
    "-f", "lavfi", "-i", "color=c=red:s=90x90:r=30,format=rgba",
    "-f", "lavfi", "-i", "color=c=0x00ff00:s=70x70:r=30,format=rgba,"
                         "geq=r='0':g='255':b='0':a='if(lt(hypot(X-35,Y-35),35),255,0)'",
    "-f", "lavfi", "-i", "color=c=0x3070ff:s=60x60:r=30,format=rgba,"
                         "geq=r='48':g='112':b='255':a='if(lt(X,Y),255,0)'",
    "-filter_complex",
    "[0][1]overlay=x='20+mod(t*90,510)':y=30:shortest=1[a];"
    "[a][2]overlay=x='540-mod(t*70,500)':y=150:shortest=1[b];"
    "[b][3]overlay=x='30+mod(t*110,520)':y=260:shortest=1,format=yuv420p",
    "-t", "10", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
]
# min_area thresholds (fraction of the image) between the shapes' areas: all three, two, one.
MIN_AREA_ALL, MIN_AREA_NO_TRIANGLE, MIN_AREA_SQUARE_ONLY = 0.0005, 0.012, 0.025


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("web_browser") / "shapes.mp4"
    subprocess.run([*_CLIP_COMMAND, str(path)], check=True, timeout=120)
    return path


class Served:
    """A ``Pipeline.serve`` run on a thread: the view, its player and pipeline; ``stop()`` ends it."""

    def __init__(self, clip: Path, port: int = 0, token: Optional[str] = None) -> None:
        self.pipeline = vistream.Pipeline(MotionDetector(), ByteTrack(frame_rate=30), [BoxAnnotator()])
        self.view: Any = None
        self.failure: Optional[BaseException] = None
        started = threading.Event()

        def on_start(view: Any) -> None:
            self.view = view
            started.set()

        def run() -> None:
            try:
                self.pipeline.serve(str(clip), port=port, token=token, loop=True, on_start=on_start)
            except BaseException as error:  # noqa: BLE001 - reported by the test
                self.failure = error
            finally:
                started.set()

        self._thread = threading.Thread(target=run, name="test-web-serve", daemon=True)
        self._thread.start()
        assert started.wait(WAIT), "Pipeline.serve did not start"
        assert self.view is not None, f"Pipeline.serve failed: {self.failure!r}"

    @property
    def url(self) -> str:
        return self.view.url

    def api(self, path: str, body: Optional[dict] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if self.view.token:
            headers["authorization"] = f"Bearer {self.view.token}"
        request = urllib.request.Request(f"http://127.0.0.1:{self.view.port}{path}", data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.view is not None:
            self.view.player.stop()
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "Pipeline.serve did not return after player.stop()"
        self.pipeline.close()
        if self.failure is not None:
            raise self.failure


@pytest.fixture(scope="module")
def served(moving_clip) -> Iterator[Served]:
    run = Served(moving_clip)
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium (Debian's), always quit, even when a test fails."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--force-device-scale-factor=1", "--hide-scrollbars"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.set_script_timeout(WAIT)
        yield driver
    finally:
        driver.quit()


def wait_for(driver: webdriver.Chrome, condition: Callable[[], Any], message: str, timeout: float = WAIT) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda _: condition(), message)


def number(element: WebElement) -> float:
    """An element's text as a number; NaN while it shows none ("–")."""
    try:
        return float(element.text)
    except ValueError:
        return float("nan")


def shown_index(driver: webdriver.Chrome) -> Optional[int]:
    text = driver.find_element(By.ID, "frame-index").text.strip()
    return int(text) if text.lstrip("-").isdigit() else None


def video_pixels(driver: webdriver.Chrome) -> np.ndarray:
    """A screenshot of the video element, with the HUD (drawn over it) blacked out: the HUD's
    numbers change on their own, and the comparisons are about the video's pixels."""
    video = driver.find_element(By.ID, "video")
    pixels = np.asarray(Image.open(io.BytesIO(video.screenshot_as_png)).convert("RGB")).astype(np.int16)
    hud = driver.execute_script(
        "const v = document.getElementById('video').getBoundingClientRect();"
        "const h = document.querySelector('.hud').getBoundingClientRect();"
        "return [h.left - v.left, h.top - v.top, h.right - v.left, h.bottom - v.top];")
    x1, y1, x2, y2 = (int(round(v)) for v in hud)
    pixels = pixels.copy()
    pixels[max(0, y1):max(0, y2), max(0, x1):max(0, x2)] = 0
    return pixels


def save(pixels: np.ndarray, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(ARTIFACTS / name)


def table_rows(driver: webdriver.Chrome) -> List[str]:
    """The detections table's rows (their ``data-track-id``), read at once: the table is rebuilt
    whenever the panels change, so elements found one by one may go stale between two reads."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#detections tbody tr')].map(r => r.dataset.trackId)")


def set_param(driver: webdriver.Chrome, plugin: str, name: str, value: float) -> WebElement:
    """Moves a parameter slider as a user's drag does: sets the value and fires ``input``."""
    selector = f'#params input[data-plugin="{plugin}"][data-name="{name}"]'
    slider = wait_for(driver, lambda: (driver.find_elements(By.CSS_SELECTOR, selector) or [None])[0],
                      f"no slider for {plugin}.{name}: "
                      f"{driver.execute_script('return document.getElementById(`params`).outerHTML')}")
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));", slider, str(value))
    return slider


def server_param(run: Served, plugin: str, name: str) -> Any:
    return next(p["value"] for p in run.api("/api/params") if p["plugin"] == plugin and p["name"] == name)


@pytest.fixture
def page(browser, served) -> Iterator[webdriver.Chrome]:
    """The page freshly loaded on a playing player with the default parameters and no highlight."""
    served.view.player.resume()
    served.api("/api/highlight", {"track_id": None})
    served.api("/api/params", {"plugin": "detector", "name": "min_area", "value": MIN_AREA_ALL})
    browser.get(served.url)
    wait_for(browser, lambda: browser.find_element(By.ID, "connection").get_attribute("data-status") == "connected",
             "the page did not connect")
    wait_for(browser, lambda: shown_index(browser) is not None, "no frame was drawn")
    yield browser
    assert script_errors(browser) == [], "the page raised script errors"


def script_errors(driver: webdriver.Chrome) -> List[str]:
    """Uncaught script errors the page logged since the last call (the console's SEVERE entries)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and entry.get("source") == "javascript"]


def wait_paused_and_still(driver: webdriver.Chrome) -> int:
    """Pauses with the page's button; returns the index shown once the server measures 0 fps (no
    frame delivered for a second, so nothing is in flight any more)."""
    driver.find_element(By.ID, "pause").click()
    wait_for(driver, lambda: "paused" in driver.find_element(By.TAG_NAME, "body").get_attribute("class"),
             "the page does not show the pause")
    wait_for(driver, lambda: driver.find_element(By.ID, "fps").text == "0.0", "frames still arrive after pause")
    return shown_index(driver)


def test_video_shows_frames_that_change_and_the_hud(page, served):
    first_index = shown_index(page)
    first = video_pixels(page)
    wait_for(page, lambda: shown_index(page) >= first_index + 10 or shown_index(page) < first_index,
             "the frame index does not advance")
    second = video_pixels(page)
    save(first, "playing_1.png")
    save(second, "playing_2.png")
    assert first.shape == second.shape and first.shape[1] >= 600, "the video element is drawn at its size"
    assert np.abs(first - second).mean() > 0.5, "two screenshots of the playing video are the same"
    wait_for(page, lambda: number(page.find_element(By.ID, "fps")) > 5, "fps is not shown")
    assert page.find_element(By.ID, "dropped").text.isdigit()
    assert ":" in page.find_element(By.ID, "frame-time").text
    # The latency bench's record: what was drawn and when.
    frames = page.execute_script("return window.vistreamFrames")
    assert len(frames) >= 2 and all({"index", "published_at", "shown_at"} <= f.keys() for f in frames)


def test_pause_stops_the_frames_and_step_moves_exactly_one(page, served):
    paused_index = wait_paused_and_still(page)
    paused = video_pixels(page)
    save(paused, "paused.png")
    # Still paused a whole server fps window later: the same frame, the same pixels.
    assert served.api("/api/state")["paused"] is True
    assert shown_index(page) == paused_index
    assert np.abs(video_pixels(page) - paused).max() == 0, "the paused video changed"

    page.find_element(By.ID, "step-forward").click()
    wait_for(page, lambda: shown_index(page) == paused_index + 1, "step forward did not show the next frame")
    stepped = video_pixels(page)
    save(stepped, "step_forward.png")
    assert np.abs(stepped - paused).mean() > 0.05, "the stepped frame looks like the paused one"
    assert served.view.player.position.index == paused_index + 1

    page.find_element(By.ID, "step-back").click()
    wait_for(page, lambda: shown_index(page) == paused_index, "step back did not show the previous frame")
    back = video_pixels(page)
    assert np.abs(back - paused).mean() < 1.0, "stepping back did not show the paused frame again"

    # The window's keys: '.' and ',' step, space resumes.
    body = page.find_element(By.TAG_NAME, "body")
    body.send_keys(".")
    wait_for(page, lambda: shown_index(page) == paused_index + 1, "'.' did not step forward")
    body.send_keys(",")
    wait_for(page, lambda: shown_index(page) == paused_index, "',' did not step back")
    assert served.api("/api/state")["paused"] is True, "stepping resumed the player"
    body.send_keys(" ")
    wait_for(page, lambda: shown_index(page) > paused_index + 3, "space did not resume")
    assert served.api("/api/state")["paused"] is False, "space pressed a button as well"


def test_threshold_slider_changes_the_rows_of_the_detections_table(page, served):
    wait_for(page, lambda: len(table_rows(page)) == 3, "the three moving shapes are not all in the table")
    assert all(track_id.isdigit() for track_id in table_rows(page)), "rows carry their track id"
    slider = set_param(page, "detector", "min_area", MIN_AREA_NO_TRIANGLE)
    label = slider.find_element(By.XPATH, "preceding-sibling::label")
    assert "min_area" in label.text and "0.012" in label.text
    assert "fraction of the image area" in slider.find_element(By.XPATH, "following-sibling::p[@class='doc']").text
    wait_for(page, lambda: len(table_rows(page)) == 2, "a higher min_area did not drop the triangle's row")
    set_param(page, "detector", "min_area", MIN_AREA_SQUARE_ONLY)
    wait_for(page, lambda: len(table_rows(page)) == 1, "min_area above the disc's area left more than one row")
    assert server_param(served, "detector", "min_area") == pytest.approx(MIN_AREA_SQUARE_ONLY)
    save(video_pixels(page), "min_area_square_only.png")
    set_param(page, "detector", "min_area", MIN_AREA_ALL)
    wait_for(page, lambda: len(table_rows(page)) == 3, "lowering min_area again did not bring the rows back")

    # A value the server refuses shows its error beside the slider (and changes nothing).
    page.execute_script("arguments[0].max = '1'", slider)
    set_param(page, "detector", "min_area", 0.5)
    error = slider.find_element(By.XPATH, "following-sibling::p[@class='error']")
    wait_for(page, lambda: "min_area" in error.text, "the server's refusal is not shown")
    assert server_param(served, "detector", "min_area") == pytest.approx(MIN_AREA_ALL)


def test_count_chart_gains_points(page, served):
    chart = page.find_element(By.ID, "counts-chart")
    wait_for(page, lambda: int(chart.get_attribute("data-points")) > 0, "the chart has no points")
    before = int(chart.get_attribute("data-points"))
    wait_for(page, lambda: int(chart.get_attribute("data-points")) > before, "the chart does not gain points")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.save_screenshot(str(ARTIFACTS / "page.png"))  # the whole page (docs/images/web.png)
    legend = page.find_element(By.ID, "counts-legend").text
    assert "total" in legend and "motion" in legend, "total and per-class lines are both plotted"
    wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, "#timings .timing[data-stage='detect']"),
             "the plugin timings are not shown")


def click_row(page, track_id: int) -> None:
    """Clicks the table row of a track; the table is re-rendered when panels arrive, so a row
    found an instant earlier may be gone: find it again."""
    for _ in range(100):
        try:
            page.find_element(By.CSS_SELECTOR, f'#detections tbody tr[data-track-id="{track_id}"]').click()
            return
        except (StaleElementReferenceException, NoSuchElementException):
            time.sleep(0.05)
    raise AssertionError(f"the row of track {track_id} kept being re-rendered under the click")


def row_class(page, track_id: int) -> "str | None":
    """The row's class attribute ("" for none); None when the row was being re-rendered."""
    try:
        return page.find_element(By.CSS_SELECTOR, f'#detections tbody tr[data-track-id="{track_id}"]').get_attribute("class") or ""
    except (StaleElementReferenceException, NoSuchElementException):
        return None


def test_clicking_a_row_highlights_its_track_on_the_video(page, served):
    wait_for(page, lambda: len(table_rows(page)) == 3, "the three shapes are not all in the table")
    paused_index = wait_paused_and_still(page)
    panels = served.api("/api/panels")
    assert panels["index"] == paused_index
    detection = max(panels["detections"], key=lambda d: (d["box"][2] - d["box"][0]) * (d["box"][3] - d["box"][1]))
    track_id = detection["track_id"]
    before = video_pixels(page)

    click_row(page, track_id)
    wait_for(page, lambda: "highlighted" in (row_class(page, track_id) or ""), "the clicked row is not marked")
    wait_for(page, lambda: served.pipeline.highlighted == track_id, "the click did not reach /api/highlight")
    # Paused, the frame on screen is redrawn with the highlight at once: no step needed.
    scale = before.shape[1] / served.api("/api/state")["width"]
    x1, y1, x2, y2 = (int(round(v * scale)) for v in detection["box"])
    pad = max(4, int(8 * scale))
    inside = np.zeros(before.shape[:2], bool)
    inside[max(0, y1 - pad):y2 + pad, max(0, x1 - pad):x2 + pad] = True

    def changed_inside() -> "np.ndarray | None":
        after = video_pixels(page)
        change = np.abs(after - before).max(axis=2) > 40
        return (after, change) if change[inside].sum() > 50 else None

    after, change = wait_for(page, changed_inside, "the paused frame was not redrawn with the highlight")
    save(before, "highlight_before.png")
    save(after, "highlight_after.png")
    assert shown_index(page) == paused_index, "the highlight shows on the paused frame itself"
    assert change[~inside].mean() < 0.01, "the highlight changed pixels away from the track (other ids changed?)"

    # Clicking the row again clears the highlight.
    click_row(page, track_id)
    wait_for(page, lambda: served.pipeline.highlighted is None, "a second click did not clear the highlight")
    # a click toggles what the page believes is highlighted: let it see the clear first
    wait_for(page, lambda: "highlighted" not in (row_class(page, track_id) or "") and
             served.pipeline.highlighted is None,
             "the page still marks the row after the clear")

    # A click on the box in the video does the same (offsets are from the element's centre).
    video = page.find_element(By.ID, "video")
    size = video.size
    at_box = ((x1 + x2) / 2 - size["width"] / 2, (y1 + y2) / 2 - size["height"] / 2)
    # The page picks the smallest box under the pointer: the shapes move and may overlap there.
    cx, cy = (detection["box"][0] + detection["box"][2]) / 2, (detection["box"][1] + detection["box"][3]) / 2
    under = [d for d in panels["detections"] if d["box"][0] <= cx <= d["box"][2] and d["box"][1] <= cy <= d["box"][3]]
    expected = min(under, key=lambda d: (d["box"][2] - d["box"][0]) * (d["box"][3] - d["box"][1]))["track_id"]
    ActionChains(page).move_to_element_with_offset(video, *at_box).click().perform()
    wait_for(page, lambda: served.pipeline.highlighted == expected, "a click on the box did not highlight its track")
    ActionChains(page).move_to_element_with_offset(video, *at_box).click().perform()
    wait_for(page, lambda: served.pipeline.highlighted is None, "a second click on the box did not clear it")


def test_disconnect_is_shown_and_the_page_reconnects_to_a_restarted_server(browser, moving_clip):
    with socket.socket() as probe:  # a fixed port the restarted server binds again
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first = Served(moving_clip, port=port)
    try:
        browser.get(first.url)
        status = lambda: browser.find_element(By.ID, "connection").get_attribute("data-status")  # noqa: E731
        wait_for(browser, lambda: status() == "connected", "the page did not connect")
        wait_for(browser, lambda: shown_index(browser) is not None, "no frame was drawn")
    finally:
        first.stop()
    wait_for(browser, lambda: status() == "disconnected", "a stopped server is not shown as disconnected")
    overlay = browser.find_element(By.ID, "overlay")
    assert overlay.is_displayed() and "disconnected" in overlay.text
    save(video_pixels(browser), "disconnected.png")

    second = Served(moving_clip, port=port)
    try:
        drawn = browser.execute_script("return window.vistreamFrames.length")
        wait_for(browser, lambda: status() == "connected", "the page did not reconnect to the restarted server")
        wait_for(browser, lambda: browser.execute_script("return window.vistreamFrames.length") > drawn + 5,
                 "no frames after the reconnect")
        assert not browser.find_element(By.ID, "overlay").is_displayed()
    finally:
        second.stop()


def test_seek_bar_seeks_on_release_and_speed_follows_the_select_and_keys(page, served):
    seek = page.find_element(By.ID, "seek")
    assert float(seek.get_attribute("max")) == pytest.approx(10, abs=0.1), "the bar spans the clip's duration"
    playing_value = float(seek.get_attribute("value"))
    wait_for(page, lambda: float(seek.get_attribute("value")) != playing_value, "the bar does not follow playback")
    wait_paused_and_still(page)

    # Dragging shows the target time; nothing is sought until the bar is released.
    page.execute_script("arguments[0].value = '2'; arguments[0].dispatchEvent(new Event('input'))", seek)
    assert page.find_element(By.ID, "position").text == "0:02.000"
    page.execute_script("arguments[0].dispatchEvent(new Event('change'))", seek)
    wait_for(page, lambda: shown_index(page) == 60, "releasing the bar at 2 s did not show frame 60")
    assert served.view.player.position.index == 60
    assert page.find_element(By.ID, "frame-time").text == "0:02.000"

    speed = page.find_element(By.ID, "speed")
    page.execute_script("arguments[0].value = '2'; arguments[0].dispatchEvent(new Event('change'))", speed)
    wait_for(page, lambda: served.view.player.speed == 2, "the speed select did not reach the player")
    body = page.find_element(By.TAG_NAME, "body")
    body.send_keys("]")
    wait_for(page, lambda: served.view.player.speed == 4, "']' did not double the speed")
    body.send_keys(Keys.BACKSPACE)
    wait_for(page, lambda: served.view.player.speed == 1, "backspace did not reset the speed")
    wait_for(page, lambda: speed.get_attribute("value") == "1", "the select does not show the speed")


def test_the_page_carries_the_token_of_its_url(browser, moving_clip):
    run = Served(moving_clip, token="page-token-1234")
    try:
        assert "?token=page-token-1234" in run.url
        browser.delete_all_cookies()
        browser.get(run.url)
        wait_for(browser, lambda: browser.find_element(By.ID, "connection").get_attribute("data-status") == "connected",
                 "the page did not connect with the token")
        wait_for(browser, lambda: shown_index(browser) is not None, "no frame was drawn")
        set_param(browser, "detector", "min_area", MIN_AREA_NO_TRIANGLE)
        wait_for(browser, lambda: server_param(run, "detector", "min_area") == pytest.approx(MIN_AREA_NO_TRIANGLE),
                 "a parameter change did not pass the token check")
        assert script_errors(browser) == []
    finally:
        run.stop()
