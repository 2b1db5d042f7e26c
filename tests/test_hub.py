"""Weights hub against a real HTTP server on 127.0.0.1 (Range requests supported): good,
corrupted and truncated downloads, resume, cache reuse, offline errors."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import ssl
import subprocess
import threading
import urllib.request

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
        if mode == "redirect":  # /redirect/<url-encoded target>
            self.send_response(302)
            self.send_header("Location", urllib.request.unquote(self.path.split("/", 2)[2]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "html":  # a mirror's "your download will start shortly" page
            body = b"<html><body>Your download will start shortly</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
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
    # ckpt_file=auto for --bytetrack: ByteTrack's MOT17 yolox_m, from avio's direct mirror
    assert entries["yolox_m_mix_det"]["url"] == "https://sourceforge.net/projects/avio/files/bytetrack_m_mot17.pth.tar/download"
    assert entries["yolox_m_mix_det"]["file"] == "bytetrack_m_mot17.pth.tar"


def _write_manifest(entries: dict) -> None:
    with open(os.environ["VISTREAM_HUB_MANIFEST"], "w") as f:
        json.dump(entries, f)


def test_first_download_records_its_sha256_and_later_loads_require_it(server, monkeypatch, capfd):
    # the manifest pins no hash (as for ByteTrack's mirror): trust on first use
    from vistream import hub
    _write_manifest({"tiny_model": {"url": "https://example.invalid/tiny_model.pth", "sha256": None, "size": None}})
    monkeypatch.setenv("VISTREAM_HUB_URL", server + "/good")
    path = hub.resolve("tiny_model")
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    record = path.with_name("tiny_model.pth.sha256")
    assert record.read_text() == f"{digest}  tiny_model.pth\n"  # sha256sum -c format
    said = [line for line in capfd.readouterr().err.splitlines() if "trust on first use" in line]
    assert len(said) == 1 and digest in said[0] and str(record) in said[0]
    assert hub.is_pinned(path) and hub.recorded_sha256(path) == digest
    assert hub.resolve("tiny_model") == path and len(Handler.requests) == 1

    path.write_bytes(PAYLOAD[:-1] + b"!")  # replaced after the download
    assert not hub.is_pinned(path)
    with pytest.raises(hub.DownloadError, match="changed after the download") as error:
        hub.resolve("tiny_model")
    assert str(path) in str(error.value) and "Delete it" in str(error.value)


def test_a_file_put_in_the_cache_by_hand_is_not_pinned(server):
    from vistream import hub
    _write_manifest({"tiny_model": {"url": "https://example.invalid/tiny_model.pth", "sha256": None, "size": None}})
    hub.weights_dir().mkdir(parents=True)
    placed = hub.weights_dir() / "tiny_model.pth"
    placed.write_bytes(PAYLOAD)
    assert hub.resolve("tiny_model") == placed and not Handler.requests
    assert not hub.is_pinned(placed)


def test_mirror_url_ending_in_download_is_rebased_with_the_entry_file_name(server, monkeypatch):
    from vistream import hub
    _write_manifest({"mot": {"url": "https://sourceforge.net/projects/x/files/mot.pth.tar/download",
                             "file": "mot.pth.tar", "sha256": hashlib.sha256(PAYLOAD).hexdigest(), "size": None}})
    monkeypatch.setenv("VISTREAM_HUB_URL", server + "/good/")
    path = hub.resolve("mot")
    assert path == hub.weights_dir() / "mot.pth.tar" and path.read_bytes() == PAYLOAD
    assert [r[0] for r in Handler.requests] == ["/good/mot.pth.tar"]


def test_manifest_file_names_cannot_leave_the_cache(server, tmp_path, monkeypatch):
    from vistream import hub
    monkeypatch.setenv("VISTREAM_HUB_URL", server + "/good")
    outside = tmp_path / "escaped.pth"
    for file_name in ("../../escaped.pth", str(outside), "sub/dir.pth", ".."):
        _write_manifest({"evil": {"url": "https://example.invalid/x.pth", "file": file_name, "sha256": None}})
        with pytest.raises(hub.DownloadError, match="plain file name"):
            hub.resolve("evil")
    assert not outside.exists() and not Handler.requests, "nothing may be fetched or written"


def test_an_html_page_is_never_taken_for_a_checkpoint(server):
    from vistream import hub
    with pytest.raises(hub.DownloadError, match="HTML page"):
        hub.resolve(server + "/html/model.pth")
    assert not list(hub.weights_dir().rglob("model.pth"))


@pytest.fixture()
def tls_server(server, tmp_path, monkeypatch):
    """The same handler over HTTPS on 127.0.0.1 (a self-signed certificate the process trusts)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # OpenSSL's default trust store for this process
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_https_download_never_follows_a_redirect_to_http(server, tls_server):
    from vistream import hub
    quote = urllib.request.quote
    # https -> https redirects are followed (the mirror case) ...
    path = hub.resolve(f"{tls_server}/redirect/{quote(tls_server + '/good/a.pth', safe='')}")
    assert path.read_bytes() == PAYLOAD
    # ... https -> http is refused before anything is requested over plain http
    Handler.requests = []
    with pytest.raises(hub.DownloadError, match="never continues over plain http") as error:
        hub.resolve(f"{tls_server}/redirect/{quote(server + '/good/b.pth', safe='')}")
    assert isinstance(error.value, OSError)
    assert [r[0].split("/")[1] for r in Handler.requests] == ["redirect"], "the http URL must not be fetched"
    assert not list(hub.weights_dir().rglob("*b.pth*"))
    # http -> https stays allowed (an upgrade)
    assert hub.resolve(f"{server}/redirect/{quote(tls_server + '/good/c.pth', safe='')}").read_bytes() == PAYLOAD
