"""Decode lanes (issue 17): a batch's runs decoded in parallel on extra single-threaded decoders
of the same file must give exactly the frames of a sequential decode, count their work in the
Reader's stats, stop promptly on close(), and fail the way a batch on the Reader's own decoder
fails.

Lanes engage on their own for a local file decoded in software with ``threads=0`` on a machine
with 2 or more cores; ``VISTREAM_DECODE_LANES`` (read when a Reader opens) pins their number so
these tests do not depend on the machine's core count (1 turns lanes off: the reference).
"""
from __future__ import annotations

import hashlib
import random
import subprocess

import numpy as np
import pytest

from conftest import run_py_json
from test_random_access import CLIPS, clips  # noqa: F401  (clips: the shared fixture)


def _md5(array) -> str:
    return hashlib.md5(np.ascontiguousarray(array).tobytes()).hexdigest()


def _sparse_per_gop(keys, n):
    """Two frames early in every GOP: one run per GOP (the next keyframe is far past the run's
    last target), so the batch has as many runs as GOPs."""
    return sorted({i for k in keys for i in (k + 1, k + 4) if i < n})


@pytest.fixture
def two_lanes(monkeypatch):
    monkeypatch.setenv("VISTREAM_DECODE_LANES", "2")


@pytest.mark.parametrize("name", CLIPS)
def test_a_batch_on_lanes_returns_the_sequential_frames_and_counts_their_work(vs, clips, two_lanes,
                                                                             monkeypatch, name):
    """B-pyramid, mkv, open GOP, HEVC, VFR and AVI: frames_at on lanes (list and stack) gives the
    md5s of ffmpeg's sequential decode, the stats show the lanes, frames_decoded and seeks
    count the lanes' work exactly as the same batch on the Reader's own decoder counts it, and
    reading on continues after the highest index."""
    clip = clips[name]
    expected, keys = clip["md5s"], clip["keys"]
    n = len(expected)
    sparse = _sparse_per_gop(keys, n)
    rng = random.Random(17)
    asked = sparse + [rng.choice(sparse) for _ in range(6)]  # duplicates, any order
    rng.shuffle(asked)
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        frames = reader.frames_at(asked)
        assert [_md5(f.array) for f in frames] == [expected[i] for i in asked]
        on_lanes = reader.stats
        assert on_lanes.decode_lanes == 2 and on_lanes.runs_on_lanes >= 3, on_lanes
        backward = sparse[::-1][1:]
        stacked = reader.frames_at(backward, stack=True)
        assert [_md5(a) for a in stacked] == [expected[i] for i in backward]
        assert reader.stats.runs_on_lanes >= on_lanes.runs_on_lanes + 2
        following = [(f.index, _md5(f.array)) for _, f in zip(range(3), reader)]
        start = max(backward) + 1
        assert following == [(i, expected[i]) for i in range(start, min(n, start + 3))]
    monkeypatch.setenv("VISTREAM_DECODE_LANES", "1")
    with vs.Reader(clip["path"], format="yuv420p") as reference:
        reference.frames_at(asked)
        alone = reference.stats
    assert alone.runs_on_lanes == 0 and alone.decode_lanes == 0
    assert (on_lanes.frames_decoded, on_lanes.seeks, on_lanes.frames_output) == \
        (alone.frames_decoded, alone.seeks, alone.frames_output)


def test_strided_slicing_and_times_use_lanes(vs, clips, two_lanes):
    clip = clips["pyramid"]
    expected = clip["md5s"]
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        assert [_md5(f.array) for f in reader[5::29]] == expected[5::29]
        times = [clip["times"][i] for i in range(3, len(expected), 31)]
        played = reader.frames_played_at(times)
        assert [_md5(f.array) for f in played] == [expected[i] for i in range(3, len(expected), 31)]
        assert reader.stats.runs_on_lanes >= 6


@pytest.fixture(scope="module")
def damaged_gop(tmp_path_factory):
    """8 s of 320x240 H.264 without B-frames, keyframes every 30 frames, whose packet of frame 160
    (a P-frame of GOP 5) has its NAL length overwritten: the decoder drops it, so frame 160 can
    not be produced (the frames after it in GOP 5 decode from damaged references)."""
    path = tmp_path_factory.mktemp("lanes") / "damaged.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=320x240:rate=30:duration=8", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-bf", "0", "-g", "30", "-x264-params", "scenecut=0", "-an",
                    str(path)], check=True, capture_output=True)
    packets = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                              "packet=pos", "-of", "csv=p=0", str(path)],
                             check=True, capture_output=True, text=True).stdout.split()
    data = bytearray(path.read_bytes())
    position = int(packets[160].strip(","))
    data[position:position + 4] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    return path


def test_a_corrupt_gop_on_a_lane_is_the_same_decode_error(vs, damaged_gop, monkeypatch):
    """A frame the damaged packet cannot yield, asked in a batch whose runs go to lanes: the
    DecodeError is the one the Reader's own decoder raises (the failure of the lowest failing
    run, whichever lane met it first); the lanes stop, and the Reader stays usable: the next
    batch on lanes and reading on give the sequential frames."""
    asked = [i for k in range(0, 240, 30) for i in (k + 2, k + 12)] + [160, 170]
    elsewhere = [i for k in range(0, 240, 30) if k != 150 for i in (k + 5, k + 9)]
    monkeypatch.setenv("VISTREAM_DECODE_LANES", "1")
    with vs.Reader(damaged_gop) as reference:
        sequential = {frame.index: _md5(frame.array) for frame in reference}
        assert 160 not in sequential, "the damaged packet should lose frame 160"
        with pytest.raises(vs.DecodeError) as alone:
            reference.frames_at(asked)
    monkeypatch.setenv("VISTREAM_DECODE_LANES", "2")
    with vs.Reader(damaged_gop) as reader:
        with pytest.raises(vs.DecodeError) as on_lanes:
            reader.frames_at(asked)
        assert "frame 160 " in str(on_lanes.value)
        assert str(on_lanes.value) == str(alone.value)
        frames = reader.frames_at(elsewhere[::-1])
        assert [_md5(f.array) for f in frames] == [sequential[i] for i in elsewhere[::-1]]
        assert reader.stats.decode_lanes == 2 and reader.stats.runs_on_lanes >= 7, reader.stats
        following = [(f.index, _md5(f.array)) for _, f in zip(range(3), reader)]
        assert following == [(i, sequential[i]) for i in range(max(elsewhere) + 1, max(elsewhere) + 4)]


@pytest.fixture(scope="module")
def long_p_only(tmp_path_factory):
    """20 s of 640x360 H.264 without B-frames, keyframes every 30 frames: 20 GOPs."""
    path = tmp_path_factory.mktemp("lanes") / "long-p.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=640x360:rate=30:duration=20", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-bf", "0", "-g", "30", "-x264-params", "scenecut=0", "-an",
                    str(path)], check=True, capture_output=True)
    return path


def test_close_from_another_thread_stops_a_lane_batch_promptly(long_p_only):
    """close() while lanes decode a long batch (frame 25 of every GOP, decoded over and
    over): close returns at once, the batch raises the closed-Reader ValueError, no lane thread
    outlives it. In a child, so a hang fails the test instead of the suite."""
    result = run_py_json(f"""
        import json, os, threading, time
        os.environ["VISTREAM_DECODE_LANES"] = "2"
        import vistream as vs
        reader = vs.Reader({str(long_p_only)!r}, format="rgb24")
        reader.frames_at([25, 55, 85])
        warm = reader.stats
        asked = list(range(25, len(reader), 30))
        out = {{"runs": warm.runs_on_lanes, "lanes": warm.decode_lanes, "batches": 0}}
        started = threading.Event()

        def work():
            started.set()
            try:
                while True:
                    reader.frames_at(asked, stack=True)
                    out["batches"] += 1
            except ValueError as error:
                out["error"] = str(error)
            except Exception as error:
                out["other"] = repr(error)

        thread = threading.Thread(target=work)
        thread.start()
        started.wait()
        time.sleep(0.5)
        t0 = time.monotonic()
        reader.close()
        out["close_s"] = time.monotonic() - t0
        thread.join(10)
        out["ended_s"] = time.monotonic() - t0
        out["alive"] = thread.is_alive()
        out["threads_left"] = threading.active_count()
        print(json.dumps(out))
    """, timeout=120)
    assert result["runs"] >= 2 and result["lanes"] == 2, result
    assert not result["alive"] and "other" not in result, result
    assert "closed Reader" in result.get("error", ""), result
    # A lane decodes at most one frame after the cancel; 1 s is generous under load.
    assert result["close_s"] < 1.0 and result["ended_s"] < 1.5, result
