"""Seeded races: the engine's old race points, with a sleep injected inside each window.

A race needs two threads to meet inside a window that is usually microseconds wide. The core
has test-only pause points there (include/vistream/test_hooks.hpp): with
VISTREAM_TEST_DELAYS="point:ms,..." set, the thread passing a point sleeps, which turns the bad
interleaving into the usual one. Each scenario runs in a child interpreter with the variable
set (it is read once per process, and a crash must fail the test, not kill pytest) and checks
what a user relies on. Each also checks that the delay really happened, so a renamed or
removed pause point fails here instead of passing silently.

The points (docs/architecture.md, "Seeded races"):
  audio_packet_write  packet sink, after reading the packet's generation, before the sound
                      device and the recorder get the packet (a seek meanwhile makes it stale)
  encode_frame        encode thread, while it holds its own reference of a frame the hook and
                      the window still hold, with the trimmed pts set on that reference
  frame_hook_call     run() thread, just before the frame hook (Python may swap callbacks)
  abort_window        stop(), inside the window lock, before closing the window
  close_window        end of run(), the window taken out, before it is finished and freed
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import TEST_MP4_FRAMES


def run_with_delays(code: str, delays: str, timeout: float = 180, **env: str) -> dict:
    """Runs `code` in a child interpreter with VISTREAM_TEST_DELAYS=`delays`; returns the JSON
    it printed last. A crash (negative status: killed by a signal) or a hang fails the test."""
    child_env = dict(os.environ, VISTREAM_TEST_DELAYS=delays, **env)
    try:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=child_env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:  # pragma: no cover - only on an engine bug
        pytest.fail(f"child hung for more than {timeout}s with {delays}\n"
                    f"stdout: {error.stdout!r}\nstderr: {error.stderr!r}")
    assert proc.returncode == 0, (
        f"child exited with status {proc.returncode} with {delays} (negative = killed by a signal)"
        f"\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"child printed nothing; stderr:\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1])


def test_seek_while_the_packet_sink_writes_plays_no_audio_of_the_old_position(test_mp4):
    """Old race: a seek flushed the sound decoder on the source thread while the decode thread
    was writing a packet of the old position into it; that packet's sound was heard after the
    seek. With the packet sink held up after reading a packet's generation, seeks land inside
    writes; a sampler thread compares what is heard with the picture every 2 ms."""
    res = run_with_delays(f"""
        import json, threading, time
        import vistream as vs
        player = vs.Player({str(test_mp4)!r}, mode="realtime")
        targets = [6.0, 1.0, 4.5, 2.5, 7.0, 0.3, 5.5, 3.0, 6.5, 1.5] * 3
        state = {{"done": 0, "since": 0, "picture": (-1, 0.0, 0)}}  # picture: serial, time, frames into it
        samples = []  # picture serial, picture time, frames into it, heard time (None: silent), heard serial
        done = threading.Event()

        @player.on_frame
        def callback(frame):
            state["since"] = 0 if frame.discontinuity else state["since"] + 1
            state["picture"] = (frame.serial, frame.time, state["since"])
            if state["since"] >= 8:
                if state["done"] == len(targets):
                    player.stop()
                    return
                player.seek(time=targets[state["done"]])
                state["done"] += 1

        def sample():
            while not done.is_set():
                heard, heard_serial = player._core._audio_clock()
                samples.append((*state["picture"], heard, heard_serial))
                time.sleep(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        stats = player.run()
        done.set()
        sampler.join()
        print(json.dumps({{"samples": samples, "seeks": stats.seeks, "device": stats.audio_device,
                          "targets": len(targets)}}))
    """, "audio_packet_write:10")
    assert res["device"] == "dummy", "the sound must really be played (SDL dummy device)"
    assert res["seeks"] == res["targets"]
    samples = res["samples"]
    # The sound never plays a timeline older than the picture's.
    stale = [s for s in samples if s[4] >= 0 and s[4] < s[0]]
    assert not stale, stale[:5]
    # Nor the old position under the new timeline's number: what is heard is where the picture
    # is (seek targets are at least 1.5 s apart, so sound of the old position would be far off).
    heard = [s for s in samples if s[3] is not None and s[4] == s[0]]
    assert len(heard) >= 50, "the sound of the picture's timeline played during the run"
    off = [s for s in heard if abs(s[3] - s[1]) > 0.5]
    assert not off, off[:5]


def test_frames_handed_to_python_keep_their_pts_while_the_encoder_holds_them(test_mp4, tmp_path):
    """Old race: to trim the output (start=), the encode thread shifted the pts of the very
    frame the hook and the window held, and shifted it back after encoding. With the encoder
    held up while it has the trimmed pts set, Python looks at every frame it kept."""
    res = run_with_delays(f"""
        import json, time
        import vistream as vs
        player = vs.Player({str(test_mp4)!r}, output={str(tmp_path)!r} + "/trim.mp4", start=2.0,
                           end=4.0, audio=False)
        kept = []
        changed = []

        @player.on_frame
        def watch(frame):
            kept.append((frame, frame.pts, frame.time))
            # Meanwhile the encoder works on the frames queued before this one.
            deadline = time.perf_counter() + 0.02
            while time.perf_counter() < deadline:
                for old, pts, t in kept[-12:]:
                    if old.pts != pts or old.time != t:
                        changed.append((old.index, pts, old.pts))

        started = time.perf_counter()
        stats = player.run()
        elapsed = time.perf_counter() - started
        changed += [(f.index, pts, f.pts) for f, pts, t in kept if f.pts != pts or f.time != t]
        print(json.dumps({{"changed": changed[:5], "encoded": stats.frames_encoded,
                          "first_time": kept[0][2], "elapsed": elapsed}}))
    """, "encode_frame:40")
    assert res["encoded"] >= 55
    assert res["elapsed"] >= res["encoded"] * 0.040 * 0.9, "the encode_frame delay never happened"
    assert res["changed"] == [], "a frame's pts changed under Python while it was encoded"
    assert abs(res["first_time"] - 2.0) < 0.05, "Python sees source time, not the file's trimmed time"


def test_stop_while_the_window_closes_returns_and_frames_shown_never_goes_back(test_mp4):
    """Old race: stop() (any thread) and frames_shown() used the window while run() took it
    down and freed it. Both delays hold each side inside its window: stop() inside the window
    lock before closing it, run() after taking the window out, before freeing it."""
    res = run_with_delays(f"""
        import json, threading, time
        import vistream as vs
        player = vs.Player({str(test_mp4)!r}, display=True, end=2.0)
        shown = []
        stop_calls = []
        polling = threading.Event()

        def poll():
            while not polling.is_set():
                shown.append(player.frames_shown)
                time.sleep(0.002)

        def stop_soon():
            begun = time.perf_counter()
            player.stop()
            stop_calls.append(time.perf_counter() - begun)

        @player.on_frame
        def callback(frame):
            if frame.index == 20:
                threading.Thread(target=stop_soon).start()

        poller = threading.Thread(target=poll)
        poller.start()
        started = time.perf_counter()
        stats = player.run()
        ran = time.perf_counter() - started
        time.sleep(0.5)  # stop() may still be inside the window lock
        polling.set()
        poller.join()
        shown.append(player.frames_shown)
        print(json.dumps({{"shown": shown, "stop_calls": stop_calls, "ran": ran,
                          "processed": stats.frames_processed}}))
    """, "abort_window:300,close_window:300", SDL_VIDEODRIVER="dummy")
    assert res["stop_calls"] and res["stop_calls"][0] >= 0.25, "the abort_window delay never happened"
    assert res["processed"] < 60, "stop() from another thread ended the run"
    assert res["ran"] < 10
    shown = res["shown"]
    assert shown[-1] > 0, "frames reached the window"
    backwards = [(a, b) for a, b in zip(shown, shown[1:]) if b < a]
    assert not backwards, f"frames_shown() went back while the window closed: {backwards[:5]}"


def test_callbacks_swapped_from_another_thread_while_running_each_frame_goes_to_one(test_mp4):
    """Old race: on_frame() while running replaced the native hook the run() thread was calling.
    Now the native hook is installed once before the threads start and the Python callable is
    swapped under the GIL. With the run() thread held up just before each hook call, another
    thread swaps the callback hundreds of times; media info read meanwhile never changes."""
    res = run_with_delays(f"""
        import json, threading, time
        import vistream as vs
        player = vs.Player({str(test_mp4)!r}, hwaccel="auto", format="gray")
        handled = {{"a": [], "b": []}}
        before_run = player.info.hwaccel
        infos = set()
        done = threading.Event()

        def make(name):
            def callback(frame):
                handled[name].append(frame.index)
            return callback

        callbacks = [make("a"), make("b")]

        def swap():
            swaps = 0
            while not done.is_set():
                player.on_frame(callbacks[swaps % 2])
                infos.add(player.info.hwaccel)
                swaps += 1
                time.sleep(0.0005)

        player.on_frame(callbacks[0])
        swapper = threading.Thread(target=swap)
        swapper.start()
        started = time.perf_counter()
        stats = player.run()
        elapsed = time.perf_counter() - started
        done.set()
        swapper.join()
        print(json.dumps({{"a": handled["a"], "b": handled["b"], "elapsed": elapsed,
                          "processed": stats.frames_processed, "before_run": before_run,
                          "during": sorted(infos), "after": player.info.hwaccel,
                          "stats_hwaccel": stats.hwaccel}}))
    """, "frame_hook_call:4")
    assert res["elapsed"] >= TEST_MP4_FRAMES * 0.004 * 0.9, "the frame_hook_call delay never happened"
    assert res["processed"] == TEST_MP4_FRAMES
    every = sorted(res["a"] + res["b"])
    assert every == list(range(TEST_MP4_FRAMES)), "each frame reaches exactly one callback"
    assert res["a"] and res["b"], "both callbacks were in place at some point"
    # Media info is settled before it is published: the same from every thread, at any time.
    assert res["during"] == [res["before_run"]]
    assert res["after"] == res["before_run"] == res["stats_hwaccel"]
