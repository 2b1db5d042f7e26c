"""The web view measured (issue 16): glass-to-browser latency, load on the pipeline, and the peer.

Latency is measured without trusting any clock of the server or the page. The last annotator
of the pipeline burns the frame's index into the pixels as a binary code (big black/white
blocks in the top-left corner) and logs the wallclock at which it handed the frame over. In a
real headless Chromium (selenium, Debian's chromium-driver), a requestAnimationFrame loop
copies the code's corner of the element that shows the video into a small canvas, decodes the
index and notes ``Date.now()`` the first time each index is on screen. Server and browser run
on this machine, so both clocks are one. The same code, the same decode (vistream's) and the
same annotator feed the peer, a minimal streamlit app (``bench/web_peer_streamlit.py``), in the
same run.

    python bench/web.py                    # everything (~3 min), writes JSON + BENCHMARKS.md
    python bench/web.py --no-write         # print the tables only
    python bench/web.py --only latency     # or: load

Rows:
- latency: WebSocket frames as the vistream page draws them (``#video``; a minimal WS probe page
  when the server has no page yet), MJPEG (``/stream.mjpg`` in an ``<img>``), streamlit
  (``st.empty().image(...)`` in a loop paced to the clip's rate). Median / p95 / max of
  shown-at minus handed-over-at, frames shown per second, frames lost (handed over in the
  measured window but never on screen).
- load: the pipeline's fps in offline mode (as fast as it goes) and the frames realtime mode
  dropped, with no web view, with the web view and 0 clients, 1 browser, 5 browsers, and 1
  WebSocket that never reads.

Outputs: tables on stdout, ``bench/results/web-<host>-<date>.json`` and the "Web view" section of
BENCHMARKS.md (between the ``bench/web.py`` markers). The 1280x720 30 fps clip is generated once
into ``bench/media/`` (gitignored) with the command in ``CLIP_COMMAND``.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))  # its helpers sit beside it (also when loaded by path)
from benchmarks_md import write_marked_section  # noqa: E402
MEDIA = REPO / "bench" / "media"
CLIP = MEDIA / "web-testsrc2-720p30-40s.mp4"
CLIP_COMMAND = ["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=40",
                "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-bf", "2", "-pix_fmt", "yuv420p", "-an"]

# ----------------------------------------------------------------------------- the frame code
#
# 3 rows of 8 blocks, one block's margin from the top-left corner: 16 bits of the frame index
# (modulo 65536) then an 8-bit check. A block is white (255) for 1, black (0) for 0, and a
# 32nd of the picture's width wide (40 px at 1280), so JPEG at any usual quality and any
# scaling the page applies keep its centre on the right side of the threshold. The check is the
# XOR of the two index bytes and 0x5A, so an all-black (or all-white) corner never decodes.

CODE_COLUMNS = 8
CODE_ROWS = 3
INDEX_BITS = 16
CHECK_BITS = 8
BLOCKS_PER_WIDTH = 32
_CHECK_SALT = 0x5A


def code_block(width: int) -> int:
    """Side of a code block in pixels, for pictures `width` wide."""
    return max(4, width // BLOCKS_PER_WIDTH)


def _code_bits(index: int) -> List[int]:
    value = index % (1 << INDEX_BITS)
    check = (value >> 8) ^ (value & 0xFF) ^ _CHECK_SALT
    return ([(value >> (INDEX_BITS - 1 - i)) & 1 for i in range(INDEX_BITS)]
            + [(check >> (CHECK_BITS - 1 - i)) & 1 for i in range(CHECK_BITS)])


def burn_code(image: np.ndarray, index: int) -> None:
    """Writes `index` (modulo 65536) into the top-left corner of an (H, W) or (H, W, C) uint8 image, in place."""
    side = code_block(image.shape[1])
    for position, bit in enumerate(_code_bits(index)):
        row, column = divmod(position, CODE_COLUMNS)
        y, x = side * (row + 1), side * (column + 1)
        image[y:y + side, x:x + side] = 255 if bit else 0


def read_code(image: np.ndarray) -> Optional[int]:
    """The index burnt into `image` (gray or colour), or None when the check fails."""
    gray = image if image.ndim == 2 else image[..., 1]
    side = code_block(gray.shape[1])
    inner = max(1, side // 4)
    bits = []
    for position in range(CODE_ROWS * CODE_COLUMNS):
        row, column = divmod(position, CODE_COLUMNS)
        y, x = side * (row + 1) + side // 2, side * (column + 1) + side // 2
        bits.append(1 if gray[y - inner:y + inner, x - inner:x + inner].mean() >= 128 else 0)
    return _decode_bits(bits)


def _decode_bits(bits: Sequence[int]) -> Optional[int]:
    value = 0
    for bit in bits[:INDEX_BITS]:
        value = (value << 1) | bit
    check = 0
    for bit in bits[INDEX_BITS:INDEX_BITS + CHECK_BITS]:
        check = (check << 1) | bit
    return value if check == (value >> 8) ^ (value & 0xFF) ^ _CHECK_SALT else None


class FrameCodeAnnotator:
    """The pipeline's last annotator: burns the frame's index and logs when the frame leaves the pipeline.

    Annotators see only the image, so ``CodedPipeline`` tells it the frame's index first.
    ``handovers`` is a list of ``(index modulo 65536, time.time())``, appended on the pipeline's
    thread (list.append is atomic) and read once the run is over.
    """

    def __init__(self) -> None:
        self.handovers: List[Tuple[int, float]] = []
        self.current_index = 0

    def annotate(self, image: np.ndarray, detections) -> np.ndarray:
        burn_code(image, self.current_index)
        return image

    def handed_over(self) -> None:
        self.handovers.append((self.current_index % (1 << INDEX_BITS), time.time()))


_BOXES = np.array([[420, 200, 620, 560, 0.9, 0], [700, 260, 860, 600, 0.8, 0], [980, 120, 1200, 420, 0.7, 2]],
                  dtype=np.float32)


def _fixed_boxes(image: np.ndarray) -> np.ndarray:
    """Three boxes ([x1, y1, x2, y2, score, class]) on every frame: something for the annotators to draw."""
    return _BOXES.copy()


class CodedPipeline:
    """The Player's callback: a vistream ``Pipeline`` (a fixed-box detector, box and label
    annotators, then the code annotator) whose end is logged as the hand-over time. What the web
    view publishes comes right after this returns (``WebView.install`` chains its publish after
    the registered callback). The detector costs nothing: the web path is what is measured."""

    def __init__(self) -> None:
        import vistream as vs
        from vistream.annotate import BoxAnnotator, LabelAnnotator

        self.code = FrameCodeAnnotator()
        self.pipeline = vs.Pipeline(_fixed_boxes, annotators=[BoxAnnotator(), LabelAnnotator(), self.code])

    def __call__(self, frame) -> None:
        self.code.current_index = frame.index
        self.pipeline(frame)
        self.code.handed_over()

    def _bind_player(self, player) -> None:
        self.pipeline._bind_player(player)


def ensure_clip() -> Path:
    if not CLIP.exists():
        MEDIA.mkdir(parents=True, exist_ok=True)
        print(f"generating {CLIP.name} ...", file=sys.stderr, flush=True)
        subprocess.run([*CLIP_COMMAND, str(CLIP)], check=True)
    return CLIP


# ----------------------------------------------------------------------------- the browser side
#
# One requestAnimationFrame loop per page: the element showing the video (found by a CSS
# selector list, first match) is drawn, code corner only, into an 8x3-cell canvas without
# smoothing (each cell's centre pixel = a block's centre), the bits decoded, and the first time
# an index is on screen its Date.now() recorded. Works for <img> (MJPEG, streamlit), <canvas>
# (whatever context the page draws with) and <video>.

PROBE_JS = r"""
const selectors = arguments[0];
const cell = 8, cols = %(cols)d, rows = %(rows)d, indexBits = %(index_bits)d, checkBits = %(check_bits)d;
const probe = document.createElement('canvas');
probe.width = cols * cell; probe.height = rows * cell;
const ctx = probe.getContext('2d', {willReadFrequently: true});
ctx.imageSmoothingEnabled = false;
const state = window.__webbench = {records: [], invalid: 0, polls: 0, last: -1, errors: 0};
function element() {
  for (const s of selectors) { const e = document.querySelector(s); if (e) return e; }
  return null;
}
function size(e) {
  if (e instanceof HTMLImageElement) return [e.naturalWidth, e.naturalHeight];
  if (e instanceof HTMLVideoElement) return [e.videoWidth, e.videoHeight];
  return [e.width, e.height];
}
function poll() {
  const now = Date.now();
  state.polls++;
  const e = element();
  if (e) {
    const [w, h] = size(e);
    if (w > 0 && h > 0) {
      const side = Math.max(4, Math.floor(w / %(blocks)d));
      try {
        ctx.drawImage(e, side, side, cols * side, rows * side, 0, 0, cols * cell, rows * cell);
        const px = ctx.getImageData(0, 0, cols * cell, rows * cell).data;
        let value = 0, check = 0;
        for (let i = 0; i < indexBits + checkBits; i++) {
          const r = Math.floor(i / cols), c = i %% cols;
          const o = ((r * cell + cell / 2) * cols * cell + c * cell + cell / 2) * 4;
          const bit = px[o + 1] >= 128 ? 1 : 0;
          if (i < indexBits) value = (value << 1) | bit; else check = (check << 1) | bit;
        }
        if (check === ((value >> 8) ^ (value & 255) ^ %(salt)d)) {
          if (value !== state.last) { state.records.push([value, now]); state.last = value; }
        } else state.invalid++;
      } catch (err) { state.errors++; }
    }
  }
  requestAnimationFrame(poll);
}
requestAnimationFrame(poll);
""" % {"cols": CODE_COLUMNS, "rows": CODE_ROWS, "index_bits": INDEX_BITS, "check_bits": CHECK_BITS,
       "blocks": BLOCKS_PER_WIDTH, "salt": _CHECK_SALT}

# A minimal WebSocket page (the server's protocol, contract of issue 16): draws each binary
# message as it comes. Used when the server has no page with a #video element yet.
WS_PROBE_HTML = r"""<canvas id="video"></canvas><script>
(function () {
  const canvas = document.getElementById('video');
  const ctx = canvas.getContext('2d');
  const token = new URLSearchParams(location.search).get('token');
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws'
                           + (token ? '?token=' + encodeURIComponent(token) : ''));
  ws.binaryType = 'blob';
  let drawing = false, pending = null;
  async function draw(blob) {
    drawing = true;
    try {
      const bitmap = await createImageBitmap(blob);
      if (canvas.width !== bitmap.width) { canvas.width = bitmap.width; canvas.height = bitmap.height; }
      ctx.drawImage(bitmap, 0, 0); bitmap.close();
    } finally { drawing = false; }
    if (pending) { const next = pending; pending = null; draw(next); }
  }
  ws.onmessage = (m) => { if (typeof m.data === 'string') return; if (drawing) pending = m.data; else draw(m.data); };
})();
</script>"""

MJPEG_PROBE_HTML = r"""<img id="video" src="/stream.mjpg%s">"""


def chromium(width: int = 1400, height: int = 900):
    """A headless Chromium through selenium and Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def _set_page(driver, html: str) -> None:
    """Replaces the current (same-origin) document's body with `html` and runs its scripts."""
    driver.execute_script("""
        document.open(); document.write(arguments[0]); document.close();""", html)


def start_probe(driver, selectors: Sequence[str]) -> None:
    driver.execute_script(PROBE_JS, list(selectors))


def probe_records(driver) -> dict:
    return driver.execute_script(
        "const s = window.__webbench || {records: [], invalid: 0, polls: 0, errors: 0};"
        "return {records: s.records, invalid: s.invalid, polls: s.polls, errors: s.errors,"
        " frames: (window.vistreamFrames || []).slice()};")


# ----------------------------------------------------------------------------- matching

def latency_stats(handovers: List[Tuple[int, float]], shown: List[Tuple[int, int]], window: Tuple[float, float]) -> dict:
    """Pairs each index first shown at ``shown_ms`` with the latest hand-over of that index at or
    before it; counts hand-overs in `window` (wallclock seconds) that were never shown."""
    by_code: Dict[int, List[float]] = {}
    for code, at in handovers:
        by_code.setdefault(code, []).append(at)
    start, end = window
    latencies: List[float] = []
    shown_handovers = set()
    unmatched = 0
    for code, shown_ms in shown:
        shown_at = shown_ms / 1000.0
        if not start <= shown_at <= end:
            continue
        candidates = [at for at in by_code.get(code, ()) if at <= shown_at + 0.002]  # Date.now() is in ms
        if not candidates:
            unmatched += 1
            continue
        handed = max(candidates)
        latencies.append(max(0.0, shown_at - handed))
        shown_handovers.add((code, handed))
    # a frame handed over in the window, early enough that it could have been shown before its end
    expected = [(code, at) for code, at in handovers if start <= at <= end - 0.5]
    lost = sum(1 for item in expected if item not in shown_handovers)
    result = {"handed_over": len(expected), "shown": len(latencies), "lost": lost, "unmatched": unmatched,
              "lost_fraction": lost / len(expected) if expected else None,
              "shown_fps": len(latencies) / (end - start) if end > start else 0.0}
    if latencies:
        ordered = sorted(latencies)
        result.update(median_ms=1000 * statistics.median(ordered),
                      p95_ms=1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
                      max_ms=1000 * ordered[-1], min_ms=1000 * ordered[0])
    return result


# ----------------------------------------------------------------------------- vistream served

class Served:
    """A realtime or offline Player + CodedPipeline, with a WebView (or none), run on a thread."""

    def __init__(self, clip: Path, mode: str, web: bool = True, end: Optional[float] = None) -> None:
        import vistream as vs

        self.player = vs.Player(str(clip), mode=mode, display=False, play_audio=False, end=end)
        self.coded = CodedPipeline()
        self.player.on_frame(self.coded)
        self.view = None
        #: seconds the pipeline's thread spent in the web view's publish() per frame (the copy of
        #: the pixels for the encoder thread): what the web view costs the pipeline itself
        self.publish_seconds: List[float] = []
        if web:
            from vistream.web import WebView

            self.view = WebView(self.player, self.coded.pipeline, port=0)
            self._time_publish(self.view.feed)
            self.view.install()
            self.view.start()
        self.stats = None
        self.error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = None

    def _time_publish(self, feed) -> None:
        publish = feed.publish

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return publish(*args, **kwargs)
            finally:
                self.publish_seconds.append(time.perf_counter() - started)

        feed.publish = timed  # the publishing callback looks feed.publish up per frame

    def publish_ms(self) -> dict:
        if not self.publish_seconds:
            return {}
        ordered = sorted(self.publish_seconds)
        return {"publish_median_ms": 1000 * statistics.median(ordered),
                "publish_p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.view.port}/"

    def run(self) -> None:
        def target() -> None:
            try:
                self.stats = self.player.run()
            except BaseException as error:  # noqa: BLE001 - re-raised by join()
                self.error = error

        self._thread = threading.Thread(target=target, name="webbench-player", daemon=True)
        self._thread.start()

    def join(self, timeout: Optional[float] = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the player did not end")
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.player.stop()
        if self._thread is not None:
            self._thread.join(30)
        if self.view is not None:
            self.view.stop()


def page_has_video(driver) -> bool:
    return bool(driver.execute_script("return !!document.getElementById('video');"))


def open_vistream_page(driver, base: str, transport: str) -> str:
    """Loads what the browser shows for `transport`; returns a name for the page used.

    ws: the server's own page when it has a #video element fed by WebSocket (issue 16's page),
    else the minimal WS probe page; mjpeg: an <img src=/stream.mjpg> (same origin, so its pixels
    can be read)."""
    if transport == "ws":
        driver.get(base)
        if page_has_video(driver) and driver.execute_script(
                "const v = document.getElementById('video'); return v.tagName === 'CANVAS';"):
            return "vistream page (#video canvas, WebSocket)"
        driver.get(base + "api/state")
        _set_page(driver, WS_PROBE_HTML)
        return "WS probe page (bench/web.py)"
    driver.get(base + "api/state")
    _set_page(driver, MJPEG_PROBE_HTML % "")
    return "<img src=/stream.mjpg>"


def measure_vistream_latency(clip: Path, transport: str, warmup: float, seconds: float) -> dict:
    served = Served(clip, "realtime")
    driver = chromium()
    try:
        page = open_vistream_page(driver, served.base, transport)
        start_probe(driver, ["#video"])
        probe_started = time.time()
        time.sleep(0.5)
        served.run()
        started = time.time()
        time.sleep(warmup + seconds)
        ended = time.time()
        records = probe_records(driver)
    finally:
        driver.quit()
        served.close()
    stats = served.stats
    result = latency_stats(served.coded.code.handovers, [tuple(r) for r in records["records"]],
                           (started + warmup, ended))
    result.update(peer="vistream", transport=transport, page=page, invalid_polls=records["invalid"],
                  probe_hz=records["polls"] / (ended - probe_started),
                  polls=records["polls"], probe_errors=records["errors"],
                  pipeline_dropped=stats.frames_dropped if stats else None,
                  pipeline_processed=stats.frames_processed if stats else None,
                  jpeg_encoded=served.view.feed.frames_encoded if served.view else None, **served.publish_ms())
    if records["frames"]:  # the page's own account (window.vistreamFrames): published_at -> shown_at
        own = sorted(f["shown_at"] - 1000 * f["published_at"] for f in records["frames"]
                     if f.get("published_at") and f.get("shown_at")
                     and started + warmup <= f["shown_at"] / 1000 <= ended)
        if own:
            result["page_reported_median_ms"] = statistics.median(own)
    return result


# ----------------------------------------------------------------------------- the peer: streamlit

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer in {timeout:g} s")
            time.sleep(0.2)


def measure_streamlit_latency(clip: Path, warmup: float, seconds: float) -> dict:
    """The same clip, decode (vistream.Reader), pipeline and code, shown by a streamlit app."""
    import importlib.util

    if importlib.util.find_spec("streamlit") is None:  # said at once, not after the app's 60 s start-up wait
        raise RuntimeError("streamlit is not installed (pip install streamlit)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="webbench-") as scratch:
        handover_log = Path(scratch) / "handovers.txt"
        environment = dict(os.environ, WEBBENCH_CLIP=str(clip), WEBBENCH_HANDOVERS=str(handover_log),
                           WEBBENCH_SECONDS=str(warmup + seconds + 5), PYTHONPATH=str(REPO / "bench"))
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "bench" / "web_peer_streamlit.py"),
             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
             "--server.runOnSave", "false", "--global.developmentMode", "false"],
            env=environment, stdout=subprocess.DEVNULL, stderr=open(Path(scratch) / "streamlit.log", "wb"),
            cwd=scratch)
        driver = None
        try:
            _wait_http(f"http://127.0.0.1:{port}/_stcore/health", 60)
            driver = chromium()
            driver.get(f"http://127.0.0.1:{port}/")  # the session's script run starts with the page
            start_probe(driver, ['[data-testid="stImage"] img', "img"])
            started = probe_started = time.time()
            time.sleep(warmup + seconds)
            ended = time.time()
            records = probe_records(driver)
        finally:
            if driver is not None:
                driver.quit()
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        handovers = []
        dropped = 0
        if handover_log.exists():
            for line in handover_log.read_text().splitlines():
                parts = line.split()
                if parts[0] == "dropped":
                    dropped += 1
                else:
                    handovers.append((int(parts[0]), float(parts[1])))
        log_tail = (Path(scratch) / "streamlit.log").read_text(errors="replace")[-2000:]
    # warm-up counts from the first frame handed over (streamlit's start-up is not latency)
    first = min((at for _, at in handovers), default=started)
    result = latency_stats(handovers, [tuple(r) for r in records["records"]], (max(started, first) + warmup, ended))
    result.update(peer="streamlit", transport="st.empty().image", page="streamlit app (its <img>)",
                  probe_hz=records["polls"] / (ended - probe_started),
                  invalid_polls=records["invalid"], polls=records["polls"], probe_errors=records["errors"],
                  pipeline_dropped=dropped, pipeline_processed=len(handovers))
    if not handovers:
        result["error"] = "no frame handed over; streamlit log: " + log_tail
    return result


# ----------------------------------------------------------------------------- load on the pipeline

def stalled_websocket(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (a tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:  # byte by byte: nothing past the handshake is read
        byte = sock.recv(1)
        if not byte:
            raise RuntimeError("the server closed the WebSocket handshake")
        response += byte
    if b" 101 " not in response.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"WebSocket handshake refused: {response[:200]!r}")
    return sock


def run_load(clip: Path, clients: str, runs: Sequence[Tuple[str, float]]) -> List[dict]:
    """Pipeline runs (each `(mode, clip seconds)`) with `clients` connected; the browsers are
    started once for them and pointed at each run's server."""
    browsers = int(clients.split()[0]) if clients.endswith(("browser", "browsers")) else 0
    drivers = []
    results = []
    try:
        for _ in range(browsers):
            drivers.append(chromium())
        for mode, end in runs:
            served = Served(clip, mode, web=clients != "no web view", end=end)
            sockets = []
            try:
                for driver in drivers:
                    driver.get(served.base)
                if clients == "1 WebSocket that never reads":
                    sockets.append(stalled_websocket(served.view.port))
                time.sleep(1.0)  # the clients' connections settle (page scripts open their sockets)
                load_before = os.getloadavg()[0]
                served.run()
                served.join(timeout=600)
            finally:
                for sock in sockets:
                    sock.close()
                served.close()
            stats = served.stats
            results.append({"clients": clients, "mode": mode, "page": "the server's page (GET /)" if drivers else None,
                            "fps": stats.fps, "elapsed": stats.elapsed, "frames_processed": stats.frames_processed,
                            "frames_decoded": stats.frames_decoded, "frames_dropped": stats.frames_dropped,
                            "load_before": load_before,
                            "jpeg_encoded": served.view.feed.frames_encoded if served.view else None,
                            **served.publish_ms()})
    finally:
        for driver in drivers:
            with contextlib.suppress(Exception):
                driver.quit()
    return results


# ----------------------------------------------------------------------------- report

def _machine() -> dict:
    return {"host": platform.node(), "cpus": os.cpu_count(), "loadavg": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(), "nice": os.nice(0)}


def _fmt(value: Optional[float], digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def latency_table(results: List[dict]) -> str:
    reference = next((r for r in results if r.get("transport") == "ws" and r.get("median_ms")), None)
    lines = ["| path | what the browser shows | median ms | p95 ms | max ms | frames shown/s | frames lost "
             "| frames skipped before hand-over | median ÷ vistream WS | shown/s ÷ vistream WS | page frames/s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        ratio = f"{r['median_ms'] / reference['median_ms']:.2f}" if reference and r.get("median_ms") else "–"
        fps_ratio = (f"{r['shown_fps'] / reference['shown_fps']:.2f}" if reference and reference.get("shown_fps")
                     and r.get("shown_fps") is not None else "–")
        lost = f"{r['lost']} of {r['handed_over']}" if "lost" in r else "–"
        page = r.get("page") or ("error: " + r.get("error", "")[:120].replace("|", "/"))
        lines.append(f"| {r['peer']} {r['transport']} | {page} | {_fmt(r.get('median_ms'))} "
                     f"| {_fmt(r.get('p95_ms'))} | {_fmt(r.get('max_ms'))} | {_fmt(r.get('shown_fps'), 1)} "
                     f"| {lost} | {_fmt(r.get('pipeline_dropped'))} | {ratio} | {fps_ratio} | {_fmt(r.get('probe_hz'))} |")
    lines.append("\n_page frames/s: how often the browser ran its animation-frame loop (60 on an idle machine); "
                 "well below 60 the browser was starved of CPU and the row measures the machine, not the server._")
    return "\n".join(lines)


def load_table(results: List[dict]) -> str:
    """One row per client setup: the median offline run (and the range), the realtime run."""
    def offline_of(clients: str) -> List[dict]:
        return sorted((r for r in results if r["clients"] == clients and r["mode"] == "offline" and r.get("fps")),
                      key=lambda r: r["fps"])

    def median_run(clients: str) -> Optional[dict]:
        runs = offline_of(clients)
        return runs[len(runs) // 2] if runs else None

    realtime = {r["clients"]: r for r in results if r["mode"] == "realtime"}
    reference = median_run("0 clients")
    lines = ["| clients | offline fps, median (range) | ÷ 0 clients | offline: JPEGs encoded "
             "| publish ms/frame (median, p99) | realtime: frames dropped | realtime: frames processed "
             "| realtime: JPEGs encoded |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for clients in LOAD_CLIENTS:
        o, rt, runs = median_run(clients), realtime.get(clients), offline_of(clients)
        if o is None and rt is None:
            continue
        fps = f"{o['fps']:.0f} ({runs[0]['fps']:.0f}–{runs[-1]['fps']:.0f})" if o else "–"
        ratio = f"{o['fps'] / reference['fps']:.2f}" if o and reference else "–"
        publish = (f"{o['publish_median_ms']:.2f}, {o['publish_p99_ms']:.2f}" if o and o.get("publish_median_ms")
                   is not None else "–")
        lines.append(f"| {clients} | {fps} | {ratio} | {_fmt(o and o['jpeg_encoded'])} | {publish} "
                     f"| {_fmt(rt and rt['frames_dropped'])} | {_fmt(rt and rt['frames_processed'])} "
                     f"| {_fmt(rt and rt['jpeg_encoded'])} |")
    return "\n".join(lines)


LOAD_CLIENTS = ["no web view", "0 clients", "1 browser", "5 browsers", "1 WebSocket that never reads"]
START = "<!-- bench/web.py: start -->"
END = "<!-- bench/web.py: end -->"


def write_section(markdown: str, machine: dict, args: argparse.Namespace) -> None:
    body = (f"_Generated by `nice -n {machine['nice']} python bench/web.py` on {datetime.date.today()} "
            f"({machine['cpus']} cores shared with other jobs: load average {machine['load_start']:.1f} at the start, "
            f"{machine['loadavg'][0]:.1f} at the end). Clip: `{' '.join(CLIP_COMMAND)} {CLIP.relative_to(REPO)}`; "
            f"latency: {args.seconds:g} s measured after {args.warmup:g} s warm-up per row; load: "
            f"{args.offline_runs} offline runs of the first {args.offline_seconds:g} s of the clip per row, interleaved "
            f"over the rows (the median run is shown), one realtime run of the first {args.realtime_seconds:g} s._\n\n"
            f"{markdown}")
    write_marked_section(REPO / "BENCHMARKS.md", START, END, "## Web view (`bench/web.py`)", body)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("latency", "load"), default=None)
    parser.add_argument("--transports", nargs="+", choices=("ws", "mjpeg", "streamlit"),
                        default=["ws", "mjpeg", "streamlit"])
    parser.add_argument("--clients", nargs="+", choices=LOAD_CLIENTS, default=LOAD_CLIENTS)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per latency row")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured at the start of a row")
    parser.add_argument("--offline-seconds", type=float, default=15.0, help="clip seconds of each offline run")
    parser.add_argument("--offline-runs", type=int, default=3, help="offline runs per client setup")
    parser.add_argument("--realtime-seconds", type=float, default=8.0, help="clip seconds of each realtime run")
    parser.add_argument("--no-write", action="store_true", help="print only: no JSON, no BENCHMARKS.md")
    args = parser.parse_args(argv)

    clip = ensure_clip()
    load_start = os.getloadavg()[0]
    latency: List[dict] = []
    load: List[dict] = []
    if args.only in (None, "latency"):
        for transport in args.transports:
            print(f"latency {transport} ...", file=sys.stderr, flush=True)
            try:
                if transport == "streamlit":
                    result = measure_streamlit_latency(clip, args.warmup, args.seconds)
                else:
                    result = measure_vistream_latency(clip, transport, args.warmup, args.seconds)
            except Exception as error:  # a row failing is reported, the others still run
                result = {"peer": "streamlit" if transport == "streamlit" else "vistream", "transport": transport,
                          "error": f"{type(error).__name__}: {error}"}
            latency.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
    if args.only in (None, "load"):
        # Offline runs interleaved over the client setups (one round = every setup once), so a
        # change in the machine's load from other jobs spreads over all rows instead of one.
        rounds = [[("offline", args.offline_seconds)]] * args.offline_runs + [[("realtime", args.realtime_seconds)]]
        for number, runs in enumerate(rounds):
            for clients in args.clients:
                print(f"load round {number + 1}/{len(rounds)}: {clients} ...", file=sys.stderr, flush=True)
                try:
                    rows = run_load(clip, clients, runs)
                except Exception as error:
                    rows = [{"clients": clients, "mode": "error", "error": f"{type(error).__name__}: {error}"}]
                load.extend(rows)
                for row in rows:
                    print(json.dumps(row), file=sys.stderr, flush=True)
    machine = _machine()
    machine["load_start"] = load_start
    parts = []
    if latency:
        parts.append("Glass-to-browser latency, 1280x720 30 fps, realtime mode, loopback, headless Chromium:\n\n"
                     + latency_table(latency))
    if load:
        parts.append("The page never slows the pipeline (pipeline fps offline; frames realtime mode dropped):\n\n"
                     + load_table(load))
    markdown = "\n\n".join(parts)
    print(markdown)
    if not args.no_write:
        results = REPO / "bench" / "results"
        results.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        (results / f"web-{machine['host']}-{stamp}.json").write_text(json.dumps(
            {"machine": machine, "arguments": vars(args), "clip_command": [*CLIP_COMMAND, str(CLIP.relative_to(REPO))],
             "latency": latency, "load": load}, indent=1))
        write_section(markdown, machine, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
