"""The product's headline command on a fresh machine, end to end:

    cd python && python play.py test.mp4 --bytetrack "ckpt_file=auto;fp16=True"

ckpt_file=auto means ByteTrack's MOT17 yolox_m person detector, downloaded once through the weights
hub. Here the hub's base URL points at a real HTTP server on 127.0.0.1 serving a ByteTrack-style
checkpoint (random weights, saved as ByteTrack saves them) under the manifest's file name; the cache
is an empty temporary folder. Random weights detect little: the test checks that the pipeline runs,
not what it finds. ``--headless --end 0.2`` keep it short (800x1440 yolox_m on a CPU).
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHORT = ["--headless", "--end", "0.2"]  # 6 frames of the 30 fps clip


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        _CountingHandler.requests.append(self.path)
        super().do_GET()


@pytest.fixture(scope="module")
def bytetrack_server(tmp_path_factory):
    from vistream.detect.yolox import build_model

    served = tmp_path_factory.mktemp("served")
    torch.manual_seed(0)
    net = build_model("yolox_m_mix_det")
    # ByteTrack's trainer saves {"start_epoch", "model", "optimizer"}; only tensors and numbers here,
    # so it also loads with weights_only=True
    torch.save({"start_epoch": 80, "model": net.state_dict()}, served / "bytetrack_m_mot17.pth.tar")
    handler = functools.partial(_CountingHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served / "bytetrack_m_mot17.pth.tar"
    httpd.shutdown()
    httpd.server_close()


def _run(args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    found = re.search(r"(\d+) frames processed", result.stdout)
    assert found and int(found.group(1)) >= 5, result.stdout
    return result


def test_headline_command_downloads_bytetrack_once_and_runs(bytetrack_server, tmp_path, test_mp4):
    base, served = bytetrack_server
    _CountingHandler.requests = []
    env = {k: v for k, v in os.environ.items() if k != "VISTREAM_HUB_MANIFEST"}  # the packaged manifest
    env.update(VISTREAM_HUB_URL=base, VISTREAM_CACHE=str(tmp_path / "cache"))
    assert test_mp4 == REPO / "python" / "test.mp4"

    # exactly the README's command, from python/
    first = _run(["play.py", "test.mp4", "--bytetrack", "ckpt_file=auto;fp16=True", *SHORT], REPO / "python", env)
    cached = tmp_path / "cache" / "weights" / "bytetrack_m_mot17.pth.tar"
    assert cached.read_bytes() == served.read_bytes()
    assert _CountingHandler.requests == ["/bytetrack_m_mot17.pth.tar"]
    # no sha256 in the manifest for the mirror: the first download's is recorded (trust on first use)
    digest = hashlib.sha256(served.read_bytes()).hexdigest()
    assert cached.with_name(cached.name + ".sha256").read_text().split()[0] == digest
    assert "trust on first use" in first.stderr

    # and from the repository root: the cached file is used, nothing is downloaded again
    second = _run(["python/play.py", "python/test.mp4", "--bytetrack", "ckpt_file=auto;fp16=True", *SHORT], REPO, env)
    assert len(_CountingHandler.requests) == 1
    assert "trust on first use" not in second.stderr
