#!/usr/bin/env python3
"""Random-access benchmark: exact frames by index, vistream vs torchcodec, PyAV and OpenCV.

This is a benchmark, not a test: it never fails because a tool is slow, it reports it. It does
fail (exit status 1) if a tool could not run at all.

    python bench/seek.py                       # full run (~30 min on 2 idle cores), writes results
    python bench/seek.py --tag after           # same, BENCHMARKS.md section "after"
    python bench/seek.py --quick               # small clips, few indices, < 2 min
    python bench/seek.py --quick --tools vistream --json /tmp/seek.json --no-plot

What it does (details, clip commands and install lines in bench/README.md):

1. Generates once, into a cache directory (bench/media/ by default, gitignored), the clips: the
   1080p 8 Mbit/s H.264 clip with irregular keyframes (0, 59, 94, 128, 164, 223, 282) and four
   10-minute 640x360 clips (GOP 60 / GOP 250, with / without B-frames).
2. For every tool, a sequential decode of each clip is the reference: md5 of every frame that
   any access pattern asks for. Every frame a tool returns by random access is checked against
   its own sequential decode (pixel-exact), and each tool's sequential frames are checked to be
   the same frames as vistream's (closest match among the neighbours), so a tool whose
   "sequential" numbering is itself shifted is caught too: it is then inexact on every pattern
   and never the "best exact peer". Inexact frames are reported, never hidden. Beside each
   clip, vistream's frames decoded per pattern (Reader.stats) against the minimum an exact
   decoder starting at each target's keyframe needs (decode_plan / minimum_decodes).
3. Times each access pattern (random, sorted, strided, clustered; sequential on the short clip)
   for each tool, tools interleaved in one process, the order rotating each repetition. A timed
   run opens the file (building any index the tool needs), fetches the frames in the order asked,
   and closes it. Single accesses (a keyframe, the frame after it, the frame before it) are timed
   separately, on an already open decoder.
4. Prints tables, writes bench/results/seek-<host>-<date>[-<tag>].json and a plot (.png), and
   rewrites the generated section of BENCHMARKS.md for that tag.

vistream is measured through its public API: ``Reader.frames_at(indices)`` when it exists (the
batch API of issue 17), ``Reader.frame_at(i)`` per index otherwise (both rows once frames_at
exists).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import hashlib
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
sys.path.insert(0, str(HERE))
from decode import ForeignCpu  # noqa: E402  (same CPU-contention probe as bench/decode.py)

SEED = 17
# Keyframes of the 1080p clip (display indices), forced with x264.
KEYFRAMES_1080P = (0, 59, 94, 128, 164, 223, 282)


def _force_keyframes(frames: Sequence[int]) -> str:
    return "expr:" + "+".join(f"eq(n,{n})" for n in frames)


def _long_clip(width: int, height: int, seconds: int, gop: int, bframes: int, bitrate: str) -> list:
    # veryfast: CABAC, 1 reference frame, B-frames as asked; fixed GOP (no scene cuts).
    return [
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
        "-vf", "noise=alls=10:allf=t",
        "-c:v", "libx264", "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", "2M",
        "-preset", "veryfast", "-bf", str(bframes), "-g", str(gop), "-keyint_min", str(gop),
        "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-an",
    ]


# name -> clip. The file name is the cache key: changing a command must change the name.
CLIPS: Dict[str, dict] = {
    "1080p-kf": {
        "file": "seek-testsrc2-1080p30-8M-bf3-kf7-10s.mp4",
        "desc": "1920x1080 30 fps, 300 frames, 8 Mbit/s, B-frames, keyframes 0 59 94 128 164 223 282",
        "short": True,
        # temporal noise: testsrc2 alone compresses to nothing; the noise makes 8 Mbit/s real
        "args": [
            "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=10",
            "-vf", "noise=alls=20:allf=t",
            "-c:v", "libx264", "-b:v", "8M", "-maxrate", "8M", "-bufsize", "16M",
            "-preset", "medium", "-bf", "3", "-g", "300", "-keyint_min", "300",
            "-sc_threshold", "0", "-force_key_frames", _force_keyframes(KEYFRAMES_1080P),
            "-pix_fmt", "yuv420p", "-an",
        ],
    },
    "long-gop60-bf": {
        "file": "seek-testsrc2-360p30-1M-gop60-bf3-600s.mp4",
        "desc": "640x360 30 fps, 10 min (18000 frames), 1 Mbit/s, GOP 60, B-frames",
        "args": _long_clip(640, 360, 600, 60, 3, "1M"),
    },
    "long-gop60-nobf": {
        "file": "seek-testsrc2-360p30-1M-gop60-bf0-600s.mp4",
        "desc": "640x360 30 fps, 10 min (18000 frames), 1 Mbit/s, GOP 60, no B-frames",
        "args": _long_clip(640, 360, 600, 60, 0, "1M"),
    },
    "long-gop250-bf": {
        "file": "seek-testsrc2-360p30-1M-gop250-bf3-600s.mp4",
        "desc": "640x360 30 fps, 10 min (18000 frames), 1 Mbit/s, GOP 250, B-frames",
        "args": _long_clip(640, 360, 600, 250, 3, "1M"),
    },
    "long-gop250-nobf": {
        "file": "seek-testsrc2-360p30-1M-gop250-bf0-600s.mp4",
        "desc": "640x360 30 fps, 10 min (18000 frames), 1 Mbit/s, GOP 250, no B-frames",
        "args": _long_clip(640, 360, 600, 250, 0, "1M"),
    },
    # --quick: the same shapes, small and short
    "quick-kf": {
        "file": "seek-testsrc2-320x240p30-500k-bf3-kf7-10s.mp4",
        "desc": "320x240 30 fps, 300 frames, B-frames, keyframes 0 59 94 128 164 223 282",
        "short": True,
        "args": [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=10",
            "-vf", "noise=alls=20:allf=t",
            "-c:v", "libx264", "-b:v", "500k", "-maxrate", "500k", "-bufsize", "1M",
            "-preset", "veryfast", "-bf", "3", "-g", "300", "-keyint_min", "300",
            "-sc_threshold", "0", "-force_key_frames", _force_keyframes(KEYFRAMES_1080P),
            "-pix_fmt", "yuv420p", "-an",
        ],
    },
    "quick-gop60-bf": {
        "file": "seek-testsrc2-320x180p30-300k-gop60-bf3-40s.mp4",
        "desc": "320x180 30 fps, 40 s (1200 frames), GOP 60, B-frames",
        "args": _long_clip(320, 180, 40, 60, 3, "300k"),
    },
}
# in this order: a run stopped early has the most telling clips
FULL_CLIPS = ["1080p-kf", "long-gop250-bf", "long-gop60-nobf", "long-gop60-bf", "long-gop250-nobf"]
QUICK_CLIPS = ["quick-kf", "quick-gop60-bf"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- clips


def ffmpeg_command(clip: dict, out: Path) -> list:
    return ["ffmpeg", "-y", "-v", "error", *clip["args"], str(out)]


def ensure_clip(name: str, media: Path) -> Path:
    clip = CLIPS[name]
    path = media / clip["file"]
    if path.exists() and path.stat().st_size > 0:
        return path
    media.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    cmd = ffmpeg_command(clip, tmp)
    log(f"generating {path} (once): {' '.join(cmd)}")
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    tmp.replace(path)
    log(f"  done in {time.perf_counter() - started:.1f} s")
    return path


def probe(path: Path) -> dict:
    """Stream properties and the keyframes (display indices) from the packets."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0",
         "-show_entries", "stream=codec_name,width,height,r_frame_rate,bit_rate,has_b_frames",
         "-show_entries", "format=duration,bit_rate",
         "-show_entries", "packet=pts,flags", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    data = json.loads(out)
    stream = data["streams"][0]
    fmt = data.get("format", {})
    packets = [(int(p["pts"]), "K" in p.get("flags", "")) for p in data.get("packets", [])
               if p.get("pts") not in (None, "N/A")]
    packets.sort()
    keyframes = [i for i, (_, key) in enumerate(packets) if key]
    return {
        "file": str(path),
        "codec": stream.get("codec_name"),
        "width": stream.get("width"),
        "height": stream.get("height"),
        "rate": stream.get("r_frame_rate"),
        "frames": len(packets),
        "has_b_frames": int(stream.get("has_b_frames", 0)),
        "duration": float(fmt.get("duration", 0.0)),
        "bit_rate": int(stream.get("bit_rate") or fmt.get("bit_rate") or 0),
        "keyframes": keyframes,
    }


def _h264_reference(packet: bytes, length_size: int) -> bool:
    """Does this H.264 access unit (mp4 length-prefixed NAL units) hold a reference picture?
    nal_ref_idc of its slices: 0 = nothing decoded later reads it."""
    at = 0
    while at + length_size < len(packet):
        size = int.from_bytes(packet[at:at + length_size], "big")
        header = packet[at + length_size]
        if header & 0x1F in (1, 5) and header >> 5 & 3:
            return True
        at += length_size + size
    return False


def decode_plan(path: Path) -> Optional[List[tuple]]:
    """(display index, keyframe, reference) of every packet in decode order, from one demux pass
    (PyAV, no decoding); None for a codec other than mp4-packed H.264 or without PyAV."""
    try:
        import av
    except ImportError:
        return None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        extradata = stream.codec_context.extradata or b""
        if stream.codec_context.name != "h264" or len(extradata) < 5 or extradata[0] != 1:
            return None
        length_size = (extradata[4] & 3) + 1
        packets = [(p.pts, p.is_keyframe, _h264_reference(bytes(p), length_size))
                   for p in container.demux(stream) if p.pts is not None and p.size]
    rank = {pts: i for i, pts in enumerate(sorted(pts for pts, _, _ in packets))}
    return [(rank[pts], key, ref) for pts, key, ref in packets]


def minimum_decodes(plan: List[tuple], indices: Sequence[int]) -> int:
    """The fewest frames an exact decoder must decode for these targets when it starts at each
    target's keyframe (closed GOPs, as the bench clips are): per GOP that holds targets, the
    targets plus every reference frame decoded before its last target (the keyframe included).
    Frames of one GOP are decoded once however many targets it holds."""
    targets = set(indices)
    total = 0
    gop: List[tuple] = []

    def count(frames: List[tuple]) -> int:
        positions = [k for k, (index, _, _) in enumerate(frames) if index in targets]
        if not positions:
            return 0
        last = positions[-1]
        return sum(1 for k, (index, _, ref) in enumerate(frames[:last + 1]) if ref or index in targets)

    for entry in plan:
        if entry[1] and gop:
            total += count(gop)
            gop = []
        gop.append(entry)
    return total + count(gop)


# --------------------------------------------------------------------------- access patterns


def access_patterns(n_frames: int, short: bool, quick: bool) -> Dict[str, List[int]]:
    """The index lists every tool is asked for (same lists for every tool)."""
    rng = random.Random(SEED)
    count = 10 if quick else 40
    rand = rng.sample(range(n_frames), count)
    # strided: every 10th frame; on the long clips over a 30 s window starting at a third of the
    # clip (every 10th frame of 10 minutes is 1800 accesses per tool per repetition)
    window = n_frames if short else min(n_frames, 300 if quick else 900)
    start = 0 if short else (n_frames // 3) // 10 * 10
    strided = list(range(start, start + window, 10))
    # clustered: a few runs of consecutive frames (the clips a training sampler draws), the
    # clusters in random order, frames ascending within each. On the long clips 16 runs: 4 runs
    # took ~0.1 s per tool, too little to time on a shared machine.
    n_clusters, length = (2, 5) if quick else (4, 10) if short else (16, 10)
    starts: List[int] = []
    while len(starts) < n_clusters:
        s = rng.randrange(0, n_frames - length)
        if all(abs(s - t) > 2 * length for t in starts):
            starts.append(s)
    clustered = [s + k for s in starts for k in range(length)]
    return {"random": rand, "sorted": sorted(rand), "strided": strided, "clustered": clustered}


def single_targets(keyframes: List[int], n_frames: int) -> Dict[str, int]:
    """A keyframe near the middle, the frame after it and the one before it (last of its GOP)."""
    inner = [k for k in keyframes if 0 < k < n_frames - 1]
    key = min(inner, key=lambda k: abs(k - n_frames / 3)) if inner else keyframes[0]
    return {"keyframe": key, "keyframe+1": key + 1, "keyframe-1": max(0, key - 1)}


# --------------------------------------------------------------------------- tools
# A tool session is opened on a file, answers frames_at(indices) (frames in the order asked, as
# numpy-convertible arrays) and single(index), and iterates sequentially for the reference.


def _md5(array) -> str:
    return hashlib.md5(np.ascontiguousarray(array).tobytes()).hexdigest()


def _signature(array, chw: bool) -> np.ndarray:
    """Green channel, 1 pixel in 8 each way: enough to tell neighbouring frames apart."""
    a = np.asarray(array)
    g = a[1, ::8, ::8] if chw else a[::8, ::8, 1]
    return g.astype(np.int16)


class VistreamSession:
    chw = False

    def __init__(self, path: str, batch: bool):
        import vistream

        self.reader = vistream.Reader(path, format="rgb24", threads=0)
        self.batch = batch

    def frames_at(self, indices: List[int]) -> list:
        if self.batch:
            frames = self.reader.frames_at(indices)
        else:
            frames = [self.reader.frame_at(i) for i in indices]
        # Frame objects (frame_at, frames_at's default); plain arrays are taken as they are
        return [f.array if hasattr(f, "array") else np.asarray(f) for f in frames]

    def single(self, index: int):
        return self.reader.frame_at(index).array

    def work(self) -> dict:
        """What the fetch cost the engine: frames decoded and seeks (Reader.stats)."""
        stats = self.reader.stats
        get = stats.get if isinstance(stats, dict) else (lambda k: getattr(stats, k, None))
        keys = ("frames_decoded", "frames_output", "seeks", "packets_read")
        return {k: get(k) for k in keys if get(k) is not None}

    def sequential(self) -> Iterator:
        for frame in self.reader:
            yield frame.array

    def close(self) -> None:
        self.reader.close()


class TorchcodecSession:
    chw = True

    def __init__(self, path: str, mode: str):
        from torchcodec.decoders import VideoDecoder

        self.decoder = VideoDecoder(path, seek_mode=mode, num_ffmpeg_threads=TORCHCODEC_THREADS)

    def frames_at(self, indices: List[int]) -> list:
        data = self.decoder.get_frames_at(indices).data
        return [data[k].numpy() for k in range(len(indices))]

    def single(self, index: int):
        return self.decoder.get_frame_at(index).data.numpy()

    def sequential(self) -> Iterator:
        n = self.decoder.metadata.num_frames
        for start in range(0, n, 32):
            batch = self.decoder.get_frames_in_range(start, min(n, start + 32)).data
            for k in range(batch.shape[0]):
                yield batch[k].numpy()

    def close(self) -> None:
        del self.decoder


class PyAVSession:
    """PyAV written well: an index of the packets (one demux pass, no decoding) at open, then
    for each wanted frame (sorted, each once) decode forward when the decoder already is in the
    target's GOP, otherwise seek to the target's keyframe and decode forward; frames before the
    target are decoded but not converted."""

    chw = False

    def __init__(self, path: str):
        import av

        self.container = av.open(path)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = PYAV_THREAD_TYPE
        packets = sorted((p.pts, p.is_keyframe) for p in self.container.demux(self.stream)
                         if p.pts is not None)
        self.pts = [p for p, _ in packets]
        self.index_of_pts = {p: i for i, p in enumerate(self.pts)}
        self.keyframes = [i for i, (_, key) in enumerate(packets) if key]
        self.next_index: Optional[int] = None  # index of the next frame the decoder yields
        self.frames: Optional[Iterator] = None
        self._seek_to_keyframe_of(0)

    def _keyframe_of(self, index: int) -> int:
        lo, hi = 0, len(self.keyframes) - 1
        while lo < hi:  # the last keyframe <= index
            mid = (lo + hi + 1) // 2
            if self.keyframes[mid] <= index:
                lo = mid
            else:
                hi = mid - 1
        return self.keyframes[lo]

    def _seek_to_keyframe_of(self, index: int) -> None:
        key = self._keyframe_of(index)
        self.container.seek(self.pts[key], stream=self.stream, backward=True, any_frame=False)
        self.frames = self.container.decode(self.stream)
        self.next_index = key

    def _decode_to(self, index: int):
        target = self.pts[index]
        for frame in self.frames:
            i = self.index_of_pts.get(frame.pts)
            if i is None or i < index:
                continue
            self.next_index = i + 1
            if i == index:
                return frame.to_ndarray(format="rgb24")
            break  # landed past the target: seek again from the previous keyframe
        self._seek_to_keyframe_of(max(0, self._keyframe_of(index) - 1))
        for frame in self.frames:
            if frame.pts == target:
                self.next_index = index + 1
                return frame.to_ndarray(format="rgb24")
        raise RuntimeError(f"PyAV: frame {index} not found")

    def _get(self, index: int):
        forward = (self.next_index is not None
                   and self._keyframe_of(index) <= self.next_index <= index)
        if not forward:
            self._seek_to_keyframe_of(index)
        return self._decode_to(index)

    def frames_at(self, indices: List[int]) -> list:
        got = {i: self._get(i) for i in sorted(set(indices))}
        return [got[i] for i in indices]

    def single(self, index: int):
        return self._get(index)

    def sequential(self) -> Iterator:
        self._seek_to_keyframe_of(0)
        for frame in self.frames:
            yield frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        self.container.close()


class OpenCVSession:
    """OpenCV through CAP_PROP_POS_FRAMES: wanted frames sorted, each once; read on (grab)
    when the next wanted frame is fewer than OPENCV_GRAB_AHEAD frames ahead, else set the
    position (OpenCV seeks to a keyframe and decodes forward itself)."""

    chw = False

    def __init__(self, path: str):
        import cv2

        self.cv2 = cv2
        self.cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        if not self.cap.isOpened():
            raise RuntimeError(f"OpenCV cannot open {path}")
        self.next_index = 0

    def _get(self, index: int):
        gap = index - self.next_index
        if 0 <= gap < OPENCV_GRAB_AHEAD:
            for _ in range(gap):
                self.cap.grab()
        else:
            self.cap.set(self.cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = self.cap.read()
        if not ok:
            raise RuntimeError(f"OpenCV: cannot read frame {index}")
        self.next_index = index + 1
        return image

    def frames_at(self, indices: List[int]) -> list:
        got = {i: self._get(i) for i in sorted(set(indices))}
        return [got[i] for i in indices]

    def single(self, index: int):
        return self._get(index)

    def sequential(self) -> Iterator:
        self.cap.set(self.cv2.CAP_PROP_POS_FRAMES, 0)
        while True:
            ok, image = self.cap.read()
            if not ok:
                return
            yield image

    def close(self) -> None:
        self.cap.release()


# Peer settings: decoder threads like vistream's threads=0 (one per core), so the comparison is
# like for like; OpenCV picks its own thread count.
TORCHCODEC_THREADS = 0  # 0 = one per core (torchcodec's own default is 1)
PYAV_THREAD_TYPE = "AUTO"
OPENCV_GRAB_AHEAD = 16


def _has_frames_at() -> bool:
    try:
        import vistream
    except ImportError:
        return False
    return hasattr(vistream.Reader, "frames_at")


def available_tools() -> Dict[str, dict]:
    """name -> {label, open(path) -> session, reference: name of the tool whose sequential
    decode is this tool's reference}. Tools whose package is missing are left out (and said)."""
    tools: Dict[str, dict] = {}
    batch = _has_frames_at()
    tools["vistream"] = {
        "label": "vistream frames_at" if batch else "vistream frame_at",
        "open": lambda p: VistreamSession(p, batch), "reference": "vistream", "peer": False,
        "api": "Reader.frames_at(indices)" if batch else "Reader.frame_at(i) per index",
    }
    if batch:
        tools["vistream-frame_at"] = {
            "label": "vistream frame_at", "open": lambda p: VistreamSession(p, False),
            "reference": "vistream", "peer": False, "api": "Reader.frame_at(i) per index",
        }
    tools["torchcodec-exact"] = {
        "label": "torchcodec exact", "open": lambda p: TorchcodecSession(p, "exact"),
        "reference": "torchcodec-exact", "peer": True, "module": "torchcodec",
        "api": 'VideoDecoder(seek_mode="exact").get_frames_at(indices)',
    }
    tools["torchcodec-approx"] = {
        "label": "torchcodec approx", "open": lambda p: TorchcodecSession(p, "approximate"),
        "reference": "torchcodec-exact", "peer": True, "module": "torchcodec",
        "api": 'VideoDecoder(seek_mode="approximate").get_frames_at(indices)',
    }
    tools["pyav"] = {
        "label": "PyAV", "open": PyAVSession, "reference": "pyav", "peer": True, "module": "av",
        "api": "packet index + container.seek(keyframe) + decode forward",
    }
    tools["opencv"] = {
        "label": "OpenCV", "open": OpenCVSession, "reference": "opencv", "peer": True,
        "module": "cv2", "api": "VideoCapture.set(CAP_PROP_POS_FRAMES) / grab forward",
    }
    return tools


def tool_versions() -> dict:
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for module in ("vistream", "torchcodec", "torch", "av", "cv2"):
        try:
            mod = __import__(module)
            versions[module] = getattr(mod, "__version__", "?")
        except Exception as exc:  # a peer that cannot be imported is reported, not fatal
            versions[module] = f"unavailable: {type(exc).__name__}: {exc}"
    try:
        import av

        versions["av_ffmpeg"] = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    except Exception:
        pass
    try:
        import cv2

        line = [ln for ln in cv2.getBuildInformation().splitlines() if "avcodec" in ln]
        versions["cv2_avcodec"] = line[0].strip() if line else "?"
    except Exception:
        pass
    try:
        from vistream import _core

        runtime = _core.ffmpeg_versions().get("runtime_libavcodec")  # AV_VERSION_INT of the loaded libavcodec
        versions["vistream_ffmpeg"] = (f"libavcodec {runtime >> 16}.{(runtime >> 8) & 0xFF}.{runtime & 0xFF}"
                                       if runtime else "system FFmpeg")
    except Exception:
        pass
    return versions


# --------------------------------------------------------------------------- reference pass


def reference_pass(session, needed: set, chw: bool) -> dict:
    """Sequential decode: md5 and signature of every needed frame, and the frame count."""
    md5s: Dict[int, str] = {}
    sigs: Dict[int, np.ndarray] = {}
    n = 0
    for i, array in enumerate(session.sequential()):
        if i in needed:
            md5s[i] = _md5(array)
            sigs[i] = _signature(array, chw)
        n += 1
    return {"md5": md5s, "sig": sigs, "frames": n}


def alignment(sig_tool: Dict[int, np.ndarray], sig_vs: Dict[int, np.ndarray],
              check: List[int]) -> dict:
    """Is the tool's sequential frame i vistream's frame i (closer than vistream's i-1, i+1)?"""
    aligned, checked, off = 0, 0, []
    for i in check:
        if i not in sig_tool or i not in sig_vs:
            continue
        checked += 1
        here = float(np.abs(sig_tool[i] - sig_vs[i]).mean())
        others = [float(np.abs(sig_tool[i] - sig_vs[j]).mean()) for j in (i - 1, i + 1) if j in sig_vs]
        if all(here < o for o in others):
            aligned += 1
        else:
            off.append(i)
    return {"aligned": aligned, "checked": checked, "misaligned": off[:10]}


# --------------------------------------------------------------------------- timing


def _check(indices: List[int], frames: list, reference: dict) -> dict:
    wrong: list = [i for i, array in zip(indices, frames) if reference["md5"].get(i) != _md5(array)]
    if len(frames) != len(indices):
        wrong.append(f"{len(frames)} frames for {len(indices)} indices")
    return {"checked": len(indices), "mismatches": len(wrong), "wrong_indices": wrong[:10]}


def run_pattern(tool: dict, path: str, indices: List[int], reference: Optional[dict] = None) -> tuple:
    """One timed run: open, fetch the frames in the order asked, close. Returns (seconds, check).

    The frames are checked against the reference between the fetch and the close, outside the
    timed span (hashing a 1080p frame costs more than decoding it)."""
    started = time.perf_counter()
    session = tool["open"](path)
    frames = session.frames_at(indices)
    fetched = time.perf_counter()
    check = _check(indices, frames, reference) if reference is not None else None
    if check is not None and hasattr(session, "work"):
        check["work"] = session.work()
    closing = time.perf_counter()
    del frames
    session.close()
    done = time.perf_counter()
    return (fetched - started) + (done - closing), check


def run_sequential(tool: dict, path: str) -> tuple:
    sink = 0
    n = 0
    started = time.perf_counter()
    session = tool["open"](path)
    for array in session.sequential():
        sink += int(array.flat[0])
        n += 1
    session.close()
    return n, time.perf_counter() - started


def verify_pattern(tool: dict, path: str, indices: List[int], reference: dict) -> dict:
    """Fetches the pattern once and compares every frame with the reference's md5."""
    return run_pattern(tool, path, indices, reference)[1]


def measure_single(tool: dict, path: str, targets: Dict[str, int], far: int, reference: dict,
                   repeats: int) -> dict:
    """ms of one access to each target from a decoder positioned elsewhere (at `far`)."""
    session = tool["open"](path)
    out = {}
    try:
        for label, index in targets.items():
            times = []
            exact = True
            for _ in range(repeats):
                session.single(far)
                started = time.perf_counter()
                array = session.single(index)
                times.append(time.perf_counter() - started)
                exact = exact and reference["md5"].get(index) == _md5(array)
            out[label] = {"index": index, "ms": [round(t * 1e3, 2) for t in times],
                          "median_ms": round(statistics.median(times) * 1e3, 2), "exact": exact}
    finally:
        session.close()
    return out


# --------------------------------------------------------------------------- one clip


def bench_clip(name: str, path: Path, tools: Dict[str, dict], reps: int, quick: bool,
               single_repeats: int) -> dict:
    info = probe(path)
    n = info["frames"]
    short = bool(CLIPS[name].get("short"))
    patterns = access_patterns(n, short, quick)
    targets = single_targets(info["keyframes"], n)
    far = (targets["keyframe"] + n // 2) % n
    check = sorted({j for i in patterns["random"] for j in (i - 1, i, i + 1) if 0 <= j < n})
    needed = set(check) | {i for idx in patterns.values() for i in idx} | set(targets.values()) | {far}
    log(f"[{name}] {info['codec']} {info['width']}x{info['height']}, {n} frames, "
        f"{len(info['keyframes'])} keyframes, has_b_frames={info['has_b_frames']}")

    result = {"reps": reps, "clip": {**info, "desc": CLIPS[name]["desc"], "keyframes": info["keyframes"][:50],
                       "keyframe_count": len(info["keyframes"])},
              "patterns": patterns, "single_targets": targets, "single_from": far,
              "tools": {}, "errors": {}}
    plan = decode_plan(path)
    if plan is not None:
        result["minimum_decodes"] = {p: minimum_decodes(plan, idx) for p, idx in patterns.items()}
        result["clip"]["nonref_frames"] = sum(1 for _, _, ref in plan if not ref)

    # reference decodes, one per library
    references: Dict[str, dict] = {}
    for tname, tool in tools.items():
        ref = tool["reference"]
        if ref in references or ref not in tools:
            continue
        log(f"  reference: sequential decode with {tools[ref]['label']}")
        started = time.perf_counter()
        session = tools[ref]["open"](str(path))
        references[ref] = reference_pass(session, needed, TorchcodecSession.chw if "torchcodec" in ref else False)
        session.close()
        log(f"    {references[ref]['frames']} frames in {time.perf_counter() - started:.1f} s")
    vs_sig = references.get("vistream", {}).get("sig", {})

    pattern_names = list(patterns) + (["sequential"] if short else [])
    runs = {t: {p: [] for p in pattern_names} for t in tools}
    foreign = {t: {p: [] for p in pattern_names} for t in tools}
    for tname, tool in tools.items():
        ref = references[tool["reference"]]
        entry = {"label": tool["label"], "api": tool["api"], "reference": tool["reference"],
                 "sequential_frames": ref["frames"],
                 "alignment_with_vistream": alignment(ref["sig"], vs_sig, check) if vs_sig else None,
                 "verify": {}, "single": None}
        entry["single"] = measure_single(tool, str(path), targets, far, ref, single_repeats)
        result["tools"][tname] = entry

    names = list(tools)
    for rep in range(reps):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for p in pattern_names:
            for tname in order:
                watch = ForeignCpu().start()
                if p == "sequential":
                    frames, seconds = run_sequential(tools[tname], str(path))
                    if frames != n:
                        log(f"  warning: {tname} decoded {frames} frames sequentially, expected {n}")
                else:
                    ref = references[tools[tname]["reference"]]
                    seconds, check = run_pattern(tools[tname], str(path), patterns[p], ref)
                    frames = len(patterns[p])
                    merge_check(result["tools"][tname]["verify"], p, check)
                    if check["mismatches"]:
                        log(f"  {tname} {p}: {check['mismatches']}/{check['checked']} frames differ "
                            f"from its sequential decode: {check['wrong_indices']}")
                contention = watch.stop()
                runs[tname][p].append(frames / seconds)
                foreign[tname][p].append(contention["foreign_cores"])
                log(f"  rep {rep + 1}/{reps} {p:10s} {tname:18s} {frames / seconds:8.1f} frames/s "
                    f"({seconds:.2f} s, others used {contention['foreign_cores']:.2f} cores)")
                gc.collect()
    for tname in names:
        result["tools"][tname]["patterns"] = {
            p: {"frames": (n if p == "sequential" else len(patterns[p])),
                "fps": [round(x, 2) for x in runs[tname][p]],
                "best_fps": round(max(runs[tname][p]), 2),
                "median_fps": round(statistics.median(runs[tname][p]), 2),
                "foreign_cores": foreign[tname][p]}
            for p in pattern_names}
    result["ratios"] = ratios(result, pattern_names)
    return result


def merge_check(verify: dict, pattern: str, check: dict) -> None:
    """Keeps the worst repetition's check (every repetition is verified)."""
    old = verify.get(pattern)
    if old is None or check["mismatches"] > old["mismatches"]:
        verify[pattern] = dict(check)
    verify[pattern]["repetitions"] = (old or {}).get("repetitions", 0) + 1
    if "work" in check:
        verify[pattern]["work"] = check["work"]


def aligned(entry: dict) -> bool:
    """Is the tool's own sequential decode frame-for-frame vistream's? (Its random-access frames
    are checked against that decode, so a shifted decode would make shifted frames look exact.)"""
    al = entry.get("alignment_with_vistream")
    return al is None or al["aligned"] == al["checked"]


def exact(entry: dict, pattern: str) -> bool:
    v = entry["verify"].get(pattern)
    if v is None:  # sequential: exact when it yields the whole clip and lines up with vistream
        return aligned(entry)
    return v["mismatches"] == 0 and aligned(entry)


def ratios(result: dict, pattern_names: List[str]) -> dict:
    """vistream / best peer per pattern (the best exact peer; the best peer at all too)."""
    out = {}
    tools = result["tools"]
    if "vistream" not in tools:
        return out
    for p in pattern_names:
        vs = tools["vistream"]["patterns"][p]["best_fps"]
        peers = {t: e["patterns"][p]["best_fps"] for t, e in tools.items() if t.startswith(("torchcodec", "pyav", "opencv"))}
        exact_peers = {t: f for t, f in peers.items() if exact(tools[t], p)}
        row = {}
        if exact_peers:
            best = max(exact_peers, key=exact_peers.get)
            row["best_exact_peer"] = best
            row["vs_best_exact_peer"] = round(vs / exact_peers[best], 3)
        if peers:
            best = max(peers, key=peers.get)
            row["best_peer"] = best
            row["vs_best_peer"] = round(vs / peers[best], 3)
        out[p] = row
    return out


# --------------------------------------------------------------------------- report


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    os_name = platform.platform()
    try:
        rel = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        os_name = rel.get("PRETTY_NAME", os_name).strip('"')
    except OSError:
        pass
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    return {"host": socket.gethostname().split(".")[0], "cpu": cpu, "cores": os.cpu_count(),
            "os": os_name, "kernel": platform.release(), "ffmpeg_cli": ffmpeg,
            "loadavg": os.getloadavg(), "nice": os.nice(0)}


def _long_clusters(result: dict) -> int:
    """Runs of 10 in the clustered pattern of the long clips of a run (earlier runs used 4)."""
    for name, clip in result["clips"].items():
        if not CLIPS.get(name, {}).get("short"):
            for entry in clip["tools"].values():
                if "clustered" in entry.get("patterns", {}):
                    return entry["patterns"]["clustered"]["frames"] // 10
    return 16


def pattern_doc(quick: bool, long_clusters: int = 16) -> Dict[str, str]:
    count, (clusters, length), window = (10, (2, 5), 10) if quick else (40, (4, 10), 30)
    return {
        "random": f"{count} random indices (seed {SEED}), in random order",
        "sorted": f"the same {count}, ascending",
        "strided": f"every 10th frame (the long clips: of a {window} s window from a third of the clip)",
        "clustered": f"{clusters} runs of {length} consecutive frames"
                     + ("" if quick else f" (the long clips: {long_clusters} runs)") + ", runs in random order",
        "sequential": "every frame in order (each tool's sequential API)",
    }


def render(result: dict) -> str:
    lines: List[str] = []
    reps_text = ", ".join(f"{c} {clip['reps']}" for c, clip in result["clips"].items())
    done = result.get("clips_done", "")
    m = result["machine"]
    v = result["versions"]
    lines.append(f"Run: {result['started']} on `{m['host']}` ({m['cpu']}, {m['cores']} cores, {m['os']}, "
                 f"{m['ffmpeg_cli'].split(' Copyright')[0]}), nice {m['nice']}, "
                 f"timed repetitions per cell: {reps_text} "
                 f"(best shown), load average at start "
                 f"{', '.join(f'{x:.2f}' for x in m['loadavg'])}. Raw data: `{result['json']}`"
                 + (f", plot: `{result['plot']}`" if result.get("plot") else "") + ". "
                 + (f"Other processes used {result['contention']['foreign_cores']:.2f} cores on average "
                    "during the run (timings on a shared machine: compare tools within a run, not across runs)."
                    if result.get("contention") else ""))
    lines.append("")
    lines.append(f"Versions: vistream {v.get('vistream')} (system FFmpeg), torchcodec {v.get('torchcodec')} "
                 f"(torch {v.get('torch')}, system FFmpeg), PyAV {v.get('av')} (bundled libavcodec "
                 f"{v.get('av_ffmpeg', '?')}), OpenCV {v.get('cv2')} ({v.get('cv2_avcodec', '?')}). "
                 f"vistream API: {result['vistream_api']}.")
    if done and done.split(" of ")[0] != done.split(" of ")[1]:
        lines.append("")
        lines.append(f"**Partial run: {done} clips measured so far.**")
    if result.get("missing_tools"):
        lines.append("")
        lines.append("Not run: " + "; ".join(f"{k}: {e}" for k, e in result["missing_tools"].items()))
    for cname, clip in result["clips"].items():
        tools = clip["tools"]
        names = list(tools)
        info = clip["clip"]
        lines.append("")
        lines.append(f"**{cname}**: {info['desc']} ({info['codec']}, {info['bit_rate'] / 1e6:.2f} Mbit/s, "
                     f"has_b_frames={info['has_b_frames']}, {info['keyframe_count']} keyframes)")
        lines.append("")
        pattern_names = list(next(iter(tools.values()))["patterns"])
        header = "| pattern | " + " | ".join(tools[t]["label"] for t in names) + " | vistream / best exact peer | inexact frames |"
        lines.append(header)
        lines.append("|---|" + "---:|" * len(names) + "---|---|")
        for p in pattern_names:
            cells = []
            inexact = []
            for t in names:
                e = tools[t]
                cells.append(f"{e['patterns'][p]['best_fps']:.1f}")
                ver = e["verify"].get(p)
                if ver and ver["mismatches"]:
                    inexact.append(f"{e['label']} {ver['mismatches']}/{ver['checked']}")
                elif not aligned(e):
                    inexact.append(f"{e['label']} (sequential misaligned)")
            r = clip["ratios"].get(p, {})
            ratio = (f"{r['vs_best_exact_peer']:.2f}x ({tools[r['best_exact_peer']]['label']})"
                     if "vs_best_exact_peer" in r else "-")
            lines.append(f"| {p} | " + " | ".join(cells) + f" | {ratio} | {', '.join(inexact) or 'none'} |")
        lines.append("")
        t = clip["single_targets"]
        lines.append(f"Single access, ms (median of {result['single_repeats']}, decoder open and "
                     f"positioned at frame {clip['single_from']} first): keyframe = frame {t['keyframe']}"
                     + (" ; one sequential frame = 1000 / sequential frames/s" if "sequential" in pattern_names else ""))
        lines.append("")
        cols = list(t)
        lines.append("| tool | " + " | ".join(f"{c} ({t[c]})" for c in cols)
                     + (" | one sequential frame |" if "sequential" in pattern_names else " |"))
        lines.append("|---|" + "---:|" * (len(cols) + (1 if "sequential" in pattern_names else 0)))
        for name in names:
            e = tools[name]
            cells = []
            for c in cols:
                s = e["single"][c]
                cells.append(f"{s['median_ms']:.1f}" + ("" if s["exact"] else " (inexact)"))
            if "sequential" in pattern_names:
                cells.append(f"{1000.0 / e['patterns']['sequential']['best_fps']:.1f}")
            lines.append(f"| {e['label']} | " + " | ".join(cells) + " |")
        minimum = clip.get("minimum_decodes", {})
        work = []
        for p, v in tools.get("vistream", {}).get("verify", {}).items():
            if "frames_decoded" not in v.get("work", {}):
                continue
            decoded = v["work"]["frames_decoded"]
            text = f"{p} {decoded} decoded / {v['checked']} returned ({decoded / v['checked']:.1f} per frame"
            if p in minimum:
                text += f"; minimum {minimum[p]}, {minimum[p] / v['checked']:.1f} per frame"
            work.append(text + f"), {v['work'].get('seeks', '?')} seeks")
        if work:
            lines.append("")
            lines.append(f"{tools['vistream']['label']} work (Reader.stats): " + "; ".join(work) + ".")
            if minimum:
                lines.append("")
                lines.append("Minimum = what any exact decoder that starts at each target's keyframe must decode: "
                             "per GOP holding targets, the targets and every reference frame (H.264 nal_ref_idc "
                             f"> 0; {info.get('nonref_frames', '?')} of the clip's frames are non-reference) decoded "
                             "before its last target. `frames_decoded` counts the frames the decoder handed back: "
                             "a reference frame decoded for a B-frame target but shown after it is still in the "
                             "decoder's reorder queue when the next seek flushes it, so the count can be below the "
                             "minimum by about one frame per seek on B-frame clips.")
        al = [f"{tools[n]['label']} {tools[n]['alignment_with_vistream']['aligned']}/"
              f"{tools[n]['alignment_with_vistream']['checked']}"
              for n in names if tools[n].get("alignment_with_vistream") and not n.startswith("vistream")]
        if al:
            lines.append("")
            lines.append("Sequential decodes line up with vistream's (frame i closest to vistream's i): " + ", ".join(al) + ".")
    lines.append("")
    lines.append("Frames/s = frames asked / (open + fetch + close), best of the timed repetitions; "
                 "patterns: " + "; ".join(f"{k}: {d}" for k, d in pattern_doc(result["quick"], _long_clusters(result)).items()) + ".")
    return "\n".join(lines)


def plot(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    clips = result["clips"]
    fig, axes = plt.subplots(len(clips), 1, figsize=(11, 3.2 * len(clips)), squeeze=False)
    for ax, (cname, clip) in zip(axes[:, 0], clips.items()):
        tools = clip["tools"]
        names = list(tools)
        pattern_names = list(next(iter(tools.values()))["patterns"])
        width = 0.8 / len(names)
        for k, t in enumerate(names):
            values = [tools[t]["patterns"][p]["best_fps"] for p in pattern_names]
            xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(pattern_names))]
            bars = ax.bar(xs, values, width, label=tools[t]["label"])
            for x, p, val in zip(xs, pattern_names, values):
                if not exact(tools[t], p):
                    ax.text(x, val, "x", ha="center", va="bottom", color="red", fontsize=9)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(range(len(pattern_names)))
        ax.set_xticklabels(pattern_names)
        ax.set_ylabel("frames/s")
        ax.set_title(f"{cname}: {clip['clip']['desc']}", fontsize=9)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0, 0].legend(fontsize=8, ncol=3)
    fig.suptitle(f"bench/seek.py {result.get('tag') or ''} {result['started'][:16]} "
                 f"({result['machine']['cores']} cores); red x = inexact frames", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(out, dpi=90)
    plt.close(fig)


def update_benchmarks_md(section: str, tag: str) -> None:
    begin = f"<!-- bench/seek.py {tag}: generated section begin -->"
    end = f"<!-- bench/seek.py {tag}: generated section end -->"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    block = f"{begin}\n{section}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + f"\n\n### Random access, {tag} (`bench/seek.py --tag {tag}`)\n\n{block}\n"
    BENCHMARKS_MD.write_text(text)


# --------------------------------------------------------------------------- main


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the repository when inside it."""
    path = path.resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small clips, 10 indices, 1 repetition (< 2 min)")
    parser.add_argument("--tools", default=None,
                        help="comma-separated subset of: vistream, vistream-frame_at, torchcodec-exact, "
                             "torchcodec-approx, pyav, opencv (default: all available)")
    parser.add_argument("--clips", default=None, help=f"comma-separated subset of {', '.join(CLIPS)}")
    parser.add_argument("--reps", type=int, default=None,
                        help="timed repetitions (default: 3 on the 1080p clip, 2 on the long clips, 1 with --quick)")
    parser.add_argument("--long-reps", type=int, default=None, help="timed repetitions on the long clips only")
    parser.add_argument("--single-repeats", type=int, default=None, help="repeats per single access (default 5, quick 2)")
    parser.add_argument("--media-dir", type=Path, default=HERE / "media", help="clip cache (default bench/media)")
    parser.add_argument("--tag", default="before", help="names the results and the BENCHMARKS.md section")
    parser.add_argument("--json", type=Path, default=None, help="write the JSON here instead of bench/results/")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only (JSON only if --json is given)")
    parser.add_argument("--generate-only", action="store_true", help="make the clips (if missing) and stop")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="re-render the results JSON of an earlier run into BENCHMARKS.md (its section is named "
                             "after --tag if given, else the run's own tag) and stop; the plot is the .png beside it")
    args = parser.parse_args(argv)

    if args.render is not None:
        result = json.loads(args.render.read_text())
        result["json"] = _shown(args.render)
        png = args.render.with_suffix(".png")
        result["plot"] = _shown(png) if png.exists() else None
        tag = args.tag if "--tag" in (argv if argv is not None else sys.argv[1:]) else result.get("tag", args.tag)
        update_benchmarks_md(render(result), tag)
        log(f"rendered {args.render} into BENCHMARKS.md ({tag})")
        return 0

    def reps_for(clip: str) -> int:
        if args.long_reps and not CLIPS[clip].get("short"):
            return args.long_reps
        return args.reps or (1 if args.quick else 3 if CLIPS[clip].get("short") else 2)

    single_repeats = args.single_repeats or (2 if args.quick else 5)
    clip_names = args.clips.split(",") if args.clips else (QUICK_CLIPS if args.quick else FULL_CLIPS)
    for c in clip_names:
        if c not in CLIPS:
            parser.error(f"unknown clip {c!r}")

    if args.generate_only:
        for c in clip_names:
            ensure_clip(c, args.media_dir)
        return 0

    all_tools = available_tools()
    wanted = args.tools.split(",") if args.tools else list(all_tools)
    missing: Dict[str, str] = {}
    tools: Dict[str, dict] = {}
    for t in wanted:
        if t not in all_tools:
            if t == "vistream-frame_at":
                missing[t] = "Reader.frames_at does not exist yet: the vistream row is frame_at"
                continue
            parser.error(f"unknown tool {t!r}")
        module = all_tools[t].get("module")
        if module:
            try:
                __import__(module)
            except Exception as exc:
                missing[t] = f"cannot import {module}: {type(exc).__name__}: {exc}"
                log(f"skipping {t}: {missing[t]}")
                continue
        tools[t] = all_tools[t]
    # every tool's reference decode must be available
    for t, tool in list(tools.items()):
        if tool["reference"] not in tools:
            tools[tool["reference"]] = all_tools[tool["reference"]]
    tools = {t: tools[t] for t in all_tools if t in tools}  # stable order: vistream first
    if not tools:
        log("no tool to run")
        return 1

    started_wall = time.perf_counter()
    result = {
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tag": args.tag, "quick": args.quick, "single_repeats": single_repeats,
        "machine": machine(), "versions": tool_versions(),
        "vistream_api": all_tools["vistream"]["api"], "missing_tools": missing,
        "peer_settings": {"torchcodec_num_ffmpeg_threads": TORCHCODEC_THREADS,
                          "pyav_thread_type": PYAV_THREAD_TYPE, "opencv_grab_ahead": OPENCV_GRAB_AHEAD,
                          "vistream": 'Reader(format="rgb24", threads=0)'},
        "clip_commands": {c: " ".join(ffmpeg_command(CLIPS[c], Path(CLIPS[c]["file"]))) for c in clip_names},
        "clips": {},
    }
    host = result["machine"]["host"]
    day = _dt.date.today().isoformat()
    stem = f"seek-{host}-{day}" + ("-quick" if args.quick else "") + (f"-{args.tag}" if args.tag else "")
    json_path = args.json or (RESULTS / f"{stem}.json")
    png_path = json_path.with_suffix(".png")
    result["json"] = _shown(json_path)
    if not args.no_plot and not (args.no_write and args.json is None):
        result["plot"] = _shown(png_path)

    def write(final: bool) -> str:
        """Writes what is measured so far: a long run interrupted keeps its finished clips."""
        result["clips_done"] = f"{len(result['clips'])} of {len(clip_names)}"
        result["total_seconds"] = round(time.perf_counter() - started_wall, 1)
        result["all_exact"] = all(
            exact(e, p) and all(s["exact"] for s in e["single"].values())
            for clip in result["clips"].values() for e in clip["tools"].values() for p in e["patterns"])
        section = render(result)
        if args.json is not None or not args.no_write:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(result, indent=2) + "\n")
            if result.get("plot"):
                plot(result, png_path)
            log(f"wrote {json_path}" + (f" and {png_path.name}" if result.get("plot") else ""))
        if not args.no_write and not args.quick:
            update_benchmarks_md(section, args.tag)
            log("updated BENCHMARKS.md")
        return section

    contention = ForeignCpu().start()
    paths = {c: ensure_clip(c, args.media_dir) for c in clip_names}
    for k, c in enumerate(clip_names):
        result["clips"][c] = bench_clip(c, paths[c], tools, reps_for(c), args.quick, single_repeats)
        result["contention"] = contention.stop()
        if k + 1 < len(clip_names):
            write(final=False)
    section = write(final=True)
    print(section)
    log(f"total {result['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
