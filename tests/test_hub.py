"""Weights hub against a real HTTP server on 127.0.0.1 (Range requests supported): good,
corrupted and truncated downloads, resume, cache reuse, offline errors."""
from __future__ import annotations

import hashlib
import http.server
import json
import threading

import pytest

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB "checkpoint"


class Handler(http.server.BaseHTTPRequestHandler):
    """/good/<f>: the file; /corrupt/<f>: altered bytes; /truncate/<f>: the first full request
    is cut at half (connection closed), later Range requests get the rest. Counts requests."""

    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode = self.path.split("/")[1]
        Handler.requests.append((self.path, self.headers.get("Range")))
        data = PAYLOAD if mode != "corrupt" else PAYLOAD[:1000] + b"x" + PAYLOAD[1001:]
        if mode == "missing":
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncate" and not self.headers.get("Range"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server(monkeypatch, tmp_path):
    Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    manifest = tmp_path / "weights.json"
    manifest.write_text(json.dumps({"tiny_model": {"url": "https://example.invalid/releases/tiny_model.pth",
                                                   "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
                                                   "size": len(PAYLOAD)}}))
    monkeypatch.setenv("VISTREAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VISTREAM_HUB_MANIFEST", str(manifest))
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_verify_and_reuse_cache(server, monkeypatch):
    from vistream import hub
    monkeypatch.setenv("VISTREAM_HUB_URL", server + "/good")
    path = hub.resolve("tiny_model")
    assert path.read_bytes() == PAYLOAD and path.name == "tiny_model.pth"
    assert hub.resolve("tiny_model") == path
    assert len(Handler.requests) == 1, "the cached file must be reused"


def test_corrupted_download_is_rejected_and_removed(server, monkeypatch):
    from vistream import hub
    monkeypatch.setenv("VISTREAM_HUB_URL", server + "/corrupt")
    with pytest.raises(hub.DownloadError, match="sha256"):
        hub.resolve("tiny_model")
    assert not list(hub.weights_dir().glob("tiny_model*")), "nothing corrupted may stay in the cache"


def test_truncated_download_resumes_with_range(server, monkeypatch):
    from vistream import hub
    monkeypatch.setenv("VISTREAM_HUB_URL", server + "/truncate")
    with pytest.raises(hub.DownloadError, match="resumes"):
        hub.resolve("tiny_model")
    partial = hub.weights_dir() / "tiny_model.pth.part"
    assert 0 < partial.stat().st_size < len(PAYLOAD)
    path = hub.resolve("tiny_model")
    assert path.read_bytes() == PAYLOAD
    assert Handler.requests[-1][1] == f"bytes={len(PAYLOAD) // 2}-", "the second request must resume"


def test_offline_error_names_url_and_manual_path(server, monkeypatch):
    from vistream import hub
    monkeypatch.setenv("VISTREAM_HUB_URL", "http://127.0.0.1:9/nowhere")  # nothing listens on port 9
    with pytest.raises(hub.DownloadError) as error:
        hub.resolve("tiny_model")
    message = str(error.value)
    assert "http://127.0.0.1:9/nowhere/tiny_model.pth" in message and "place it at" in message
    assert isinstance(error.value, OSError)


def test_url_and_local_path_and_unknown_name(server, tmp_path):
    from vistream import hub
    path = hub.resolve(server + "/good/direct.pth")
    assert path.read_bytes() == PAYLOAD and path.name == "direct.pth"
    assert hub.resolve(server + "/good/direct.pth") == path  # cached
    # a URL's file named like a manifest model never takes that model's place in the cache
    named_like = hub.resolve(server + "/good/tiny_model.pth")
    assert named_like != hub.weights_dir() / "tiny_model.pth" and not (hub.weights_dir() / "tiny_model.pth").exists()
    local = tmp_path / "mine.pth"
    local.write_bytes(b"123")
    assert hub.resolve(str(local)) == local
    with pytest.raises(hub.DownloadError, match="known"):
        hub.resolve("no_such_model")


def test_packaged_manifest_lists_official_yolox_weights(monkeypatch):
    from vistream import hub
    monkeypatch.delenv("VISTREAM_HUB_MANIFEST", raising=False)
    entries = hub.manifest()
    assert entries["yolox_s"]["url"].endswith("/yolox_s.pth")
    assert {"yolox_nano", "yolox_m", "yolox_x_mix_det"} <= set(entries)
