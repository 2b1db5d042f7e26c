"""Glass-to-callback latency of live streams: vistream vs OpenCV ``VideoCapture`` vs PyAV.

No library's clock is trusted. A sender paints its wallclock (milliseconds since the epoch)
into every frame as a pixel code, right before the frame goes to the encoder; each receiver
reads the code back from the pixels it gets and subtracts it from its own wallclock at the
moment it has the frame as a BGR array (vistream: the callback starts; OpenCV: ``read()``
returned; PyAV: ``to_ndarray("bgr24")`` returned). Sender and receivers run on this machine,
so the two clocks are one. Every peer is measured the same way, on the same sender session,
one after the other.

    python bench/latency.py                       # UDP and RTSP, fast and slow consumers
    python bench/latency.py --seconds 5 --protocols udp --peers vistream opencv
    python bench/latency.py --no-write            # print the table only

Scenarios: "fast" (the consumer only reads the code) and "slow" (it also sleeps
``--slow-ms`` per frame, as an analysis step slower than the frame rate would): a receiver that
queues frames falls further behind; vistream's real-time mode hands over the newest frame.

Sender: Python writes gray frames to the ffmpeg CLI (rawvideo on stdin, libx264 ultrafast
zerolatency, a keyframe every second), which sends MPEG-TS over UDP, or publishes RTSP/UDP to
Debian's rtsp-server-perl that the receivers pull from (UDP transport).

Outputs: a Markdown table on stdout, ``bench/results/latency-<host>-<date>.json``, and the
"Latency" section of BENCHMARKS.md (between the ``bench/latency.py`` markers).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))  # its helpers sit beside it (also when loaded by path)
from benchmarks_md import write_marked_section  # noqa: E402

# ----------------------------------------------------------------------------- the pixel clock
#
# 48 blocks in two rows of 24 along the top of the picture: 40 bits of the millisecond
# timestamp (modulo 2**40, ~35 years; read_clock unwraps it against the reader's clock), then
# an 8-bit check (the XOR of those five bytes). A block is white (235) for 1, black (16) for 0,
# large enough (width / 26) that H.264 at any sane bitrate keeps its centre on the right side of
# the threshold. A frame whose check fails (a damaged picture) is not counted.

CLOCK_BITS = 40
CHECK_BITS = 8
BLOCKS_PER_ROW = 24
ROWS = 2
_WRAP = 1 << CLOCK_BITS


def block_size(width: int) -> int:
    """Side of a code block, in pixels, for pictures `width` wide."""
    return max(4, width // (BLOCKS_PER_ROW + 2))


def _bits_of(milliseconds: int) -> List[int]:
    value = milliseconds % _WRAP
    data = [(value >> (CLOCK_BITS - 1 - i)) & 1 for i in range(CLOCK_BITS)]
    check = 0
    for byte in range(CLOCK_BITS // 8):
        check ^= (value >> (8 * byte)) & 0xFF
    return data + [(check >> (CHECK_BITS - 1 - i)) & 1 for i in range(CHECK_BITS)]


def paint_clock(gray: np.ndarray, milliseconds: int) -> None:
    """Writes `milliseconds` into the top of a gray (H, W) uint8 picture, in place."""
    side = block_size(gray.shape[1])
    for position, bit in enumerate(_bits_of(milliseconds)):
        row, column = divmod(position, BLOCKS_PER_ROW)
        y, x = side * (row + 1), side * (column + 1)  # a block's margin around the code
        gray[y:y + side, x:x + side] = 235 if bit else 16


def read_clock(image: np.ndarray, now_ms: Optional[int] = None) -> Optional[int]:
    """The milliseconds painted into `image` (gray (H, W) or BGR (H, W, 3)), or None when the
    check fails. The 40-bit value is unwrapped to the epoch time nearest `now_ms` (default: now)."""
    gray = image if image.ndim == 2 else image[..., 1]  # green: what luma is made of most
    side = block_size(gray.shape[1])
    inner = max(1, side // 4)
    bits = []
    for position in range(ROWS * BLOCKS_PER_ROW):
        row, column = divmod(position, BLOCKS_PER_ROW)
        y, x = side * (row + 1) + side // 2, side * (column + 1) + side // 2
        bits.append(1 if gray[y - inner:y + inner, x - inner:x + inner].mean() >= 128 else 0)
    value = 0
    for bit in bits[:CLOCK_BITS]:
        value = (value << 1) | bit
    check = 0
    for bit in bits[CLOCK_BITS:]:
        check = (check << 1) | bit
    expected = 0
    for byte in range(CLOCK_BITS // 8):
        expected ^= (value >> (8 * byte)) & 0xFF
    if check != expected:
        return None
    now = int(time.time() * 1000) if now_ms is None else now_ms
    base = now - now % _WRAP
    candidates = (base - _WRAP + value, base + value, base + _WRAP + value)
    return min(candidates, key=lambda c: abs(c - now))


# ----------------------------------------------------------------------------- sender

def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ClockSender:
    """Paints the wallclock into frames at `fps` and pipes them to the ffmpeg CLI, which encodes
    (x264 ultrafast, zerolatency) and sends them to `output_args`."""

    def __init__(self, output_args: List[str], width: int = 640, height: int = 360, fps: int = 30,
                 log: Optional[Path] = None) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.frames_sent = 0
        self._stop = threading.Event()
        log_file = open(log, "wb") if log else subprocess.DEVNULL
        self._process = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "gray",
             "-video_size", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0",
             "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(fps), "-bf", "0",
             "-pix_fmt", "yuv420p", *output_args],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log_file)
        self._thread = threading.Thread(target=self._run, name="clock-sender", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # A moving gradient below the code, so the picture is not all static.
        ramp = np.tile(np.linspace(40, 200, self.width, dtype=np.float32), (self.height, 1))
        started = time.monotonic()
        while not self._stop.is_set():
            due = started + self.frames_sent / self.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            picture = np.roll(ramp, self.frames_sent * 4, axis=1).astype(np.uint8)
            paint_clock(picture, int(time.time() * 1000))
            try:
                self._process.stdin.write(picture.tobytes())
                self._process.stdin.flush()
            except (BrokenPipeError, ValueError):
                return
            self.frames_sent += 1

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class PerlRtspServer:
    """Debian's rtsp-server-perl on loopback ports (publish to `source_url`, pull `url`; UDP only)."""

    def __init__(self, log: Optional[Path] = None) -> None:
        program = shutil.which("rtsp-server-perl")
        if program is None:
            raise SystemExit("rtsp-server-perl is not installed (Debian package rtsp-server-perl)")
        client, source = free_port(), free_port()
        log_file = open(log, "wb") if log else subprocess.DEVNULL
        self._process = subprocess.Popen([program, "-c", str(client), "-s", str(source), "--client_listen_address",
                                          "127.0.0.1", "--source_listen_address", "127.0.0.1"],
                                         stdout=log_file, stderr=subprocess.STDOUT)
        self.url = f"rtsp://127.0.0.1:{client}/live"
        self.source_url = f"rtsp://127.0.0.1:{source}/live"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _listening(source) and _listening(client):
                return
            time.sleep(0.2)
        self.close()
        raise SystemExit("rtsp-server-perl did not start listening")

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _listening(port: int) -> bool:
    # /proc/net/tcp, not a connection attempt (a probe connection is a malformed request to it).
    needle = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                if any(needle in line and line.split()[3] == "0A" for line in lines):
                    return True
        except OSError:
            pass
    return False


# ----------------------------------------------------------------------------- receivers
#
# Each receiver runs `seconds` and calls `consume(bgr)` once per frame it hands over; consume()
# measures the latency and, in the slow scenario, sleeps.

Consume = Callable[[np.ndarray], None]


def receive_vistream(url: str, seconds: float, consume: Consume, rtsp: bool, low_latency: bool) -> dict:
    import vistream as vs

    options = {"rtsp_transport": "udp"} if rtsp else {}
    player = vs.Player(url, mode="realtime", display=False, play_audio=False, input_options=options,
                       low_latency=low_latency, timeout=(20, 10))

    @player.on_frame
    def on_frame(frame) -> None:
        consume(frame.array)

    timer = threading.Timer(seconds, player.stop)
    timer.start()
    try:
        stats = player.run()
    finally:
        timer.cancel()
    return {"frames_dropped": stats.frames_dropped, "engine_latency_p50": stats.latency_p50,
            "engine_latency_p95": stats.latency_p95, "engine_latency_clock": stats.latency_clock}


def receive_opencv(url: str, seconds: float, consume: Consume, rtsp: bool) -> dict:
    import cv2

    if rtsp:
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;udp"
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise RuntimeError(f"OpenCV cannot open {url}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ok, image = capture.read()
            if not ok:
                break
            consume(image)
    finally:
        capture.release()
        os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
    return {}


def receive_pyav(url: str, seconds: float, consume: Consume, rtsp: bool) -> dict:
    import av

    options = {"rtsp_transport": "udp"} if rtsp else {}
    container = av.open(url, options=options, timeout=(20, 10))
    try:
        deadline = time.monotonic() + seconds
        for frame in container.decode(video=0):
            consume(frame.to_ndarray(format="bgr24"))
            if time.monotonic() >= deadline:
                break
    finally:
        container.close()
    return {}


PEERS = {
    "vistream": lambda url, s, c, rtsp: receive_vistream(url, s, c, rtsp, low_latency=False),
    "vistream-low-latency": lambda url, s, c, rtsp: receive_vistream(url, s, c, rtsp, low_latency=True),
    "opencv": receive_opencv,
    "pyav": receive_pyav,
}


def measure(peer: str, url: str, rtsp: bool, seconds: float, warmup: float, slow_ms: float) -> dict:
    """Runs one receiver; returns its latency samples (after `warmup` seconds) and counts."""
    samples: List[float] = []
    unreadable = 0
    first_frame: Optional[float] = None  # warm-up counts from the first frame (opening differs per peer)

    def consume(bgr: np.ndarray) -> None:
        nonlocal unreadable, first_frame
        now_ms = time.time() * 1000.0
        if first_frame is None:
            first_frame = time.monotonic()
        painted = read_clock(bgr, int(now_ms))
        if painted is None:
            unreadable += 1
        elif time.monotonic() - first_frame >= warmup:
            samples.append((now_ms - painted) / 1000.0)
        if slow_ms:
            time.sleep(slow_ms / 1000.0)

    extra = PEERS[peer](url, seconds + warmup, consume, rtsp)  # the run's clock includes opening
    result = {"peer": peer, "samples": len(samples), "unreadable": unreadable, **extra}
    if samples:
        ordered = sorted(samples)
        result.update(p50=statistics.median(ordered), p95=ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
                      max=ordered[-1], drift=_drift(samples))
    return result


def _drift(samples: List[float]) -> float:
    """Median latency of the last third minus that of the first third: > 0 means it builds up."""
    third = max(1, len(samples) // 3)
    return statistics.median(samples[-third:]) - statistics.median(samples[:third])


# ----------------------------------------------------------------------------- report

def _machine() -> dict:
    load = os.getloadavg()
    return {"host": platform.node(), "cpus": os.cpu_count(), "loadavg": [round(v, 2) for v in load],
            "python": platform.python_version()}


def _ms(value: Optional[float]) -> str:
    return "–" if value is None else f"{value * 1000:.0f}"


def table(results: List[dict]) -> str:
    lines = ["| protocol | consumer | peer | frames | p50 ms | p95 ms | max ms | last-third − first-third ms "
             "| p50 ÷ vistream |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for result in results:
        reference = next((r for r in results if r["protocol"] == result["protocol"]
                          and r["scenario"] == result["scenario"] and r["peer"] == "vistream" and r.get("p50")), None)
        ratio = (f"{result['p50'] / reference['p50']:.2f}" if reference and result.get("p50") else "–")
        lines.append(f"| {result['protocol']} | {result['scenario']} | {result['peer']} | {result['samples']} "
                     f"| {_ms(result.get('p50'))} | {_ms(result.get('p95'))} | {_ms(result.get('max'))} "
                     f"| {_ms(result.get('drift'))} | {ratio} |")
    return "\n".join(lines)


START = "<!-- bench/latency.py: start -->"
END = "<!-- bench/latency.py: end -->"


def write_section(markdown: str, args: argparse.Namespace, machine: dict) -> None:
    body = (f"_Generated by `python bench/latency.py` on {datetime.date.today()} ({machine['cpus']} cores, "
            f"load average {machine['loadavg'][0]:.1f} at the end: the machine was shared with other jobs, so "
            f"absolute numbers are pessimistic; peers ran one after the other on one sender session). "
            f"{args.seconds:g} s measured per run after {args.warmup:g} s warm-up; {args.width}x{args.height} "
            f"{args.fps} fps H.264 (x264 ultrafast zerolatency, keyframe every second); slow consumer: "
            f"+{args.slow_ms:g} ms per frame._\n\n{markdown}")
    write_marked_section(REPO / "BENCHMARKS.md", START, END, "## Latency: glass to callback on live streams (`bench/latency.py`)", body)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocols", nargs="+", choices=("udp", "rtsp"), default=["udp", "rtsp"])
    parser.add_argument("--peers", nargs="+", choices=sorted(PEERS), default=list(PEERS))
    parser.add_argument("--scenarios", nargs="+", choices=("fast", "slow"), default=["fast", "slow"])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not measured at the start of a run")
    parser.add_argument("--slow-ms", type=float, default=100.0, help="extra work per frame of the slow consumer")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only: no JSON, no BENCHMARKS.md")
    args = parser.parse_args(argv)

    results: List[dict] = []
    logs = REPO / "bench" / "results"
    logs.mkdir(parents=True, exist_ok=True)
    for protocol in args.protocols:
        server: Optional[PerlRtspServer] = None
        if protocol == "udp":
            port = free_port(socket.SOCK_DGRAM)
            url = f"udp://127.0.0.1:{port}"
            sender = ClockSender(["-f", "mpegts", f"{url}?pkt_size=1316"], args.width, args.height, args.fps)
        else:
            server = PerlRtspServer()
            sender = ClockSender(["-rtsp_transport", "udp", "-f", "rtsp", server.source_url], args.width,
                                 args.height, args.fps)
            url = server.url
            time.sleep(1.5)  # the publisher's ANNOUNCE/RECORD: the mount exists only then
        try:
            for scenario in args.scenarios:
                for peer in args.peers:
                    print(f"{protocol} {scenario} {peer} ...", file=sys.stderr, flush=True)
                    try:
                        result = measure(peer, url, protocol == "rtsp", args.seconds, args.warmup,
                                         args.slow_ms if scenario == "slow" else 0.0)
                    except Exception as error:  # a peer failing is reported, the others still run
                        result = {"peer": peer, "samples": 0, "error": f"{type(error).__name__}: {error}"}
                    result.update(protocol=protocol, scenario=scenario)
                    results.append(result)
                    print(json.dumps(result), file=sys.stderr, flush=True)
        finally:
            sender.close()
            if server:
                server.close()
    machine = _machine()
    markdown = table(results)
    print(markdown)
    if not args.no_write:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        (logs / f"latency-{machine['host']}-{stamp}.json").write_text(
            json.dumps({"machine": machine, "arguments": vars(args), "results": results}, indent=1))
        write_section(markdown, args, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
