"""The player window, for real: an X server (Xvfb) started by the test, an SDL2 window on it,
keys sent with xdotool, screenshots taken with ImageMagick's `import`.

Skipped only when Xvfb/xdotool/import are not installed (scripts/setup.sh --test installs
them), and the skip says so loudly."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def last_frame_rgb(vs, test_mp4):
    with vs.Reader(test_mp4, format="rgb24") as reader:
        return reader.frame_at(TEST_MP4_FRAMES - 1).array, reader.frame_at(0).array


@pytest.mark.parametrize("mode", ["realtime", "offline"])
def test_end_while_paused_shows_last_frame_and_stays_open(vs, test_mp4, xserver, mode):
    # exit_at_end=True (the default): only playing to the end may end run(), not a user
    # action that reaches the end while paused.
    player = vs.Player(test_mp4, display=True, paused=True, mode=mode, osd=False)
    thread = threading.Thread(target=player.run, daemon=True)
    thread.start()
    last = TEST_MP4_FRAMES - 1

    def goes_to(action, index, what):
        seeks, shown = player.stats.seeks, player.frames_shown
        action()
        # The seek ran, and its frame went on screen (the index alone may not change: a seek
        # from the last frame past the end lands on the last frame again).
        wait_until(lambda: player.stats.seeks > seeks and player.position.index == index
                   and player.frames_shown > shown, what=what)
        time.sleep(0.4)  # time to (wrongly) close
        assert thread.is_alive(), f"run() ended after {what} while paused"
        assert player.paused

    try:
        wait_until(lambda: player.frames_shown >= 1, what="first frame on screen")
        goes_to(lambda: press("End"), last, "End")
        x, y, w, h = window_geometry()
        shot = screenshot(xserver)[y:y + h, x:x + w]
        last_rgb, first_rgb = last_frame_rgb(vs, test_mp4)
        assert correlation(shot, last_rgb) > 0.95
        assert correlation(shot, last_rgb) > correlation(shot, first_rgb) + 0.05

        # The engine still works after the end: Home goes back to frame 0 ...
        goes_to(lambda: press("Home"), 0, "Home")
        # ... and every other way past the end while paused keeps the window open too.
        player.seek(index=200)
        wait_until(lambda: player.position.index == 200, what="seek to 200")
        goes_to(lambda: press("Right"), last, "→ (+5 s) past the end")
        goes_to(lambda: press("Home"), 0, "Home")
        goes_to(lambda: press("shift+Right"), last, "shift+→ (+60 s) past the end")
        goes_to(lambda: press("Home"), 0, "Home")
        goes_to(lambda: xdotool("mousemove", "--window", "%1", str(w - 1), str(h - 4), "click", "1"), last,
                "a click at the end of the progress bar")
        goes_to(lambda: player.seek(index=10_000), last, "seek(index=10_000)")
        shown = player.frames_shown
        press("period")  # a step forward at the last frame: nothing further to show
        time.sleep(0.5)
        assert thread.is_alive() and player.position.index == last and player.frames_shown == shown

        press("q")
        thread.join(15)
        assert not thread.is_alive(), "run() did not return after q"
    finally:
        player.stop()
        thread.join(15)


def test_resuming_at_the_end_ends_run_with_exit_at_end(vs, test_mp4, xserver):
    # Playing (from the last frame) to the end still ends run() when exit_at_end=True.
    player = vs.Player(test_mp4, display=True, paused=True, mode="realtime", osd=False)
    thread = threading.Thread(target=player.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: player.frames_shown >= 1, what="first frame on screen")
        press("End")
        wait_until(lambda: player.position.index == TEST_MP4_FRAMES - 1, what="End")
        time.sleep(0.3)
        assert thread.is_alive()
        press("space")
        thread.join(15)
        assert not thread.is_alive(), "run() did not end when playback resumed at the end"
    finally:
        player.stop()
        thread.join(15)


def test_display_true_without_a_display_raises_with_the_reason(vs, test_mp4, monkeypatch, tmp_path):
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    out = tmp_path / "never.mp4"
    with pytest.raises(vs.VistreamError, match="neither DISPLAY nor WAYLAND_DISPLAY"):
        vs.Player(test_mp4, display=True, output=str(out))
    assert not out.exists(), "work was done before the display error"
    # A DISPLAY that names no server: SDL would fall back to an invisible renderer.
    monkeypatch.setenv("DISPLAY", ":199")
    with pytest.raises(vs.VistreamError, match="cannot connect to the display server.*:199"):
        vs.Player(test_mp4, display=True)
    # "auto" runs headless, with one warning that says why.
    monkeypatch.delenv("DISPLAY")
    with pytest.warns(RuntimeWarning, match=r"display='auto': running headless: no display server") as caught:
        player = vs.Player(test_mp4, display="auto")
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert player.display is False


def test_sound_through_alsa_without_a_sound_card_prints_no_alsa_lines(test_mp4):
    # A real SDL ALSA audio attempt (on a machine without a sound card it fails, and SDL says
    # so; with one, the sound plays): libasound's own error lines must not reach stderr.
    script = ("import logging, vistream as vs\n"
              "logging.basicConfig(level=logging.WARNING)\n"
              f"stats = vs.Player({str(test_mp4)!r}, mode='realtime', end=0.3).run()\n"
              "print('audio device:', stats.audio_device)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    env["SDL_AUDIODRIVER"] = "alsa"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # The attempt really went through ALSA: it played there, or SDL's ALSA driver said why not.
    assert "audio device: alsa" in result.stdout or "ALSA: Couldn't open audio device" in result.stderr, \
        (result.stdout, result.stderr)
    assert "ALSA lib" not in result.stderr, result.stderr


def test_osd_fps_excludes_paused_time(vs, test_mp4, xserver):
    player = vs.Player(test_mp4, display=True, mode="realtime")
    thread = threading.Thread(target=player.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: player.frames_shown >= 20, what="playback")
        player.pause()
        time.sleep(2.0)
        # Paused: the OSD keeps the rate of the playback before the pause.
        assert player.stats.display_fps > 0
        player.resume()
        time.sleep(1.2)
        # The real rate right now: frames that went on screen during one second.
        start_frames, start = player.frames_shown, time.monotonic()
        time.sleep(1.0)
        real = (player.frames_shown - start_frames) / (time.monotonic() - start)
        osd = player.stats.display_fps
        assert thread.is_alive()
        assert real > 5, f"the window showed only {real:.1f} fps"
        # Counting the 2 s pause (the old frames / time since start) would show about half.
        assert abs(osd - real) < 0.25 * real, f"OSD fps {osd:.1f}, real {real:.1f}"
    finally:
        player.stop()
        thread.join(15)
