"""Zero-copy views: __array__, DLPack (numpy + torch), buffer lifetime, no leaks."""
from __future__ import annotations

import numpy as np

from conftest import run_py_json


def _first(vs, path, **kw):
    r = vs.Reader(path, **kw)
    fr = next(iter(r))
    return r, fr


def test_asarray_shares_memory_and_writes_are_visible(vs, media):
    r, fr = _first(vs, media["bframes"])
    try:
        a = np.asarray(fr)
        assert a.shape == (240, 320, 3) and a.dtype == np.uint8
        assert np.shares_memory(a, fr.array)
        a[0:4, 0:4] = (1, 2, 3)
        assert (fr.array[0:4, 0:4] == (1, 2, 3)).all()
        fr.array[10, 10] = (200, 100, 50)
        assert tuple(a[10, 10]) == (200, 100, 50)
        # the frame array itself is a view, not a fresh copy each access
        assert np.shares_memory(fr.array, fr.array)
        fr.array[20, 20, 0] = 77
        assert fr.array[20, 20, 0] == 77
    finally:
        r.close()


def test_dlpack_device_is_cpu(vs, media):
    r, fr = _first(vs, media["bframes"])
    try:
        dev = fr.__dlpack_device__()
        assert tuple(dev) == (1, 0)
    finally:
        r.close()


def test_numpy_from_dlpack_shares_memory(vs, media):
    r, fr = _first(vs, media["bframes"])
    try:
        a = np.from_dlpack(fr)
        assert a.shape == (240, 320, 3) and a.dtype == np.uint8
        assert np.shares_memory(a, fr.array)
        assert np.array_equal(a, fr.array)
        fr.array[5, 5] = (9, 8, 7)
        assert tuple(a[5, 5]) == (9, 8, 7)
    finally:
        r.close()


def test_numpy_from_dlpack_gray_and_rgba(vs, media):
    for fmt, shape in (("gray", (240, 320)), ("rgba", (240, 320, 4))):
        r, fr = _first(vs, media["bframes"], format=fmt)
        try:
            a = np.from_dlpack(fr)
            assert a.shape == shape
            assert np.shares_memory(a, fr.array)
        finally:
            r.close()


def test_torch_from_dlpack_shares_memory(vs, media):
    import torch  # CI installs torch==2.14.1; a missing torch is an environment failure

    r, fr = _first(vs, media["bframes"])
    try:
        t = torch.from_dlpack(fr)
        assert t.dtype == torch.uint8
        assert tuple(t.shape) == (240, 320, 3)
        assert t.device.type == "cpu"
        assert np.array_equal(t.numpy(), fr.array)
        t[0:2, 0:2, :] = 123
        assert (fr.array[0:2, 0:2] == 123).all(), "torch write not visible in frame.array"
        fr.array[3, 3] = (1, 2, 3)
        assert t[3, 3].tolist() == [1, 2, 3]
    finally:
        r.close()


def test_array_outlives_frame_and_reader(media):
    """The view keeps the native buffer alive after the Frame and Reader are gone.

    Run in a child: a use-after-free would crash or show garbage there, not in pytest.
    """
    res = run_py_json(f"""
        import gc, json
        import numpy as np
        import vistream as vs
        r = vs.Reader({str(media['bframes'])!r})
        it = iter(r)
        kept = []
        for _ in range(5):
            fr = next(it)
            a = fr.array
            kept.append((a, a.copy(), np.asarray(fr), np.from_dlpack(fr)))
        del fr, a, it
        r.close()
        del r
        gc.collect()
        # churn the allocator so freed buffers would get reused/overwritten
        with vs.Reader({str(media['bframes'])!r}) as r2:
            junk = [f.array.copy() for f in r2]
        r3 = vs.Reader({str(media['noaudio'])!r})
        for f in r3:
            f.array[:] = 0
        r3.close()
        gc.collect()
        ok = [bool(np.array_equal(v, c) and np.array_equal(w, c) and np.array_equal(d, c))
              for v, c, w, d in kept]
        distinct = len({{c.tobytes() for _, c, _, _ in kept}})
        print(json.dumps({{"ok": ok, "distinct": distinct}}))
    """)
    assert res["ok"] == [True] * 5, "arrays changed after the frame/reader were released"
    assert res["distinct"] == 5, "the 5 kept frames should be 5 different pictures"


def test_frames_are_independent_buffers(vs, media):
    """Holding several frames: each keeps its own content (no buffer aliasing)."""
    with vs.Reader(media["bframes"]) as r:
        frames = []
        copies = []
        for fr in r:
            frames.append(fr)
            copies.append(fr.array.copy())
            if len(frames) == 8:
                break
        for fr in r:  # keep decoding: the held frames must stay intact
            pass
    for fr, c in zip(frames, copies):
        assert np.array_equal(fr.array, c)
    assert len({c.tobytes() for c in copies}) == 8


def test_iteration_does_not_leak(test_mp4):
    """Decoding test.mp4 (240 x 2.7 MB frames) repeatedly must not grow RSS unboundedly."""
    res = run_py_json(f"""
        import gc, json, os
        import numpy as np
        import vistream as vs
        page = os.sysconf("SC_PAGE_SIZE")
        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * page
        def once():
            s = 0
            with vs.Reader({str(test_mp4)!r}) as r:
                for fr in r:
                    a = fr.array
                    b = np.asarray(fr)
                    c = np.from_dlpack(fr)
                    s += int(a[0, 0, 0]) + int(b[1, 1, 1]) + int(c[2, 2, 2])
            return s
        once()                  # warm-up (codec tables, thread pools, allocator arenas)
        gc.collect()
        before = rss()
        once(); once()
        gc.collect()
        after = rss()
        print(json.dumps({{"growth_mb": (after - before) / 2**20}}))
    """, timeout=180)
    assert res["growth_mb"] < 50, f"RSS grew by {res['growth_mb']:.1f} MB over two passes"
