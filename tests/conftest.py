"""Shared fixtures and helpers for the vistream test suite.

Media is generated once per session with the system ffmpeg (lavfi testsrc2 +
sine) into a temporary directory; every generating command is listed in
``MEDIA_COMMANDS`` below (``{out}`` is the output path, ``{src}`` the path of
another generated file).  Ground truth always comes from ffprobe / ffmpeg, never
from vistream itself.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

# Real-time playback plays sound through SDL. Tests use SDL's "dummy" audio driver: a real
# SDL audio device that consumes samples at the real rate without a sound card, so the audio
# clock (the master clock) behaves as on a desktop. Tests that need "no device" override it.
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

# A suite started as a background job of a non-interactive shell (`pytest ... &`, a CI script
# run with `&`) inherits SIGINT ignored, and every child it starts would too: Python does not
# install its KeyboardInterrupt handler when SIGINT is ignored at startup, so the Ctrl-C tests
# would meet children that cannot be interrupted. The tests send their children's signals
# themselves: SIGINT gets its default meaning back (a handler, unlike SIG_IGN, is not inherited).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# The real street clip ships with the repository, beside python/play.py (as avio ships it), so a
# fresh clone runs the whole suite with nothing beside it.
TEST_MP4 = REPO / "python" / "test.mp4"

# Facts about the street clip (verified with ffprobe when the suite was written).
# The mp4 sample table lists 241 video packets (stream nb_frames=241), but the last one is
# flagged "discard" (ffprobe packet flags "KD"): ffprobe -count_frames and
# `ffmpeg -f null` both decode exactly 240 displayable frames, so 240 is the truth.
TEST_MP4_PACKETS = 241
TEST_MP4_FRAMES = 240
TEST_MP4_SIZE = (1280, 720)

_LAVFI_V = "testsrc2=size={size}:rate={rate}:duration={dur}"
_LAVFI_A = "sine=frequency=440:sample_rate={sr}:duration={dur}"


def _v(size="320x240", rate=30, dur=1):
    return ["-f", "lavfi", "-i", _LAVFI_V.format(size=size, rate=rate, dur=dur)]


def _a(sr=44100, dur=1):
    return ["-f", "lavfi", "-i", _LAVFI_A.format(sr=sr, dur=dur)]


_FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]

# name -> (filename, argv without leading "ffmpeg -nostdin -v error -y", trailing output path added)
#
# Equivalent shell commands (320x240 unless stated, 30 fps):
#   bframes.mp4  : ffmpeg -f lavfi -i testsrc2=size=320x240:rate=30:duration=2
#                         -f lavfi -i sine=frequency=440:sample_rate=44100:duration=2
#                         -map 0:v -map 1:a -c:v libx264 -preset veryfast -pix_fmt yuv420p -bf 3 -g 30
#                         -c:a aac -ac 2 -movflags +faststart bframes.mp4          (60 frames, moov first)
#   opengop.mkv  : ffmpeg -f lavfi -i testsrc2=...:duration=3 -c:v libx264 -preset veryfast -pix_fmt yuv420p
#                         -bf 3 -x264-params open-gop=1:keyint=24:min-keyint=24:scenecut=0 -an opengop.mkv
#                         (90 frames, non-IDR recovery-point I frames at 24/48/72 with leading B frames)
#   hevc.mp4     : ffmpeg -f lavfi -i testsrc2=...:duration=1 -f lavfi -i sine=...:44100:duration=1
#                         -c:v libx265 -preset ultrafast -x265-params log-level=error -pix_fmt yuv420p
#                         -c:a aac hevc.mp4
#   vp9.webm     : ffmpeg -f lavfi -i testsrc2=... -f lavfi -i sine=...:48000 -c:v libvpx-vp9
#                         -deadline realtime -cpu-used 8 -b:v 400k -c:a libopus vp9.webm
#   mpeg2.ts     : ffmpeg -f lavfi -i testsrc2=... -f lavfi -i sine=...:48000 -c:v mpeg2video -q:v 4 -bf 2
#                         -c:a mp2 -f mpegts mpeg2.ts            (timestamps start at ~1.4 s)
#   mpeg4.avi    : ffmpeg -f lavfi -i testsrc2=... -f lavfi -i sine=...:44100 -c:v mpeg4 -q:v 5
#                         -c:a pcm_s16le mpeg4.avi
#   odd.mp4      : ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30:duration=1 -vf format=yuv444p,crop=1279:719:0:0
#                         -c:v libx264 -preset ultrafast -pix_fmt yuv444p -an odd.mp4
#                         (1279x719; libx264 cannot do odd sizes in 4:2:0, hence yuv444p)
#   noaudio.mp4  : ffmpeg -f lavfi -i testsrc2=...:duration=1 -c:v libx264 -preset veryfast
#                         -pix_fmt yuv420p -an noaudio.mp4
#   audio.m4a    : ffmpeg -f lavfi -i sine=...:44100:duration=2 -c:a aac -ac 2 audio.m4a
#   vfr.mp4      : ffmpeg -f lavfi -i testsrc2=size=320x240:rate=30:duration=1
#                         -f lavfi -i testsrc2=size=320x240:rate=10:duration=1
#                         -filter_complex "[0:v][1:v]concat=n=2:v=1:a=0[v]" -map "[v]"
#                         -c:v libx264 -preset veryfast -pix_fmt yuv420p -bf 2 -fps_mode vfr -an vfr.mp4
#                         (33 ms steps for 1 s, then 100 ms steps)
#   rotated.mp4  : ffmpeg -i noaudio.mp4 -metadata:s:v rotate=90 -c copy rotated.mp4
#   bframes_av30.mp4: like bframes.mp4 but 3 s with 48 kHz audio (player tests)
MEDIA_SPECS = {
    "bframes": ("bframes.mp4",
                _v(dur=2) + _a(44100, 2) + [
                    "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-bf", "3", "-g", "30", "-c:a", "aac", "-ac", "2",
                    "-movflags", "+faststart"]),
    "opengop": ("opengop.mkv",
                _v(dur=3) + [
                    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-bf", "3",
                    "-x264-params", "open-gop=1:keyint=24:min-keyint=24:scenecut=0", "-an"]),
    "hevc": ("hevc.mp4",
             _v(dur=1) + _a(44100, 1) + [
                 "-map", "0:v", "-map", "1:a",
                 "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
                 "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    "vp9": ("vp9.webm",
            _v(dur=1) + _a(48000, 1) + [
                "-map", "0:v", "-map", "1:a",
                "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "400k",
                "-c:a", "libopus"]),
    "mpeg2": ("mpeg2.ts",
              _v(dur=1) + _a(48000, 1) + [
                  "-map", "0:v", "-map", "1:a",
                  "-c:v", "mpeg2video", "-q:v", "4", "-bf", "2", "-c:a", "mp2", "-f", "mpegts"]),
    "mpeg4": ("mpeg4.avi",
              _v(dur=1) + _a(44100, 1) + [
                  "-map", "0:v", "-map", "1:a",
                  "-c:v", "mpeg4", "-q:v", "5", "-c:a", "pcm_s16le"]),
    "odd": ("odd.mp4",
            _v(size="1280x720", dur=1) + [
                "-vf", "format=yuv444p,crop=1279:719:0:0", "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv444p", "-an"]),
    "noaudio": ("noaudio.mp4",
                _v(dur=1) + ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-an"]),
    "audio_only": ("audio.m4a", _a(44100, 2) + ["-c:a", "aac", "-ac", "2"]),
    "vfr": ("vfr.mp4",
            _v(rate=30, dur=1) + _v(rate=10, dur=1) + [
                "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]",
                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-bf", "2",
                "-fps_mode", "vfr", "-an"]),
    "rotated": ("rotated.mp4", ["-i", "{noaudio}", "-metadata:s:v", "rotate=90", "-c", "copy"]),
    "av30": ("bframes_av30.mp4",
             _v(dur=3) + _a(48000, 3) + [
                 "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
                 "-pix_fmt", "yuv420p", "-bf", "3", "-g", "30", "-c:a", "aac", "-ac", "2"]),
}


# --------------------------------------------------------------------------- helpers

def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, check=True, **kw)


def ffprobe_json(path, *args):
    out = run(["ffprobe", "-v", "error", *args, "-of", "json", str(path)]).stdout
    return json.loads(out)


def ffprobe_count(path) -> int:
    """Number of decodable video frames according to ffprobe -count_frames."""
    out = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
               "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)]).stdout
    lines = [ln.strip().strip(",") for ln in out.decode().splitlines() if ln.strip().strip(",")]
    return int(lines[0])


def ffprobe_frames(path):
    """Per-frame info of the first video stream, in display (output) order.

    Returns a dict with ``count`` (ffprobe -count_frames nb_read_frames), and lists
    ``pts``, ``pts_time``, ``key`` (key_frame flag) of equal length.
    """
    count = ffprobe_count(path)
    data = ffprobe_json(path, "-select_streams", "v:0", "-show_frames",
                        "-show_entries", "frame=pts,pts_time,key_frame")
    frames = data["frames"]
    return {
        "count": count,
        "pts": [int(f["pts"]) if "pts" in f else None for f in frames],
        "pts_time": [float(f["pts_time"]) if "pts_time" in f else None for f in frames],
        "key": [int(f.get("key_frame", 0)) for f in frames],
    }


def ffprobe_stream(path, sel="v:0"):
    data = ffprobe_json(path, "-select_streams", sel, "-show_streams")
    streams = data.get("streams", [])
    return streams[0] if streams else None


def ffprobe_format(path):
    return ffprobe_json(path, "-show_format")["format"]


def ffmpeg_raw(path, pix_fmt="bgr24", vf=None, frames=None):
    """Decode with the ffmpeg CLI to raw frames: (N,H,W,C) or (N,H,W) for gray."""
    st = ffprobe_stream(path)
    w, h = int(st["width"]), int(st["height"])
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path)]
    if vf:
        cmd += ["-vf", vf]
    if frames is not None:
        cmd += ["-frames:v", str(frames)]
    cmd += ["-an", "-fps_mode", "passthrough", "-pix_fmt", pix_fmt, "-f", "rawvideo", "-"]
    raw = run(cmd).stdout
    ch = {"bgr24": 3, "rgb24": 3, "gray": 1, "rgba": 4, "bgra": 4}[pix_fmt]
    arr = np.frombuffer(raw, np.uint8)
    if ch == 1:
        return arr.reshape(-1, h, w)
    return arr.reshape(-1, h, w, ch)


def ffmpeg_raw_bgr(path, frames=None):
    """``ffmpeg -v error -i X -pix_fmt bgr24 -f rawvideo -`` as a (N,H,W,3) uint8 array."""
    return ffmpeg_raw(path, "bgr24", frames=frames)


def ffmpeg_raw_yuv420p(path):
    st = ffprobe_stream(path)
    w, h = int(st["width"]), int(st["height"])
    raw = run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-an",
               "-fps_mode", "passthrough", "-pix_fmt", "yuv420p", "-f", "rawvideo", "-"]).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h * 3 // 2, w)


def frame_hash(arr) -> str:
    return hashlib.sha1(np.ascontiguousarray(arr).tobytes()).hexdigest()


def mean_abs_diff(a, b) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


def run_py(code: str, timeout: float = 60, cwd=None):
    """Run ``code`` in a fresh interpreter (protects the suite from segfaults and hangs).

    Returns the CompletedProcess; a hang fails the calling test with a clear message.
    """
    code = textwrap.dedent(code)
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as e:  # pragma: no cover - only on engine bug
        pytest.fail(f"subprocess hung for more than {timeout}s (engine hang?)\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")


def run_py_json(code: str, timeout: float = 60):
    """Like run_py, but require a clean exit and parse the last stdout line as JSON."""
    p = run_py(code, timeout)
    assert p.returncode == 0, (
        f"child exited with status {p.returncode} (negative = killed by signal, e.g. -11 "
        f"segfault)\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    assert lines, f"child printed nothing; stderr:\n{p.stderr[-3000:]}"
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def vs():
    import vistream
    return vistream


@pytest.fixture(scope="session")
def test_mp4() -> Path:
    if not TEST_MP4.is_file():
        raise RuntimeError(f"the street clip is missing: {TEST_MP4} (it is part of the repository; "
                           "a checkout without it is incomplete)")
    return TEST_MP4


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict:
    """Generate every synthetic clip once per session. Returns name -> Path.

    Extra derived entries: ``corrupt`` (bframes.mp4 with 2000 seeded random bytes
    overwritten in the middle), ``truncated`` (first half of bframes.mp4, whose moov
    atom is at the front thanks to +faststart), ``text`` (text file named .mp4),
    ``empty`` (zero-byte .mp4).
    """
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found on PATH; the suite needs system FFmpeg")
    d = tmp_path_factory.mktemp("media")
    out = {}
    for name, (fname, argv) in MEDIA_SPECS.items():
        path = d / fname
        argv = [a.format(**{k: str(v) for k, v in out.items()}) if a.startswith("{") else a
                for a in argv]
        res = subprocess.run(_FF + argv + [str(path)], capture_output=True, text=True)
        if res.returncode != 0 or not path.is_file() or path.stat().st_size == 0:
            raise RuntimeError(f"generating {fname} failed:\n{' '.join(_FF + argv)}\n{res.stderr}")
        out[name] = path

    src = out["bframes"].read_bytes()
    rng = random.Random(20240601)
    data = bytearray(src)
    mid = len(data) // 2
    data[mid:mid + 2000] = bytes(rng.randrange(256) for _ in range(2000))
    (d / "corrupt.mp4").write_bytes(bytes(data))
    out["corrupt"] = d / "corrupt.mp4"

    (d / "truncated.mp4").write_bytes(src[: len(src) // 2])
    out["truncated"] = d / "truncated.mp4"

    (d / "text.mp4").write_text("this is not a video file\n" * 200)
    out["text"] = d / "text.mp4"

    (d / "empty.mp4").write_bytes(b"")
    out["empty"] = d / "empty.mp4"
    return out


@pytest.fixture(scope="session")
def probe_cache():
    """Memoised ffprobe_frames() so several test modules share the ground truth."""
    cache = {}

    def get(path):
        key = str(path)
        if key not in cache:
            cache[key] = ffprobe_frames(path)
        return cache[key]
    return get


def fraction(s: str) -> Fraction:
    return Fraction(s)


@pytest.fixture(scope="session")
def marker_model(tmp_path_factory):
    """The pose tests' analytic ONNX "marker model" (centroids of a red and a blue disc)."""
    from vistream.pose.synthetic import write_marker_model

    return write_marker_model(tmp_path_factory.mktemp("marker") / "marker.onnx")
