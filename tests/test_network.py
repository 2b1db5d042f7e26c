"""Network sources: a real HTTP server on 127.0.0.1 serving a clip to Reader and Player."""
from __future__ import annotations

import functools
import http.server
import threading

import pytest

from conftest import ffprobe_count, frame_hash


@pytest.fixture()
def http_url(media):
    """Serves the directory of the generated clips over HTTP; yields a URL factory."""
    directory = media["bframes"].parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield lambda name: f"http://127.0.0.1:{server.server_address[1]}/{name}"
    finally:
        server.shutdown()
        server.server_close()


def test_reader_over_http_matches_local_decode(vs, media, http_url):
    local = media["bframes"]
    with vs.Reader(local) as reader:
        expected = [frame_hash(f.array) for f in reader]
    assert len(expected) == ffprobe_count(local)
    with vs.Reader(http_url(local.name)) as reader:
        info = reader.info
        assert (info.width, info.height) == (320, 240)
        got = [frame_hash(f.array) for f in reader]
    assert got == expected


def test_player_reads_http_and_writes_file(vs, media, http_url, tmp_path):
    local = media["bframes"]
    out = tmp_path / "from_http.mkv"
    player = vs.Player(http_url(local.name), output=str(out))
    stats = player.run()
    assert stats.frames_encoded == ffprobe_count(local)
    assert ffprobe_count(out) == ffprobe_count(local)


def test_missing_http_resource_is_a_source_error(vs, http_url):
    with pytest.raises(vs.SourceError) as error:
        vs.Reader(http_url("no-such-clip.mp4"))
    assert "404" in str(error.value) or "Not Found" in str(error.value)
