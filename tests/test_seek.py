"""Frame-accurate seeking: seek(index=), seek(time=), frame_at() against sequential decode.

Ground truth is the sequential decode of the same Reader configuration (hash of every
frame's bytes); keyframe positions come from ffprobe.
"""
from __future__ import annotations

import random
import zlib

import pytest

from conftest import frame_hash

SEEK_CLIPS = ["bframes", "opengop", "test", "vfr", "mpeg2"]


@pytest.fixture(scope="module")
def truth(media, test_mp4, probe_cache):
    """name -> dict(path, hashes, times, keys) from one sequential decode."""
    import vistream as vs
    cache = {}

    def get(name):
        if name not in cache:
            path = test_mp4 if name == "test" else media[name]
            hashes, times = [], []
            with vs.Reader(path) as r:
                for fr in r:
                    assert fr.index == len(hashes)
                    hashes.append(frame_hash(fr.array))
                    times.append(fr.time)
            probe = probe_cache(path)
            assert len(hashes) == probe["count"]
            keys = [i for i, k in enumerate(probe["key"]) if k]
            cache[name] = dict(path=path, hashes=hashes, times=times, keys=keys)
        return cache[name]
    return get


def _targets(n, keys, seed, count=25):
    """0, last, keyframes and their neighbours (incl. open-GOP leading B frames), plus
    seeded random indices, in seeded random order (so forward and backward jumps mix)."""
    rng = random.Random(seed)
    neigh = sorted({x for k in keys for x in (k - 3, k - 2, k - 1, k, k + 1)
                    if 0 <= x < n} - {0, n - 1})
    rng.shuffle(neigh)
    chosen = [0, n - 1] + neigh[:count - 2]
    while len(chosen) < count:
        chosen.append(rng.randrange(n))
    rng.shuffle(chosen)
    return chosen


@pytest.mark.parametrize("name", SEEK_CLIPS)
def test_seek_index_exact(vs, truth, name):
    t = truth(name)
    n = len(t["hashes"])
    targets = _targets(n, t["keys"], seed=zlib.crc32(name.encode()))
    failures = []
    with vs.Reader(t["path"]) as r:
        it = iter(r)
        for k in targets:
            r.seek(index=k)
            fr = next(it)
            if fr.index != k or frame_hash(fr.array) != t["hashes"][k]:
                failures.append((k, fr.index, frame_hash(fr.array) == t["hashes"][k]))
                continue
            # decoding continues in order after a seek
            for j in range(k + 1, min(k + 3, n)):
                nxt = next(it)
                if nxt.index != j or frame_hash(nxt.array) != t["hashes"][j]:
                    failures.append((f"{k}->+{j - k}", nxt.index, False))
                    break
    assert not failures, (f"{name}: (target, got index, pixels equal) for failed seeks: {failures}; "
                          f"keyframes at {t['keys']}")


@pytest.mark.parametrize("name", ["bframes", "opengop", "test"])
def test_seek_backward_after_forward(vs, truth, name):
    t = truth(name)
    n = len(t["hashes"])
    keys = t["keys"]
    k2 = keys[-1] if len(keys) > 1 else n - 5
    seq = [n - 1, 0, n // 2, 1, k2 - 1, k2, k2 - 2, n - 2, 3]
    with vs.Reader(t["path"]) as r:
        it = iter(r)
        # read a few frames sequentially first
        for _ in range(5):
            next(it)
        for k in seq:
            r.seek(index=k)
            fr = next(it)
            assert fr.index == k, f"seek(index={k}) yielded index {fr.index}"
            assert frame_hash(fr.array) == t["hashes"][k], f"seek(index={k}): wrong pixels"


@pytest.mark.parametrize("name", ["bframes", "opengop", "test", "vfr", "mpeg2"])
def test_seek_time(vs, truth, name):
    """seek(time=t) gives the frame on screen at t: pts <= t < next pts (issue 17; it used to
    give the first frame at or after t). A time a hair before a frame's timestamp (below the
    container's rounding) still counts as that frame."""
    t = truth(name)
    times = t["times"]
    n = len(times)
    rng = random.Random(99)
    ks = sorted({1, n // 3, n // 2, n - 1, *(rng.randrange(1, n) for _ in range(8))}, reverse=True)
    cases = [(times[0], 0), (times[0] - 0.5, 0)]
    for k in ks:
        cases.append((times[k], k))
        cases.append((times[k] - 1e-6, k))                     # rounding: frame k has started
        cases.append(((times[k - 1] + times[k]) / 2, k - 1))  # between frames: the earlier one shows
        if k + 1 < n:
            cases.append((times[k] + 0.9 * (times[k + 1] - times[k]), k))
    with vs.Reader(t["path"]) as r:
        it = iter(r)
        for tt, k in cases:
            r.seek(time=tt)
            fr = next(it)
            assert fr.index == k, f"seek(time={tt:.6f}) gave index {fr.index}, want {k}"
            assert fr.time <= max(tt, times[0]) + 1e-3
            assert frame_hash(fr.array) == t["hashes"][k], f"seek(time={tt:.6f}): wrong pixels"


@pytest.mark.parametrize("name", ["bframes", "opengop"])
def test_frame_at(vs, truth, name):
    t = truth(name)
    n = len(t["hashes"])
    rng = random.Random(5)
    ks = [n - 1, 0] + [rng.randrange(n) for _ in range(6)] + [k - 1 for k in t["keys"] if k > 0]
    with vs.Reader(t["path"]) as r:
        it = iter(r)
        for k in ks:
            fr = r.frame_at(k)
            assert fr.index == k
            assert frame_hash(fr.array) == t["hashes"][k], f"frame_at({k}): wrong pixels"
        # iteration continues after frame_at
        fr = r.frame_at(10)
        nxt = next(it)
        assert nxt.index == 11 and frame_hash(nxt.array) == t["hashes"][11]


def test_seek_with_filter_and_format(vs, media):
    """Seeking also resets the filter graph: a scaled gray reader seeks exactly too."""
    path = media["bframes"]
    kw = dict(format="gray", vfilter="scale=160:120")
    with vs.Reader(path, **kw) as r:
        ref = [frame_hash(f.array) for f in r]
    with vs.Reader(path, **kw) as r:
        it = iter(r)
        for k in [45, 3, 29, 30, 59, 0, 31]:
            r.seek(index=k)
            fr = next(it)
            assert fr.index == k and frame_hash(fr.array) == ref[k], k


def test_seek_past_end_yields_nothing_or_raises(vs, media):
    with vs.Reader(media["bframes"]) as r:
        n = len(r)
        try:
            r.seek(index=n + 100)
        except (ValueError, IndexError):
            return
        assert list(iter(r)) == [], "seeking past the last frame must not yield frames"
