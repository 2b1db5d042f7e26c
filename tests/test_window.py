"""The player window, for real: an X server (Xvfb) started by the test, an SDL2 window on it,
keys sent with xdotool, screenshots taken with ImageMagick's `import`.

Skipped only when Xvfb/xdotool/import are not installed (scripts/setup.sh --test installs
them), and the skip says so loudly."""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import warnings

import numpy as np
import pytest

from conftest import TEST_MP4_FRAMES

TOOLS = ("Xvfb", "xdotool", "import")
MISSING = [t for t in TOOLS if shutil.which(t) is None]
if MISSING:
    warnings.warn(f"REAL WINDOW TESTS SKIPPED: {', '.join(MISSING)} not installed "
                  "(apt-get install xvfb xdotool imagemagick)")
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"window tests need {', '.join(TOOLS)}; missing: {MISSING}")

SCREEN = (1280, 800)


@pytest.fixture()
def xserver(monkeypatch):
    for number in range(91, 120):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not os.path.exists(f"/tmp/.X{number}-lock"):
            break
    display = f":{number}"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
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


def xdotool(*args, timeout=20):
    # SDL's window title is a UTF-8 property that xdotool's --name does not match; find the
    # window by our process id instead.
    cmd = ["xdotool", "search", "--sync", "--onlyvisible", "--pid", str(os.getpid()), "--classname", ".", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def close_window(display):
    """Asks the window to close the way a window manager's close button does: a
    WM_PROTOCOLS/WM_DELETE_WINDOW client message (libX11 through ctypes; Xvfb has no WM)."""
    import ctypes
    import ctypes.util

    window = int(xdotool().split()[0])
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]

    class XEvent(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    dpy = x11.XOpenDisplay(display.encode())
    assert dpy, "cannot connect to the X server"
    try:
        event = XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = window
        event.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        event.xclient.data[1] = 0  # CurrentTime
        assert x11.XSendEvent(dpy, window, 0, 0, ctypes.byref(event)) != 0
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)


def press(key):
    xdotool("windowfocus", "--sync", "key", key)


def window_geometry():
    out = xdotool("getwindowgeometry", "--shell")
    values = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


def screenshot(display):
    raw = subprocess.run(["import", "-display", display, "-window", "root", "-depth", "8", "rgb:-"],
                         capture_output=True, timeout=30, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(SCREEN[1], SCREEN[0], 3)


def wait_until(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def correlation(a, b):
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


def test_window_shows_video_and_keys_control_it(vs, test_mp4, xserver):
    seen = []
    player = vs.Player(test_mp4, display=True, paused=True, exit_at_end=False, osd=False)
    player.on_frame(lambda frame: seen.append(frame.index))
    keys = []
    player.on_key(lambda key: keys.append(key))
    errors = []
    thread = threading.Thread(target=lambda: errors.append(None) if player.run() is None else None, daemon=True)
    thread.start()
    try:
        player.seek(index=100)
        wait_until(lambda: seen and seen[-1] == 100, what="frame 100 in the callback")
        wait_until(lambda: player.frames_shown >= 1, what="frame 100 on screen")
        time.sleep(0.3)

        # The screenshot of the window is the decoded frame (RGB, scaled 1:1 here).
        x, y, w, h = window_geometry()
        shot = screenshot(xserver)[y:y + h, x:x + w]
        with vs.Reader(test_mp4, format="rgb24") as reader:
            frame100 = reader.frame_at(100).array
            frame0 = reader.frame_at(0).array
        visible = min(h, frame100.shape[0])
        assert (w, h) == (1280, 720)
        assert correlation(shot[:visible], frame100[:visible]) > 0.95
        assert correlation(shot[:visible], frame100[:visible]) > correlation(shot[:visible], frame0[:visible]) + 0.05

        # '.' steps forward one frame, ',' back one, while paused.
        press("period")
        wait_until(lambda: player.position.index == 101, what="step to 101")
        press("comma")
        press("comma")
        wait_until(lambda: player.position.index == 99, what="step back to 99")
        assert player.paused
        assert "." in keys and "," in keys  # the Python key hook saw them too

        # space resumes; frames advance; space pauses again
        press("space")
        wait_until(lambda: not player.paused and player.position.index > 110, what="playback after space")
        press("space")
        wait_until(lambda: player.paused, what="pause after space")
        paused_at = player.position.index
        time.sleep(0.5)
        assert player.position.index <= paused_at + 2

        # q quits cleanly
        press("q")
        thread.join(15)
        assert not thread.is_alive(), "run() did not return after q"
    finally:
        player.stop()
        thread.join(15)


def test_progress_bar_click_seeks_and_osd_appears(vs, test_mp4, xserver):
    player = vs.Player(test_mp4, display=True, paused=True, exit_at_end=False, mode="realtime")
    seen = []
    player.on_frame(lambda frame: seen.append(frame.index))
    thread = threading.Thread(target=player.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: player.frames_shown >= 1, what="first frame on screen")
        x, y, w, h = window_geometry()
        before = screenshot(xserver)[y + h - 40:y + h, x:x + w].astype(np.float64)
        # Click at 75% of the width on the progress bar (bottom edge): seek to 75% of the clip.
        xdotool("mousemove", "--window", "%1", str(int(w * 0.75)), str(h - 8), "click", "1")
        target = int(0.75 * TEST_MP4_FRAMES)
        wait_until(lambda: abs(player.position.index - target) <= 2, what=f"seek to about frame {target}")
        # Moving the mouse shows the OSD: the bottom band changes (dark band, bar, text).
        xdotool("mousemove", "--window", "%1", str(w // 2), str(h // 2))
        time.sleep(0.5)
        after = screenshot(xserver)[y + h - 40:y + h, x:x + w].astype(np.float64)
        assert np.abs(after - before).mean() > 10, "the OSD did not appear on mouse move"
        # ... and hides again after about 2 s.
        time.sleep(2.6)
        hidden = screenshot(xserver)[y + h - 40:y + h, x:x + w].astype(np.float64)
        assert np.abs(hidden - after).mean() > 10, "the OSD did not hide"
        # ']' doubles the speed, backspace resets it.
        assert player.speed == 1.0
        press("bracketright")
        wait_until(lambda: player.speed == 2.0, what="']' doubling the speed")
        press("BackSpace")
        wait_until(lambda: player.speed == 1.0, what="backspace resetting the speed")
    finally:
        player.stop()
        thread.join(15)
    assert not thread.is_alive()


def test_closing_window_while_slow_callback_runs_does_not_hang(vs, test_mp4, xserver, tmp_path):
    out = tmp_path / "closed.mp4"
    player = vs.Player(test_mp4, display=True, output=str(out))
    started = threading.Event()

    @player.on_frame
    def slow(frame):
        started.set()
        time.sleep(0.3)

    thread = threading.Thread(target=player.run, daemon=True)
    thread.start()
    assert started.wait(20)
    wait_until(lambda: player.frames_shown >= 1, what="a frame on screen")
    close_window(xserver)
    thread.join(20)
    assert not thread.is_alive(), "run() hung after the window was closed"
    from conftest import ffprobe_count
    assert 1 <= ffprobe_count(out) < TEST_MP4_FRAMES
