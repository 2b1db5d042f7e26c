"""Audio playback and A/V sync in real-time mode (SDL audio, dummy driver = real pacing)."""
from __future__ import annotations

import logging
import time

import pytest

from conftest import TEST_MP4_FRAMES


@pytest.mark.parametrize("window", [False, True], ids=["headless", "window"])
def test_av_drift_stays_within_40ms_over_the_clip(vs, test_mp4, window, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # the window variant renders off screen
    player = vs.Player(test_mp4, mode="realtime", display=window)
    t0 = time.monotonic()
    stats = player.run()
    elapsed = time.monotonic() - t0
    assert stats.audio_device == "dummy", "audio must really be played (SDL dummy device)"
    assert stats.av_drift_samples >= TEST_MP4_FRAMES - 15, "drift must be measured over the whole clip"
    assert stats.av_drift_max <= 0.040, f"A/V drift reached {stats.av_drift_max * 1000:.1f} ms"
    assert abs(elapsed - TEST_MP4_FRAMES / 30.0) < 1.0


def test_av_sync_holds_after_seek_and_pause(vs, test_mp4):
    player = vs.Player(test_mp4, mode="realtime")
    seen = []

    @player.on_frame
    def control(frame):
        seen.append(frame.index)
        if frame.index == 30 and len(seen) < 40:
            player.seek(time=5.0)
        if frame.index == 160 and not player.paused:
            player.pause()
            import threading
            threading.Timer(0.3, player.resume).start()

    stats = player.run()
    assert 150 in seen and seen.index(150) > seen.index(30)
    assert stats.av_drift_max <= 0.040, f"A/V drift reached {stats.av_drift_max * 1000:.1f} ms"


def test_no_audio_device_plays_video_only_with_warning(vs, test_mp4, monkeypatch, caplog):
    monkeypatch.setenv("SDL_AUDIODRIVER", "no_such_audio_driver")
    with caplog.at_level(logging.WARNING, logger="vistream.ffmpeg"):
        player = vs.Player(test_mp4, mode="realtime", end=1.0)
        stats = player.run()
    assert stats.audio_device is None
    assert stats.frames_processed >= 25
    assert any("playing video only" in r.getMessage() for r in caplog.records)


def test_speed_plays_faster(vs, test_mp4):
    player = vs.Player(test_mp4, mode="realtime", end=4.0, speed=2.0)
    t0 = time.monotonic()
    stats = player.run()
    elapsed = time.monotonic() - t0
    assert 1.6 <= elapsed <= 2.6, elapsed
    # drift is in media seconds; at 2x one millisecond of wall time is two of media time:
    # the 40 ms (wall) bound becomes 80 ms of media time.
    assert stats.av_drift_max / 2.0 <= 0.040


def test_offline_window_plays_sound_in_sync_and_holds_it_for_slow_callbacks(vs, test_mp4, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # a real SDL window, rendered off screen
    stats = vs.Player(test_mp4, display=True, mode="offline").run()
    assert stats.audio_device == "dummy"
    assert stats.frames_processed == TEST_MP4_FRAMES and stats.frames_dropped == 0
    assert stats.av_drift_max <= 0.040, f"A/V drift reached {stats.av_drift_max * 1000:.1f} ms"

    slow = vs.Player(test_mp4, display=True, mode="offline", end=2.0)
    slow.on_frame(lambda frame: time.sleep(0.05))
    t0 = time.monotonic()
    stats = slow.run()
    assert stats.frames_processed == 60 and stats.frames_dropped == 0
    assert time.monotonic() - t0 >= 60 * 0.05  # the clock waited for every frame
