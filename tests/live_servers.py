"""Real streaming servers on 127.0.0.1 for the live-input tests (tests/test_live_inputs.py).

Each server is a real program from Debian's packages (scripts/setup.sh --test installs them):
GStreamer's RTSP server (python3-gi + gir1.2-gst-rtsp-server-1.0), nginx with libnginx-mod-rtmp,
srt-live-transmit (srt-tools), fed by the ffmpeg CLI with python/test.mp4 played in real time and
looped. Everything listens on free loopback ports and runs as a child process that the fixture
stops (SIGTERM, then SIGKILL) whatever the test did; every wait has a deadline.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import signal
import socket
import subprocess
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"  # python3-gi lives in Debian's Python, not in the venv


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on now (TCP or UDP), on 127.0.0.1."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, service: "Service | None" = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if service is not None and not service.alive():
            raise RuntimeError(f"{service.name} exited while waiting for {what}:\n{service.log_text()}")
        time.sleep(0.05)
    detail = f":\n{service.log_text()}" if service is not None else ""
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}{detail}")


def tcp_listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Service:
    """A child process with its output in a log file; stop() always ends it."""

    def __init__(self, name: str, args: List[str], log_dir: Path, env: Optional[dict] = None) -> None:
        self.name = name
        self.args = args
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _signal_group(self, signum: int) -> None:
        # The service is its own session (start_new_session): signalling the group also reaches
        # the children it forked (nginx's worker), which would otherwise outlive a killed master
        # and keep the port.
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self, timeout: float = 10.0) -> None:
        """Dies at once, with every process it started (SIGKILL to its process group)."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is not None:
            self._signal_group(signal.SIGKILL)  # children left behind by a master that already died
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(timeout)
        self._signal_group(signal.SIGKILL)


def require_program(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        # setup.sh --test installs every server: a missing one is a broken setup, not a skip.
        pytest.fail(f"{program} not installed (Debian package {package}; scripts/setup.sh --test installs it)")
    return path


def ffmpeg_push(source: Path, output_args: List[str], log_dir: Path, name: str = "ffmpeg-push") -> Service:
    """The ffmpeg CLI sending `source` in real time, looped forever, to `output_args`."""
    ffmpeg = require_program("ffmpeg", "ffmpeg")
    return Service(name, [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "warning", "-re", "-stream_loop", "-1",
                          "-i", str(source), *output_args], log_dir)


# --------------------------------------------------------------------------- RTSP (GStreamer)

_GST_RTSP_SERVER = textwrap.dedent('''
    """GStreamer RTSP server re-serving an MPEG-TS/UDP feed as H.264 RTP at rtsp://127.0.0.1:PORT/live."""
    import sys
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
    Gst.init(None)
    rtsp_port, udp_port = sys.argv[1], int(sys.argv[2])
    tcp_only = len(sys.argv) > 3 and sys.argv[3] == "tcp-only"
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(rtsp_port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        # ignore-pcr: timestamps from the PES, not from a PCR clock re-estimated per burst, whose
        # skew resets made the live sink drop most frames as late.
        f'( udpsrc address=127.0.0.1 port={udp_port} buffer-size=4194304 caps="video/mpegts,systemstream=true" '
        '! queue ! tsdemux ignore-pcr=true ! h264parse config-interval=-1 '
        '! rtph264pay name=pay0 pt=96 config-interval=-1 )')
    factory.set_shared(True)  # every client watches the one feed
    if tcp_only:  # answers a UDP SETUP with 461 Unsupported Transport
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        sys.exit("cannot listen on port " + rtsp_port)
    print("ready", flush=True)
    GLib.MainLoop().run()
''')


def gst_rtsp_available() -> Optional[str]:
    """None when GStreamer's RTSP server can be used, else why not."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found (python3-gi lives in Debian's Python)"
    check = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import GstRtspServer"], capture_output=True, timeout=30)
    if check.returncode != 0:
        return ("GStreamer RTSP server not importable (Debian packages python3-gi gir1.2-gst-rtsp-server-1.0 "
                "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad): " + check.stderr.decode(errors="replace")[-300:])
    return None


def _gst_rtsp(tmp_path_factory, test_mp4, *mode: str):
    reason = gst_rtsp_available()
    if reason:
        pytest.fail(reason)
    log_dir = tmp_path_factory.mktemp("rtsp")
    script = log_dir / "gst_rtsp_server.py"
    script.write_text(_GST_RTSP_SERVER)
    rtsp_port, feed_port = free_port(), free_port(socket.SOCK_DGRAM)
    server = Service("gst-rtsp-server", [SYSTEM_PYTHON, str(script), str(rtsp_port), str(feed_port), *mode],
                     log_dir)
    feed = None
    try:
        wait_until(lambda: "ready" in server.log_text() and tcp_listening(rtsp_port), 30, "the RTSP server", server)
        feed = ffmpeg_push(test_mp4, ["-an", "-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{feed_port}?pkt_size=1316"],
                           log_dir)
        yield f"rtsp://127.0.0.1:{rtsp_port}/live"
    finally:
        if feed is not None:
            feed.stop()
        server.stop()


@pytest.fixture(scope="module")
def rtsp_server(tmp_path_factory, test_mp4):
    """rtsp://127.0.0.1:PORT/live: GStreamer's RTSP server (UDP and TCP transport) fed by ffmpeg."""
    yield from _gst_rtsp(tmp_path_factory, test_mp4)


@pytest.fixture(scope="module")
def tcp_only_rtsp_server(tmp_path_factory, test_mp4):
    """The same GStreamer RTSP server, offering interleaved TCP transport only."""
    yield from _gst_rtsp(tmp_path_factory, test_mp4, "tcp-only")


@pytest.fixture(scope="module")
def perl_rtsp_server(tmp_path_factory, test_mp4):
    """rtsp://127.0.0.1:PORT/live: rtsp-server-perl (UDP transport only: it answers a TCP-interleaved
    SETUP with 400), published to by ffmpeg over RTSP/UDP."""
    program = require_program("rtsp-server-perl", "rtsp-server-perl")
    directory = tmp_path_factory.mktemp("rtsp-perl")
    client_port, source_port = free_port(), free_port()
    server = Service("rtsp-server-perl", [program, "-c", str(client_port), "-s", str(source_port),
                                          "--client_listen_address", "127.0.0.1",
                                          "--source_listen_address", "127.0.0.1"], directory)
    feed = None
    try:
        # Watching the sockets, not connecting: a probe connection is a malformed request to it.
        wait_until(lambda: _listening(source_port) and _listening(client_port), 30, "rtsp-server-perl", server)
        feed = ffmpeg_push(test_mp4, ["-c", "copy", "-rtsp_transport", "udp", "-f", "rtsp",
                                      f"rtsp://127.0.0.1:{source_port}/live"], directory)
        time.sleep(1.5)  # the publisher's ANNOUNCE/RECORD (the mount exists only then)
        yield f"rtsp://127.0.0.1:{client_port}/live"
    finally:
        if feed is not None:
            feed.stop()
        server.stop()


def _listening(port: int) -> bool:
    """Whether a TCP socket listens on 127.0.0.1:port (from /proc/net/tcp, without connecting)."""
    wanted = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return tcp_listening(port)
    return any(fields[1] == wanted and fields[3] == "0A" for fields in (line.split() for line in lines))


# --------------------------------------------------------------------------- RTMP (nginx)

@pytest.fixture(scope="module")
def rtmp_server(tmp_path_factory, test_mp4):
    """rtmp://127.0.0.1:PORT/live/s: nginx + libnginx-mod-rtmp, published to by ffmpeg."""
    nginx = require_program("nginx", "nginx")
    module = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
    if not module.exists():
        pytest.fail(f"{module} missing (Debian package libnginx-mod-rtmp)")
    directory = tmp_path_factory.mktemp("rtmp")
    port = free_port()
    (directory / "nginx.conf").write_text(textwrap.dedent(f"""\
        load_module {module};
        daemon off;
        pid {directory}/nginx.pid;
        error_log {directory}/error.log;
        events {{}}
        rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; record off; }} }} }}
        """))
    server = Service("nginx", [nginx, "-c", str(directory / "nginx.conf"), "-p", str(directory)], directory)
    url = f"rtmp://127.0.0.1:{port}/live/s"
    feed = None
    try:
        wait_until(lambda: tcp_listening(port), 15, "nginx-rtmp", server)
        feed = ffmpeg_push(test_mp4, ["-c", "copy", "-f", "flv", url], directory)
        time.sleep(1.0)  # the publisher connects (a player connecting first would wait for it anyway)
        yield url
    finally:
        if feed is not None:
            feed.stop()
        server.stop()


# --------------------------------------------------------------------------- SRT (srt-live-transmit)

@pytest.fixture(scope="module")
def srt_server(tmp_path_factory, test_mp4):
    """srt://127.0.0.1:PORT: srt-live-transmit listening for SRT callers, fed MPEG-TS over UDP by ffmpeg."""
    transmit = require_program("srt-live-transmit", "srt-tools")
    directory = tmp_path_factory.mktemp("srt")
    srt_port, feed_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    server = Service("srt-live-transmit", [transmit, "-q", f"udp://127.0.0.1:{feed_port}",
                                           f"srt://127.0.0.1:{srt_port}?mode=listener"], directory)
    feed = None
    try:
        time.sleep(0.5)
        if not server.alive():
            raise RuntimeError("srt-live-transmit exited:\n" + server.log_text())
        feed = ffmpeg_push(test_mp4, ["-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{feed_port}?pkt_size=1316"],
                           directory)
        yield f"srt://127.0.0.1:{srt_port}"
    finally:
        if feed is not None:
            feed.stop()
        server.stop()


# --------------------------------------------------------------------------- UDP MPEG-TS

@pytest.fixture()
def udp_feed(tmp_path, test_mp4):
    """udp://127.0.0.1:PORT with ffmpeg sending MPEG-TS to it (a camera/encoder pushing a stream)."""
    port = free_port(socket.SOCK_DGRAM)
    feed = ffmpeg_push(test_mp4, ["-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"], tmp_path)
    try:
        yield f"udp://127.0.0.1:{port}"
    finally:
        feed.stop()


# --------------------------------------------------------------------------- HTTP(S)

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class HttpServer:
    """http.server on 127.0.0.1 in a thread, serving `directory`; optionally TLS."""

    def __init__(self, directory: Path, ssl_context=None) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if ssl_context is not None else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed_certificate(directory: Path) -> tuple:
    """(cert.pem, key.pem) for 127.0.0.1, made with the openssl CLI."""
    openssl = require_program("openssl", "openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


# --------------------------------------------------------------------------- pixel-clock feed (latency)

def load_latency_bench():
    """bench/latency.py as a module: its pixel clock (paint_clock/read_clock) and ClockSender."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "bench" / "latency.py"
    spec = importlib.util.spec_from_file_location("bench_latency", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_latency", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def clock_udp_feed(tmp_path):
    """udp://127.0.0.1:PORT carrying MPEG-TS H.264 (320x240, 30 fps, x264 zerolatency) whose every
    frame shows the sender's wallclock as a pixel code (bench/latency.py's read_clock reads it)."""
    require_program("ffmpeg", "ffmpeg")
    bench = load_latency_bench()
    port = free_port(socket.SOCK_DGRAM)
    url = f"udp://127.0.0.1:{port}"
    sender = bench.ClockSender(["-f", "mpegts", f"{url}?pkt_size=1316"], width=320, height=240, fps=30,
                               log=tmp_path / "clock-sender.log")
    try:
        yield url
    finally:
        sender.close()


# --------------------------------------------------------------------------- servers vistream publishes to
# (tests/test_outputs_live.py): the same programs with no feed of their own.

def start_nginx_rtmp(directory: Path, port: Optional[int] = None) -> "tuple[Service, int]":
    """nginx-rtmp accepting publishers at rtmp://127.0.0.1:PORT/live/NAME; (service, port).
    Pass `port` to restart a server killed earlier on the same address."""
    nginx = require_program("nginx", "nginx")
    module = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
    if not module.exists():
        pytest.fail(f"{module} missing (Debian package libnginx-mod-rtmp)")
    port = port or free_port()
    (directory / "nginx.conf").write_text(textwrap.dedent(f"""\
        load_module {module};
        daemon off;
        pid {directory}/nginx.pid;
        error_log {directory}/error.log;
        events {{}}
        rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; record off; }} }} }}
        """))
    server = Service("nginx", [nginx, "-c", str(directory / "nginx.conf"), "-p", str(directory)], directory)
    wait_until(lambda: tcp_listening(port), 15, "nginx-rtmp", server)
    return server, port


def start_perl_rtsp(directory: Path) -> "tuple[Service, int, int]":
    """rtsp-server-perl with no publisher yet; (service, client port, source port). Publishers
    ANNOUNCE/RECORD to rtsp://127.0.0.1:SOURCE/NAME over UDP; players read the client port (UDP)."""
    program = require_program("rtsp-server-perl", "rtsp-server-perl")
    client_port, source_port = free_port(), free_port()
    server = Service("rtsp-server-perl", [program, "-c", str(client_port), "-s", str(source_port),
                                          "--client_listen_address", "127.0.0.1",
                                          "--source_listen_address", "127.0.0.1"], directory)
    wait_until(lambda: _listening(source_port) and _listening(client_port), 30, "rtsp-server-perl", server)
    return server, client_port, source_port


def start_srt_to_udp(directory: Path) -> "tuple[Service, int, int]":
    """srt-live-transmit listening for an SRT caller and relaying to UDP; (service, srt port, udp port)."""
    transmit = require_program("srt-live-transmit", "srt-tools")
    srt_port, udp_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    server = Service("srt-live-transmit", [transmit, "-q", f"srt://127.0.0.1:{srt_port}?mode=listener",
                                           f"udp://127.0.0.1:{udp_port}?pkt_size=1316"], directory)
    time.sleep(0.3)
    if not server.alive():
        raise RuntimeError("srt-live-transmit exited:\n" + server.log_text())
    return server, srt_port, udp_port



# --------------------------------------------------------------------------- restartable rigs (reconnect tests)

class LiveRig:
    """A live server and its feeder that a test can kill and start again on the same ports
    (tests/test_reconnect.py). `start_server` may be None (the feeder is the sender itself, as
    for UDP). Every part is stopped by close(), whatever the test did."""

    def __init__(self, url: str, start_server: Optional[Callable[[], object]], start_feed: Callable[[], Service],
                 server_ready: Callable[[], None] = lambda: None, feed_ready: Callable[[], None] = lambda: None):
        self.url = url
        self._start_server, self._start_feed = start_server, start_feed
        self._server_ready, self._feed_ready = server_ready, feed_ready
        self.server = None
        self.feed: Optional[Service] = None

    def start_server(self) -> None:
        if self._start_server is not None:
            self.server = self._start_server()
            self._server_ready()

    def kill_server(self) -> None:
        """The server dies at once (SIGKILL, or a closed listening socket for in-process servers)."""
        if self.server is not None:
            if isinstance(self.server, Service):
                self.server.kill()
            else:
                self.server.close()
            self.server = None

    def start_feed(self) -> None:
        self.feed = self._start_feed()
        self._feed_ready()

    def kill_feed(self) -> None:
        if self.feed is not None:
            self.feed.kill()
            self.feed = None

    def start(self) -> "LiveRig":
        self.start_server()
        self.start_feed()
        return self

    def close(self) -> None:
        if self.feed is not None:
            self.feed.stop()
        if isinstance(self.server, Service):
            self.server.stop()
        elif self.server is not None:
            self.server.close()


def gst_rtsp_rig(directory: Path, source: Path) -> LiveRig:
    """GStreamer's RTSP server (UDP and TCP transport) fed MPEG-TS over UDP by ffmpeg."""
    reason = gst_rtsp_available()
    if reason:
        pytest.fail(reason)
    script = directory / "gst_rtsp_server.py"
    script.write_text(_GST_RTSP_SERVER)
    rtsp_port, feed_port = free_port(), free_port(socket.SOCK_DGRAM)
    rig = LiveRig(f"rtsp://127.0.0.1:{rtsp_port}/live", None, lambda: ffmpeg_push(
        source, ["-an", "-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{feed_port}?pkt_size=1316"], directory))

    def start_server() -> Service:
        (directory / "gst-rtsp-server.log").write_text("")  # "ready" of this run, not of the last
        return Service("gst-rtsp-server", [SYSTEM_PYTHON, str(script), str(rtsp_port), str(feed_port)], directory)

    rig._start_server = start_server
    rig._server_ready = lambda: wait_until(lambda: "ready" in rig.server.log_text() and tcp_listening(rtsp_port),
                                           30, "the RTSP server", rig.server)
    return rig


def perl_rtsp_rig(directory: Path, source: Path) -> LiveRig:
    """rtsp-server-perl (UDP transport only) published to over RTSP/UDP by ffmpeg."""
    program = require_program("rtsp-server-perl", "rtsp-server-perl")
    client_port, source_port = free_port(), free_port()

    def start_server() -> Service:
        return Service("rtsp-server-perl", [program, "-c", str(client_port), "-s", str(source_port),
                                            "--client_listen_address", "127.0.0.1",
                                            "--source_listen_address", "127.0.0.1"], directory)

    rig = LiveRig(f"rtsp://127.0.0.1:{client_port}/live", start_server, lambda: ffmpeg_push(
        source, ["-c", "copy", "-rtsp_transport", "udp", "-f", "rtsp", f"rtsp://127.0.0.1:{source_port}/live"],
        directory))
    rig._server_ready = lambda: wait_until(lambda: _listening(source_port) and _listening(client_port), 30,
                                           "rtsp-server-perl", rig.server)
    rig._feed_ready = lambda: time.sleep(1.5)  # ANNOUNCE/RECORD: the mount exists only then
    return rig


def rtmp_rig(directory: Path, source: Path) -> LiveRig:
    """nginx + libnginx-mod-rtmp, published to by ffmpeg (flv)."""
    nginx = require_program("nginx", "nginx")
    module = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
    if not module.exists():
        pytest.fail(f"{module} missing (Debian package libnginx-mod-rtmp)")
    port = free_port()
    (directory / "nginx.conf").write_text(textwrap.dedent(f"""\
        load_module {module};
        daemon off;
        pid {directory}/nginx.pid;
        error_log {directory}/error.log;
        events {{}}
        rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; record off; }} }} }}
        """))
    url = f"rtmp://127.0.0.1:{port}/live/s"
    rig = LiveRig(url, lambda: Service("nginx", [nginx, "-c", str(directory / "nginx.conf"), "-p", str(directory)],
                                       directory),
                  lambda: ffmpeg_push(source, ["-c", "copy", "-f", "flv", url], directory))
    rig._server_ready = lambda: wait_until(lambda: tcp_listening(port), 15, "nginx-rtmp", rig.server)
    rig._feed_ready = lambda: time.sleep(1.0)
    return rig


def srt_rig(directory: Path, source: Path) -> LiveRig:
    """srt-live-transmit listening for SRT callers, fed MPEG-TS over UDP by ffmpeg."""
    transmit = require_program("srt-live-transmit", "srt-tools")
    srt_port, feed_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    rig = LiveRig(f"srt://127.0.0.1:{srt_port}",
                  lambda: Service("srt-live-transmit", [transmit, "-q", f"udp://127.0.0.1:{feed_port}",
                                                        f"srt://127.0.0.1:{srt_port}?mode=listener"], directory),
                  lambda: ffmpeg_push(source, ["-c", "copy", "-f", "mpegts",
                                               f"udp://127.0.0.1:{feed_port}?pkt_size=1316"], directory))
    rig._server_ready = lambda: time.sleep(0.5)
    return rig


def udp_rig(directory: Path, source: Path) -> LiveRig:
    """ffmpeg sending MPEG-TS to udp://127.0.0.1:PORT (the sender is the server)."""
    port = free_port(socket.SOCK_DGRAM)
    return LiveRig(f"udp://127.0.0.1:{port}", None, lambda: ffmpeg_push(
        source, ["-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"], directory))


class _PortHttpServer(HttpServer):
    """HttpServer on a given port (a restarted server comes back where clients knew it)."""

    def __init__(self, directory: Path, port: int) -> None:  # noqa: super().__init__ binds port 0
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


def hls_rig(directory: Path, source: Path) -> LiveRig:
    """A live HLS playlist written by ffmpeg (1 s segments, a sliding window) served over HTTP
    by http.server; the server is what a test kills and restarts."""
    serve = directory / "hls"
    serve.mkdir(exist_ok=True)
    port = free_port()
    playlist = serve / "live.m3u8"
    rig = LiveRig(f"http://127.0.0.1:{port}/live.m3u8", lambda: _PortHttpServer(serve, port), lambda: ffmpeg_push(
        source, ["-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_list_size", "6", "-hls_flags",
                 "delete_segments", str(playlist)], directory))
    rig._feed_ready = lambda: wait_until(lambda: playlist.exists() and playlist.read_text().count("#EXTINF") >= 2,
                                         20, "the HLS playlist", rig.feed)
    return rig


class StallingTcpServer:
    """tcp://127.0.0.1:PORT serving MPEG-TS that stops flowing: the first connection gets
    `first_bytes` of `ts_file`, then nothing (the socket stays open); later connections are
    accepted and get nothing at all. `connections` counts the accepts."""

    def __init__(self, ts_file: Path, first_bytes: int) -> None:
        self.data = ts_file.read_bytes()[:first_bytes]
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.url = f"tcp://127.0.0.1:{self.port}"
        self.connections = 0
        self._open: List[socket.socket] = []
        self._closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(connection)
            if self.connections == 1:
                try:
                    connection.sendall(self.data)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed.set()
        self.listener.close()
        for connection in self._open:
            connection.close()


# --------------------------------------------------------------------------- outputs: servers restarted in place
# (tests/test_outputs_network.py)

def start_perl_rtsp_on(directory: Path, client_port: int, source_port: int) -> Service:
    """rtsp-server-perl on the given ports (a server killed earlier comes back where publishers knew it)."""
    program = require_program("rtsp-server-perl", "rtsp-server-perl")
    server = Service("rtsp-server-perl", [program, "-c", str(client_port), "-s", str(source_port),
                                          "--client_listen_address", "127.0.0.1",
                                          "--source_listen_address", "127.0.0.1"], directory)
    wait_until(lambda: _listening(source_port) and _listening(client_port), 30, "rtsp-server-perl", server)
    return server


class SilentTcpListener:
    """tcp://127.0.0.1:PORT where a server should be but never answers: the kernel completes the
    handshake (the backlog), nobody accepts or sends a byte. An RTMP/RTSP client blocks there."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]

    def close(self) -> None:
        self.listener.close()


class RecordingTcpServer:
    """tcp://127.0.0.1:PORT accepting one connection at a time and keeping each one's bytes
    (`connections[i]`); drop_current() closes the live connection (a server losing its client)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.connections: List[bytearray] = []
        self._current: Optional[socket.socket] = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            data = bytearray()
            with self._lock:
                self._current = connection
                self.connections.append(data)
            while True:
                try:
                    chunk = connection.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                data.extend(chunk)
            connection.close()

    def drop_current(self) -> None:
        with self._lock:
            if self._current is not None:
                try:
                    self._current.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close() does not)
        except OSError:
            pass
        self.listener.close()
        self.drop_current()
        self.thread.join(timeout=5)


class Mosquitto:
    """Debian's mosquitto MQTT broker on a free loopback port (tests/test_sinks_mqtt.py).

    Persistent (``persistence true`` in ``directory``), so ``restart()`` keeps durable sessions
    and their queued messages, as a production broker restarting would; ``stop()`` always ends it
    (the fixture calls it)."""

    def __init__(self, directory: Path) -> None:
        self.program = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
        if self.program is None:
            pytest.fail("mosquitto not installed (Debian package mosquitto; scripts/setup.sh --test installs it)")
        self.directory = directory
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        # user root: run as root, mosquitto would otherwise switch to its own user, which cannot
        # write the persistence file in the test's folder (ignored when not root)
        self.config.write_text(textwrap.dedent(f"""\
            listener {self.port} 127.0.0.1
            allow_anonymous true
            persistence true
            persistence_location {directory}/
            max_queued_messages 100000
            user root
            log_dest stdout
            """))
        self.service: Optional[Service] = None
        self.start()

    def start(self) -> None:
        self.service = Service("mosquitto", [self.program, "-c", str(self.config)], self.directory)
        wait_until(lambda: tcp_listening(self.port), 10, f"mosquitto on port {self.port}", self.service)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()


# --------------------------------------------------------------------------- web view clients

def stalled_websocket(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads a byte."""
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    return client
