"""The MultiPlayer's mosaic window, for real: an X server (Xvfb) started by the test, the SDL2
window of ``vistream._core.ImageWindow`` on it, clicks and keys sent with xdotool, screenshots
taken with ImageMagick's ``import`` (scripts/setup.sh --test installs all three)."""
from __future__ import annotations

import os
import subprocess
import threading
import time

import numpy as np
import pytest

import vistream

SECONDS = 6


@pytest.fixture()
def xserver(monkeypatch):
    for number in range(140, 180):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not os.path.exists(f"/tmp/.X{number}-lock"):
            break
    display = f":{number}"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(f"/tmp/.X11-unix/X{number}"):
        assert proc.poll() is None, "Xvfb exited at start"
        assert time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.05)
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    try:
        yield display
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def colour_clips(tmp_path_factory):
    """A red and a blue clip (320x240, 25 fps), so each tile is recognisable on screen."""
    directory = tmp_path_factory.mktemp("mosaic")
    paths = []
    for colour in ("red", "blue"):
        path = directory / f"{colour}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"color=c={colour}:size=320x240:rate=25:duration={SECONDS}", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True, capture_output=True)
        paths.append(str(path))
    return paths


def xdotool(*args):
    result = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--pid", str(os.getpid()),
                             "--classname", ".", *args], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    return result.stdout


def window_geometry():
    text = xdotool("getwindowgeometry", "--shell")
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


def screenshot(display, geometry):
    x, y, width, height = geometry
    raw = subprocess.run(["import", "-display", display, "-window", "root", "-depth", "8", "rgb:-"],
                         capture_output=True, check=True, timeout=20).stdout
    screen = np.frombuffer(raw, np.uint8).reshape(768, 1024, 3)
    return screen[y:y + height, x:x + width]


def colour_at(picture, fx, fy):
    """'red', 'blue' or 'other' for the mean colour around a fractional position."""
    h, w = picture.shape[:2]
    r, g, b = picture[int(fy * h) - 5:int(fy * h) + 5, int(fx * w) - 5:int(fx * w) + 5].reshape(-1, 3).mean(0)
    if r > 150 and b < 80 and g < 80:
        return "red"
    if b > 150 and r < 80 and g < 80:
        return "blue"
    return "other"


def wait_for(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_mosaic_tiles_osd_click_to_focus_and_quit_key(colour_clips, xserver):
    multi = vistream.MultiPlayer({"red": colour_clips[0], "blue": colour_clips[1]}, realtime=True,
                                 display=True, display_size=(640, 240), title="mosaic test")
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(stats=multi.run()), daemon=True)
    started = time.monotonic()
    runner.start()
    try:
        wait_for(lambda: multi.mosaic is not None and multi.mosaic.window.frames_shown > 0, "the first mosaic")
        geometry = window_geometry()
        assert geometry[2:] == (640, 240)

        def layout():
            shot = screenshot(xserver, geometry)
            return colour_at(shot, 0.3, 0.6), colour_at(shot, 0.7, 0.6)

        wait_for(lambda: layout() == ("red", "blue"), "red and blue tiles side by side")
        # per-tile OSD: white text in the top-left corner of the red tile
        shot = screenshot(xserver, geometry)
        corner = shot[2:22, 2:150].reshape(-1, 3)
        assert (corner.min(axis=1) > 200).sum() > 20, "no OSD text on the tile"

        # a click on the blue tile shows blue alone, full window
        xdotool("mousemove", "--window", "%1", "480", "120", "click", "1")
        wait_for(lambda: multi.mosaic.focus == "blue", "the focus on the clicked tile")
        wait_for(lambda: layout() == ("blue", "blue"), "the focused source filling the window")
        # another click goes back to the mosaic
        xdotool("mousemove", "--window", "%1", "100", "120", "click", "1")
        wait_for(lambda: multi.mosaic.focus is None, "the mosaic again")
        wait_for(lambda: layout() == ("red", "blue"), "both tiles again")

        xdotool("key", "q")  # q stops the run before the clips end
        runner.join(10)
        assert not runner.is_alive(), "q did not stop the MultiPlayer"
    finally:
        multi.stop()
        runner.join(10)
    assert time.monotonic() - started < SECONDS + 3
    stats = outcome["stats"]
    assert all(source.state in ("stopped", "finished") for source in stats.sources.values())
    assert multi.mosaic.window.closed


def test_display_without_a_display_server_raises_before_starting(colour_clips, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    multi = vistream.MultiPlayer(colour_clips, display=True)
    with pytest.raises(vistream.VistreamError, match="display server"):
        multi.run()
