"""Live and device inputs: real RTSP/RTMP/SRT/UDP/HTTP(S)/HLS servers on 127.0.0.1, libavdevice
(lavfi), pipes and FIFOs, input options, the network protocol whitelist and TLS verification.

Servers come from tests/live_servers.py (real programs, free ports, stopped by the fixtures).
Every read runs under a watchdog that closes the Reader, so a broken stream fails, never hangs.
"""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import ffmpeg_raw_bgr, ffprobe_count
from live_servers import (  # noqa: F401  (fixtures)
    HttpServer,
    free_port,
    perl_rtsp_server,
    rtmp_server,
    rtsp_server,
    self_signed_certificate,
    srt_server,
    tcp_only_rtsp_server,
    udp_feed,
)


def reap(process: subprocess.Popen, timeout: float = 30) -> None:
    """Waits for a helper process; kills it if it does not end (e.g. a writer blocked on a FIFO
    nobody opened because the test failed first)."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def read_live(vs, source, frames: int = 30, deadline: float = 30.0, **reader_args):
    """Reads up to `frames` frames; returns [(time, shape)]. A watchdog closes the Reader after `deadline` s."""
    got = []
    with vs.Reader(source, **reader_args) as reader:
        watchdog = threading.Timer(deadline, reader.close)
        watchdog.start()
        try:
            for frame in reader:
                got.append((frame.time, frame.array.shape))
                if len(got) >= frames:
                    break
        finally:
            watchdog.cancel()
    return got


def assert_live_frames(got, frames: int = 30, shape=(720, 1280, 3)):
    assert len(got) == frames, f"only {len(got)} of {frames} frames arrived"
    times = [t for t, _ in got]
    assert all(b > a for a, b in zip(times, times[1:])), f"timestamps not increasing: {times}"
    assert {s for _, s in got} == {shape}


# --------------------------------------------------------------------------- network servers

@pytest.mark.parametrize("transport", ["tcp", "udp", "auto"])
def test_rtsp_with_each_transport(vs, rtsp_server, transport):
    got = read_live(vs, rtsp_server, input_options={"rtsp_transport": transport}, timeout=(20, 10))
    assert_live_frames(got)


def test_rtsp_transport_reaches_the_client(vs, perl_rtsp_server):
    # rtsp-server-perl serves UDP only: tcp must fail at SETUP (so the option is really used,
    # not dropped), udp and auto (UDP first) must play.
    assert_live_frames(read_live(vs, perl_rtsp_server, input_options={"rtsp_transport": "udp"}, timeout=(20, 10)))
    assert_live_frames(read_live(vs, perl_rtsp_server, input_options={"rtsp_transport": "auto"}, timeout=(20, 10)))
    with pytest.raises(vs.SourceError, match="400"):
        vs.Reader(perl_rtsp_server, input_options={"rtsp_transport": "tcp"}, timeout=(10, 5))


def test_rtsp_auto_transport_falls_back_to_tcp(vs, tcp_only_rtsp_server):
    # The mirror image: a TCP-only server refuses a UDP SETUP; "auto" then uses TCP.
    assert_live_frames(read_live(vs, tcp_only_rtsp_server, input_options={"rtsp_transport": "auto"},
                                 timeout=(20, 10)))
    assert_live_frames(read_live(vs, tcp_only_rtsp_server, input_options={"rtsp_transport": "tcp"},
                                 timeout=(20, 10)))
    with pytest.raises(vs.SourceError, match="461|Unsupported|transport"):
        vs.Reader(tcp_only_rtsp_server, input_options={"rtsp_transport": "udp"}, timeout=(10, 5))


def test_rtmp_from_nginx(vs, rtmp_server):
    assert_live_frames(read_live(vs, rtmp_server, timeout=(20, 10)))


def test_srt_from_srt_live_transmit(vs, srt_server):
    assert_live_frames(read_live(vs, srt_server, timeout=(20, 10)))


def test_udp_mpegts(vs, udp_feed):
    assert_live_frames(read_live(vs, udp_feed, timeout=(20, 10)))


def test_silent_udp_source_times_out(vs):
    port = free_port(socket.SOCK_DGRAM)  # nobody sends there
    started = time.monotonic()
    with pytest.raises(vs.SourceTimeoutError):
        vs.Reader(f"udp://127.0.0.1:{port}", timeout=1.0)
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def hls_dir(tmp_path_factory, test_mp4):
    """test.mp4 cut into a 2 s HLS playlist (ffmpeg -f hls, stream copy)."""
    directory = tmp_path_factory.mktemp("hls")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(test_mp4), "-c", "copy", "-f", "hls",
                    "-hls_time", "2", "-hls_list_size", "0", "-hls_segment_filename", str(directory / "seg%d.ts"),
                    str(directory / "index.m3u8")], check=True, timeout=120)
    return directory


@pytest.fixture()
def http_server(hls_dir):
    server = HttpServer(hls_dir)
    try:
        yield server
    finally:
        server.close()


def test_hls_over_http(vs, http_server, hls_dir, test_mp4):
    segments = sorted(hls_dir.glob("seg*.ts"))
    assert len(segments) >= 3
    got = read_live(vs, http_server.url("index.m3u8"), frames=10_000, deadline=60)
    times = [t for t, _ in got]
    assert len(got) >= ffprobe_count(test_mp4)  # every segment played, none skipped
    assert all(b > a for a, b in zip(times, times[1:]))


def test_network_playlist_cannot_open_local_files(vs, http_server, hls_dir, tmp_path):
    # A playlist on a server that points at a local file: played, it would read local data.
    local = tmp_path / "private.ts"
    local.write_bytes((hls_dir / "seg0.ts").read_bytes())
    (hls_dir / "evil.m3u8").write_text(
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.0,\nfile://{local}\n#EXT-X-ENDLIST\n")
    with pytest.raises(vs.SourceNotAllowedError) as error:
        vs.Reader(http_server.url("evil.m3u8"), timeout=10)
    assert "file" in str(error.value) and "whitelist" in str(error.value)
    assert isinstance(error.value, PermissionError)


def test_local_file_later_in_a_network_playlist_is_refused_while_reading(vs, http_server, hls_dir, tmp_path):
    # The first segment is fine; the second points at a local file: reading must fail with the
    # refusal, not skip the segment as a gap.
    local = tmp_path / "private.ts"
    local.write_bytes((hls_dir / "seg1.ts").read_bytes())
    (hls_dir / "mixed.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.0,\nseg0.ts\n"
        f"#EXTINF:2.0,\nfile://{local}\n#EXTINF:2.0,\nseg2.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(vs.SourceNotAllowedError):
        read_live(vs, http_server.url("mixed.m3u8"), frames=10_000, deadline=60, timeout=10)


@pytest.fixture(scope="module")
def https_server(hls_dir, tmp_path_factory):
    """A self-signed https server (certificate made with the openssl CLI) serving the HLS folder."""
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server = HttpServer(hls_dir, ssl_context=context)
    server.certificate = cert
    try:
        yield server
    finally:
        server.close()


def test_https_with_untrusted_certificate_is_refused(vs, https_server):
    with pytest.raises(vs.SourceCertificateError) as error:
        vs.Reader(https_server.url("seg0.ts"), timeout=10)
    assert "certificate" in str(error.value).lower()


def test_https_certificate_check_can_be_turned_off(vs, https_server):
    got = read_live(vs, https_server.url("seg0.ts"), frames=20, input_options={"tls_verify": "0"}, timeout=10)
    assert_live_frames(got, frames=20)


def test_https_trusts_a_given_ca_file(vs, https_server):
    got = read_live(vs, https_server.url("index.m3u8"), frames=20,
                    input_options={"ca_file": str(https_server.certificate)}, timeout=10)
    assert_live_frames(got, frames=20)


def test_https_segments_of_a_playlist_are_verified_too(vs, http_server, https_server, hls_dir):
    # A plain-http playlist whose segments live on an https server with an untrusted certificate:
    # FFmpeg's HLS demuxer does not pass tls_verify on to segment requests by itself.
    segments = sorted(hls_dir.glob("seg*.ts"), key=lambda p: int(p.stem[3:]))
    entries = "".join(f"#EXTINF:2.0,\n{https_server.url(p.name)}\n" for p in segments)
    (hls_dir / "remote_segments.m3u8").write_text(
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n{entries}#EXT-X-ENDLIST\n")
    with pytest.raises(vs.SourceCertificateError):
        read_live(vs, http_server.url("remote_segments.m3u8"), frames=10, timeout=10)
    got = read_live(vs, http_server.url("remote_segments.m3u8"), frames=20, input_options={"tls_verify": 0},
                    timeout=10)
    assert_live_frames(got, frames=20)


# --------------------------------------------------------------------------- devices, pipes

def test_lavfi_device_input(vs):
    with vs.Reader("testsrc2=size=320x240:rate=25:duration=1", input_format="lavfi") as reader:
        frames = [(f.time, f.array.shape) for f in reader]
    assert len(frames) == 25
    assert_live_frames(frames, frames=25, shape=(240, 320, 3))
    assert frames[1][0] == pytest.approx(0.04)


def test_player_takes_input_format_and_writes_the_device_stream(vs, tmp_path):
    out = tmp_path / "lavfi.mp4"
    stats = vs.Player("testsrc2=size=320x240:rate=25:duration=1", input_format="lavfi", output=out).run()
    assert stats.frames_encoded == 25
    assert ffprobe_count(out) == 25


def test_fifo_rawvideo_with_capture_options(vs, tmp_path):
    # Raw frames through a FIFO: the stream carries no size/rate/format, so they must arrive
    # as the demuxer's video_size/framerate/pixel_format options (capture_* mapping).
    fifo = tmp_path / "camera.fifo"
    os.mkfifo(fifo)
    graph = "testsrc2=size=320x240:rate=25:duration=1"
    writer = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", graph,
                               "-f", "rawvideo", "-pix_fmt", "bgr24", "-y", str(fifo)])
    try:
        got = []
        with vs.Reader(fifo, input_format="rawvideo", capture_size=(320, 240), capture_fps=25,
                       capture_format="bgr24") as reader:
            watchdog = threading.Timer(30, reader.close)
            watchdog.start()
            got = [f.array.copy() for f in reader]
            watchdog.cancel()
    finally:
        reap(writer)
    assert len(got) == 25
    expected = ffmpeg_raw_bgr_lavfi(graph, 320, 240)
    assert np.array_equal(np.stack(got), expected)


def ffmpeg_raw_bgr_lavfi(graph: str, width: int, height: int) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", graph, "-f", "rawvideo",
                          "-pix_fmt", "bgr24", "-"], capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def test_pipe_file_descriptor(vs, test_mp4):
    read_fd, write_fd = os.pipe()
    writer = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(test_mp4), "-c", "copy",
                               "-f", "mpegts", "pipe:1"], stdout=write_fd)
    os.close(write_fd)  # the reader sees the end when ffmpeg exits
    try:
        got = read_live(vs, f"pipe:{read_fd}", frames=10_000, deadline=60)
    finally:
        reap(writer, 60)
        os.close(read_fd)
    assert len(got) >= 240
    assert_live_frames(got, frames=len(got))


def test_dash_reads_standard_input(test_mp4):
    code = ("import vistream as vs\n"
            "with vs.Reader('-') as r:\n"
            "    times = [f.time for f in r]\n"
            "assert all(b > a for a, b in zip(times, times[1:]))\n"
            "print(len(times))\n")
    feed = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(test_mp4), "-c", "copy",
                             "-f", "mpegts", "-"], stdout=subprocess.PIPE)
    try:
        result = subprocess.run([sys.executable, "-c", code], stdin=feed.stdout, capture_output=True, text=True,
                                timeout=120)
    finally:
        feed.stdout.close()
        reap(feed, 60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 240


def test_camera_and_dev_video_go_through_v4l2(vs):
    missing = next(n for n in range(64, 128) if not os.path.exists(f"/dev/video{n}"))
    for kwargs in ({"camera": missing}, {"source": f"/dev/video{missing}"}):
        with pytest.raises(vs.SourceNotFoundError) as error:
            vs.Reader(**kwargs)
        # The V4L2 device's own message: the path went to libavdevice, not to the file protocol.
        assert "video device" in str(error.value)


def _v4l2loopback_device() -> str | None:
    for n in range(64):
        path = f"/dev/video{n}"
        if os.path.exists(path):
            try:
                name = Path(f"/sys/class/video4linux/video{n}/name").read_text().strip()
            except OSError:
                continue
            if "loopback" in name.lower() or "dummy" in name.lower():
                return path
    return None


def test_v4l2_virtual_camera(vs, tmp_path):
    device = _v4l2loopback_device()
    if device is None:
        release = os.uname().release
        modules = Path("/lib/modules") / release
        why = (f"{modules} does not exist (the VM's kernel ships no loadable modules)" if not modules.exists()
               else "v4l2loopback is not loaded (root: apt-get install v4l2loopback-dkms; modprobe v4l2loopback)")
        pytest.skip(f"no v4l2loopback camera on kernel {release}: no /dev/video* loopback device, and {why}; "
                    "the libavdevice path is covered by the lavfi, FIFO and /dev/video open tests")
    feed = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                             "testsrc2=size=640x480:rate=30", "-pix_fmt", "yuyv422", "-f", "v4l2", device])
    try:
        time.sleep(1)
        got = read_live(vs, device, frames=20, capture_size=(640, 480), capture_fps=30, timeout=10)
    finally:
        feed.terminate()
        reap(feed, 10)
    assert_live_frames(got, frames=20, shape=(480, 640, 3))


# --------------------------------------------------------------------------- options

def test_unused_input_options_are_reported(vs, test_mp4):
    with pytest.warns(vs.UnusedInputOptionWarning, match="rtsp_transport"):
        with vs.Reader(test_mp4, input_options={"rtsp_transport": "tcp", "probesize": 5_000_000}):
            pass
    with pytest.warns(vs.UnusedInputOptionWarning, match="no_such_option"):
        vs.Player(test_mp4, input_options={"no_such_option": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with vs.Reader(test_mp4, input_options={"probesize": 5_000_000}) as reader:
            assert len(reader) == 240


def test_input_option_reaches_the_demuxer(vs, test_mp4):
    # "-ss"-like demuxer option: the mp4 demuxer's ignore_editlist changes what is read.
    with vs.Reader(test_mp4, input_options={"ignore_editlist": 1}) as reader:
        assert len(reader) == 241  # the edit list drops one of the 241 samples


def test_bad_input_arguments(vs, test_mp4):
    with pytest.raises(ValueError, match="unknown input format"):
        vs.Reader(test_mp4, input_format="no-such-format")
    with pytest.raises(TypeError):
        vs.Reader(test_mp4, input_options={"probesize": [1]})
    with pytest.raises(TypeError):
        vs.Reader(test_mp4, camera=0)
    with pytest.raises(ValueError):
        vs.Reader(camera=-1)
    with pytest.raises(ValueError):
        vs.Reader(test_mp4, capture_size=(0, 10))


# --------------------------------------------------------------------------- damaged inputs

def test_truncated_ts_is_a_source_error_not_a_filter_error(vs, test_mp4, tmp_path):
    full = tmp_path / "full.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(test_mp4), "-c", "copy", "-f", "mpegts",
                    str(full)], check=True, timeout=60)
    truncated = tmp_path / "truncated.ts"
    truncated.write_bytes(full.read_bytes()[:3 * 188])  # tables and the start of the video PES only
    with pytest.raises(vs.SourceError) as error:
        vs.Reader(truncated)
    assert not isinstance(error.value, vs.FilterError)
    assert "truncated" in str(error.value)


@pytest.fixture()
def undecodable_mp4(tmp_path) -> Path:
    """An H.264 mp4 (with audio) whose avcC SPS is damaged: no video frame decodes."""
    good = tmp_path / "good.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25:duration=2", "-f", "lavfi", "-i", "sine=duration=2",
                    "-c:v", "libx264", "-c:a", "aac", "-shortest", str(good)], check=True, timeout=60)
    data = bytearray(good.read_bytes())
    avcc = data.find(b"avcC")
    sps = avcc + 4 + 8  # box payload: version, profile, compat, level, length size, count, sps length
    for i in range(sps + 1, sps + 8):
        data[i] ^= 0xFF
    bad = tmp_path / "bad_avcc.mp4"
    bad.write_bytes(bytes(data))
    return bad


def test_nothing_decodes_is_a_decode_error(vs, undecodable_mp4, tmp_path):
    with vs.Reader(undecodable_mp4) as reader:
        with pytest.raises(vs.DecodeError, match="could be decoded"):
            list(reader)
    out = tmp_path / "out.mp4"
    with pytest.raises(vs.DecodeError):
        vs.Player(undecodable_mp4, output=out).run()
    assert not out.exists()


def test_mp4_cut_before_its_first_video_sample_is_a_source_error(vs, undecodable_mp4, tmp_path):
    # A faststart mp4 (index first) cut right after the index: the header lists 50 frames, the
    # data has none. Before: 0 frames and a "successful" run.
    good = undecodable_mp4.with_name("good.mp4")
    faststart = tmp_path / "faststart.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(good), "-c", "copy", "-movflags",
                    "+faststart", str(faststart)], check=True, timeout=60)
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:data.find(b"mdat") + 4 + 100])
    with vs.Reader(cut) as reader:
        with pytest.raises(vs.SourceError, match="first video frame"):
            list(reader)
    with pytest.raises(vs.SourceError):
        vs.Player(cut, output=tmp_path / "out.mp4").run()
    with vs.Reader(good) as reader:  # the intact file still reads, also after a seek to its end
        assert len(list(reader)) == 50
        reader.seek(index=10_000)
        assert list(reader) == []
