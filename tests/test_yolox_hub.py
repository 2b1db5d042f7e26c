"""YOLOX(ckpt_file="auto"/URL) downloads through the weights hub from a real local HTTP server."""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading

import pytest
import torch


@pytest.fixture()
def served_checkpoint(tmp_path, monkeypatch):
    from vistream.detect.yolox import build_model
    torch.manual_seed(3)
    net = build_model("yolox_nano")
    for p in net.parameters():
        p.data.normal_(0, 0.02)
    served = tmp_path / "served"
    served.mkdir()
    ckpt = served / "yolox_nano.pth"
    torch.save({"model": net.state_dict(), "start_epoch": 300}, ckpt)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    manifest = tmp_path / "weights.json"
    manifest.write_text(json.dumps({"yolox_nano": {
        "url": "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.pth",
        "sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(), "size": ckpt.stat().st_size}}))
    monkeypatch.setenv("VISTREAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VISTREAM_HUB_MANIFEST", str(manifest))
    monkeypatch.setenv("VISTREAM_HUB_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    yield net, httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_auto_checkpoint_is_downloaded_verified_and_loaded(served_checkpoint, tmp_path):
    from vistream.detect import YOLOX
    net, _ = served_checkpoint
    detector = YOLOX("yolox_nano", ckpt_file="auto")
    for name, value in net.state_dict().items():
        assert torch.equal(detector.model.state_dict()[name], value), name
    assert (tmp_path / "cache" / "weights" / "yolox_nano.pth").exists()


def test_url_checkpoint(served_checkpoint):
    from vistream.detect import YOLOX
    net, port = served_checkpoint
    detector = YOLOX("yolox_nano", ckpt_file=f"http://127.0.0.1:{port}/yolox_nano.pth")
    first = next(iter(net.state_dict()))
    assert torch.equal(detector.model.state_dict()[first], net.state_dict()[first])
