"""Bad inputs, error types, hardware fallback, FFmpeg log forwarding.

Anything that feeds broken data to the native code runs in a child interpreter with a
timeout (run_py / run_py_json): a segfault or hang then fails one test instead of
killing the session.
"""
from __future__ import annotations

import logging
import os

import pytest

from conftest import ffprobe_count, run_py_json

# Child-side helper: open + iterate, report exception class, isinstance flags, counts.
_PROBE = """
import dataclasses, json, sys, vistream as vs
def probe(src, **kw):
    out = {"exc": None, "msg": None, "frames": 0, "stats": None, "flags": {}}
    r = None
    try:
        r = vs.Reader(src, **kw)
        for f in r:
            out["frames"] += 1
        out["stats"] = {k: v for k, v in dataclasses.asdict(r.stats).items() if isinstance(v, (int, float, str))}
    except BaseException as e:
        out["exc"] = type(e).__name__
        out["msg"] = str(e)
        out["flags"] = {n: isinstance(e, getattr(vs, n)) for n in
                        ("VistreamError", "SourceError", "SourceNotFoundError", "DecodeError",
                         "FilterError", "HardwareError", "EncoderError")}
        out["flags"].update(FileNotFoundError=isinstance(e, FileNotFoundError),
                            OSError=isinstance(e, OSError), ValueError=isinstance(e, ValueError),
                            TypeError=isinstance(e, TypeError))
    finally:
        if r is not None:
            try:
                r.close()
            except Exception:
                pass
    return out
"""


def probe(src, timeout=60, **kw):
    code = _PROBE + f"\nprint(json.dumps(probe({src!r}, **{kw!r})))\n"
    return run_py_json(code, timeout=timeout)


def test_error_hierarchy(vs):
    assert issubclass(vs.SourceError, vs.VistreamError) and issubclass(vs.SourceError, OSError)
    assert issubclass(vs.SourceNotFoundError, vs.SourceError)
    assert issubclass(vs.SourceNotFoundError, FileNotFoundError)
    assert issubclass(vs.FilterError, vs.VistreamError) and issubclass(vs.FilterError, ValueError)
    for name in ("DecodeError", "EncoderError", "HardwareError"):
        assert issubclass(getattr(vs, name), vs.VistreamError)
    assert issubclass(vs.VistreamError, Exception)


def test_nonexistent_path(tmp_path):
    res = probe(str(tmp_path / "does_not_exist.mp4"))
    assert res["exc"] == "SourceNotFoundError", res
    f = res["flags"]
    assert f["SourceNotFoundError"] and f["SourceError"] and f["FileNotFoundError"] and f["OSError"]
    assert f["VistreamError"]
    assert "does_not_exist.mp4" in res["msg"]


def test_nonexistent_path_in_process(vs, tmp_path):
    with pytest.raises(FileNotFoundError):
        vs.Reader(tmp_path / "nope.mp4")
    with pytest.raises(vs.SourceError):
        vs.Reader(str(tmp_path / "nope.mp4"))


@pytest.mark.parametrize("name", ["text", "empty"])
def test_not_a_video(media, name):
    res = probe(str(media[name]))
    assert res["exc"] is not None, f"{name}: opening a non-video file must raise, got {res}"
    assert res["flags"]["SourceError"], res
    assert not res["flags"]["SourceNotFoundError"], "file exists: must not be 'not found'"


def test_audio_only_file(media):
    """No video stream: SourceError at open, or (acceptable) zero frames - never a crash."""
    res = probe(str(media["audio_only"]))
    if res["exc"] is not None:
        assert res["flags"]["SourceError"], res
    else:
        assert res["frames"] == 0


def test_truncated_file_decodes_partially(media, probe_cache):
    full = probe_cache(media["bframes"])["count"]
    assert ffprobe_count(media["truncated"]) > 0  # moov is at the front: still openable
    res = probe(str(media["truncated"]))
    assert res["exc"] is None, f"truncated file raised {res['exc']}: {res['msg']}"
    assert 0 < res["frames"] < full, res


def test_corrupted_middle_keeps_going(media, probe_cache):
    full = probe_cache(media["bframes"])["count"]
    res = probe(str(media["corrupt"]))
    assert res["exc"] is None, f"corrupted file raised {res['exc']}: {res['msg']}"
    assert res["frames"] > full // 2, f"only {res['frames']} of {full} frames came out"
    assert res["frames"] <= full + 1
    assert isinstance(res["stats"]["decode_errors"], int)
    assert res["stats"]["frames_decoded"] == res["frames"]


def test_corrupted_ts_truncated(media, tmp_path):
    """MPEG-TS cut at an arbitrary byte: partial decode, no exception."""
    data = media["mpeg2"].read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: len(data) // 2 + 77])
    res = probe(str(cut))
    assert res["exc"] is None, res
    assert 0 < res["frames"] < 30


def test_unknown_filter(media):
    res = probe(str(media["bframes"]), vfilter="nosuchfilter")
    assert res["exc"] == "FilterError", res
    assert res["flags"]["ValueError"] and res["flags"]["VistreamError"]
    assert "nosuchfilter" in res["msg"]


def test_bad_filter_argument(media):
    res = probe(str(media["bframes"]), vfilter="scale=abc:def")
    assert res["exc"] is not None and res["flags"]["FilterError"], res


def test_bad_format(vs, media):
    with pytest.raises(ValueError):
        vs.Reader(media["bframes"], format="xyz")
    res = probe(str(media["bframes"]), format="xyz")
    assert res["exc"] is not None and res["flags"]["ValueError"], res


def test_bad_source_type(vs):
    with pytest.raises(TypeError):
        vs.Reader(12345)


def test_seek_argument_validation(vs, media):
    with vs.Reader(media["bframes"]) as r:
        with pytest.raises(ValueError):
            r.seek()
        with pytest.raises(ValueError):
            r.seek(time=0.5, index=3)
        # still usable afterwards
        r.seek(index=3)
        assert next(iter(r)).index == 3


@pytest.mark.skipif(os.path.exists("/dev/nvidia0"), reason="a real NVIDIA GPU is present")
def test_hwaccel_cuda_unavailable(media):
    res = probe(str(media["bframes"]), hwaccel="cuda")
    assert res["exc"] == "HardwareError" or res["flags"].get("HardwareError"), res
    assert res["flags"]["VistreamError"]


@pytest.mark.skipif(os.path.exists("/dev/nvidia0") or os.path.exists("/dev/dri"),
                    reason="a GPU device is present; auto may legitimately pick it")
def test_hwaccel_auto_falls_back(media, vs):
    res = run_py_json(f"""
        import json, hashlib, vistream as vs
        def hashes(**kw):
            with vs.Reader({str(media['bframes'])!r}, **kw) as r:
                hw = r.info.hwaccel
                return hw, [hashlib.sha1(f.array.tobytes()).hexdigest() for f in r]
        hw_auto, h_auto = hashes(hwaccel="auto")
        hw_none, h_none = hashes()
        print(json.dumps({{"hw": hw_auto, "same": h_auto == h_none, "n": len(h_auto)}}))
    """)
    assert res["hw"] == "none"
    assert res["n"] == 60
    assert res["same"], "hwaccel='auto' software fallback must produce the same frames"


def test_player_hwaccel_auto_reports_none(media, tmp_path):
    if os.path.exists("/dev/nvidia0") or os.path.exists("/dev/dri"):
        pytest.skip("a GPU device is present")
    res = run_py_json(f"""
        import json, vistream as vs
        p = vs.Player({str(media['noaudio'])!r}, output={str(tmp_path / 'o.mp4')!r}, hwaccel="auto")
        p.on_frame(lambda f: None)
        st = p.run()
        print(json.dumps({{"hw": st.hwaccel, "n": st.frames_encoded}}))
    """)
    assert res == {"hw": "none", "n": 30}


def test_ffmpeg_messages_reach_python_logging(media, caplog):
    # Make sure decoding the corrupted file is survivable before doing it in-process.
    res = probe(str(media["corrupt"]))
    if res["exc"] is not None:
        pytest.fail(f"corrupted file raised in child ({res['exc']}); see test_corrupted_middle")
    import vistream as vs
    caplog.set_level(logging.DEBUG, logger="vistream.ffmpeg")
    with vs.Reader(media["corrupt"]) as r:
        for _ in r:
            pass
    recs = [r for r in caplog.records if r.name == "vistream.ffmpeg"]
    assert recs, "no FFmpeg log record reached logger 'vistream.ffmpeg'"
    assert any(r.levelno >= logging.WARNING for r in recs), [r.getMessage() for r in recs][:5]
    assert all(r.getMessage().strip() for r in recs)


def test_ffmpeg_logging_in_child(media):
    """Same check with a plain logging handler (not pytest's caplog)."""
    res = run_py_json(f"""
        import json, logging, vistream as vs
        got = []
        class H(logging.Handler):
            def emit(self, rec):
                got.append((rec.name, rec.levelno, rec.getMessage()))
        lg = logging.getLogger("vistream.ffmpeg")
        lg.addHandler(H()); lg.setLevel(logging.DEBUG)
        with vs.Reader({str(media['corrupt'])!r}) as r:
            for _ in r:
                pass
        print(json.dumps({{"n": len(got), "warn": sum(1 for g in got if g[1] >= logging.WARNING),
                          "sample": got[:3]}}))
    """)
    assert res["n"] > 0 and res["warn"] > 0, res


def test_many_readers_open_close(media):
    """Opening/closing many readers (incl. failing opens) neither crashes nor hangs."""
    res = run_py_json(f"""
        import json, vistream as vs
        ok = err = 0
        for i in range(40):
            try:
                with vs.Reader({str(media['noaudio'])!r} if i % 2 else {str(media['text'])!r}) as r:
                    next(iter(r))
                ok += 1
            except vs.SourceError:
                err += 1
        print(json.dumps([ok, err]))
    """, timeout=120)
    assert res == [20, 20]
