"""A WebSocket client that stopped reading costs the server no JPEG encoding (found by bench/web.py).

The feed encodes a frame only while some client can take one. Before, it encoded every published
frame for as long as a client that never reads stayed connected (30 720p JPEGs a second of CPU
taken from the pipeline on the same cores: bench/web.py measured 300 encodes in 10 s).
"""
import subprocess
import threading
import time

import pytest

import vistream
from live_servers import stalled_websocket
from vistream.web import WebOptions


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory):
    # noise makes the JPEGs big (~300 kB), so the socket buffers fill within a second
    path = tmp_path_factory.mktemp("stalled") / "noisy_720p.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=2",
                    "-vf", "noise=alls=40:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path




def test_a_websocket_that_never_reads_stops_costing_jpeg_encodes(noisy_clip):
    player = vistream.Player(str(noisy_clip), web=WebOptions(port=0, jpeg_quality=95), display=False,
                             mode="realtime", play_audio=False, loop=True)
    runner = threading.Thread(target=player.run, daemon=True)
    runner.start()
    client = None
    try:
        deadline = time.monotonic() + 10
        while player.web_view is None or not player.web_view.running:
            assert time.monotonic() < deadline, "the web view did not start"
            time.sleep(0.05)
        client = stalled_websocket(player.web_view.port)
        time.sleep(2.5)  # the handshake, then the first frames fill the socket buffers
        encoded_before = player.web_view.feed.frames_encoded
        shown_before = player.stats.frames_processed
        time.sleep(2.0)
        encoded = player.web_view.feed.frames_encoded - encoded_before
        shown = player.stats.frames_processed - shown_before
    finally:
        if client is not None:
            client.close()
        player.stop()
        runner.join(30)
    assert shown > 40, "the player kept playing"
    assert encoded <= 3, f"{encoded} JPEGs encoded in 2 s for a client that reads nothing ({shown} frames shown)"
