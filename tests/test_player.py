"""Player (offline mode): callback editing, encoding, audio passthrough, stats, errors."""
from __future__ import annotations

import dataclasses
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import (TEST_MP4_FRAMES, ffprobe_count, ffprobe_json, ffprobe_stream,
                      mean_abs_diff, run_py_json)

RECT = (slice(100, 200), slice(200, 400))  # rows, cols of the white box drawn by the callback


def ffprobe_clean(path):
    """ffprobe and a full ffmpeg decode of ``path`` must print no errors."""
    p = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", str(path)],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr.strip() == "", f"ffprobe errors: {p.stderr}"
    p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr.strip() == "", f"ffmpeg decode errors: {p.stderr}"


def stream_duration(path, sel):
    st = ffprobe_stream(path, sel)
    assert st is not None, f"{path.name}: no stream {sel}"
    if "duration" in st:
        return float(st["duration"])
    # Matroska keeps it in a tag: HH:MM:SS.nnnnnnnnn
    tag = st.get("tags", {}).get("DURATION")
    h, m, s = tag.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def top_level_boxes(path):
    data = path.read_bytes()
    i, boxes = 0, []
    while i + 8 <= len(data):
        size, typ = struct.unpack(">I4s", data[i:i + 8])
        if size == 1:
            size = struct.unpack(">Q", data[i + 8:i + 16])[0]
        boxes.append(typ.decode("latin-1"))
        if size == 0:
            break
        i += size
    return boxes


@pytest.fixture(scope="module")
def rect_run(tmp_path_factory, test_mp4):
    """One offline run over test.mp4 drawing a white rectangle in place on every frame."""
    import vistream as vs
    out = tmp_path_factory.mktemp("player") / "out.mp4"
    seen = []
    player = vs.Player(str(test_mp4), output=str(out))

    def draw(frame):
        seen.append((frame.index, frame.array.shape))
        frame.array[RECT] = 255

    assert player.on_frame(draw) is draw
    ret = player.run()
    return dict(out=out, seen=seen, ret=ret, stats=dataclasses.asdict(player.stats))


def test_rect_output_frame_count_and_duration(rect_run, test_mp4):
    out = rect_run["out"]
    assert out.is_file() and out.stat().st_size > 0
    n = ffprobe_count(out)
    assert abs(n - TEST_MP4_FRAMES) <= 1, f"output has {n} frames, input {TEST_MP4_FRAMES}"
    din = stream_duration(test_mp4, "v:0")
    dout = stream_duration(out, "v:0")
    assert abs(dout - din) <= 1 / 30 + 1e-3, f"video duration {dout} vs input {din}"


def test_rect_output_is_h264_yuv420p_faststart(rect_run):
    out = rect_run["out"]
    st = ffprobe_stream(out, "v:0")
    assert st["codec_name"] == "h264"
    assert st["pix_fmt"] == "yuv420p"
    assert (int(st["width"]), int(st["height"])) == (1280, 720)
    boxes = top_level_boxes(out)
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat"), f"mp4 not faststart: {boxes}"


def test_rect_output_audio(rect_run, test_mp4):
    out = rect_run["out"]
    a = ffprobe_stream(out, "a:0")
    assert a is not None, "audio stream missing from output"
    assert a["codec_name"] == "aac"
    assert int(a["channels"]) == 2
    din = stream_duration(test_mp4, "a:0")
    dout = stream_duration(out, "a:0")
    assert abs(dout - din) <= 0.1, f"audio duration {dout} vs input {din}"


def test_rect_output_no_errors(rect_run):
    ffprobe_clean(rect_run["out"])


def test_rect_output_pixels(vs, rect_run, test_mp4):
    """Rectangle is white in the output; the rest still looks like the input."""
    mask = np.ones((720, 1280), bool)
    mask[RECT] = False
    n = 0
    with vs.Reader(rect_run["out"]) as ro, vs.Reader(test_mp4) as ri:
        for fo, fi in zip(ro, ri):
            if fo.index % 10 == 0:
                box = fo.array[RECT]
                assert box.mean() > 200, f"frame {fo.index}: rectangle mean {box.mean():.1f}"
                d = mean_abs_diff(fo.array[mask], fi.array[mask])
                assert d < 10, f"frame {fo.index}: outside-rect mean abs diff {d:.2f}"
            n += 1
    assert n >= TEST_MP4_FRAMES - 1
    # sanity: the input region is not already white
    with vs.Reader(test_mp4) as ri:
        assert next(iter(ri)).array[RECT].mean() < 180


def test_rect_callbacks_in_order(rect_run):
    seen = rect_run["seen"]
    assert [i for i, _ in seen] == list(range(TEST_MP4_FRAMES))
    assert {s for _, s in seen} == {(720, 1280, 3)}


def test_rect_stats(rect_run):
    import vistream as vs

    st = rect_run["stats"]
    assert isinstance(rect_run["ret"], vs.PlayerStats)
    assert rect_run["ret"].frames_encoded == st["frames_encoded"]
    assert st["frames_decoded"] == TEST_MP4_FRAMES
    assert st["frames_processed"] == TEST_MP4_FRAMES
    assert st["frames_encoded"] == TEST_MP4_FRAMES
    assert st["frames_dropped"] == 0
    assert st["decode_errors"] == 0
    assert isinstance(st["encoder"], str) and st["encoder"]
    assert st["elapsed"] > 0 and st["fps"] > 0
    assert st["hwaccel"] == "none"


# ----------------------------------------------------------------------------- other runs

def _input_frames(vs, path):
    with vs.Reader(path) as r:
        return np.stack([f.array.copy() for f in r])


def _output_frames(vs, path):
    with vs.Reader(path) as r:
        return np.stack([f.array.copy() for f in r])


def test_callback_returning_new_array(vs, media, tmp_path):
    src = media["av30"]
    out = tmp_path / "inv.mp4"
    p = vs.Player(str(src), output=str(out))

    @p.on_frame
    def invert(frame):
        return 255 - frame.array

    st = p.run()
    assert st.frames_encoded == 90
    ffprobe_clean(out)
    inp = _input_frames(vs, src)
    res = _output_frames(vs, out)
    assert abs(len(res) - len(inp)) <= 1
    for i in range(0, min(len(res), len(inp)), 15):
        d_inv = mean_abs_diff(res[i], 255 - inp[i])
        assert d_inv < 10, f"frame {i}: output is not the inverted input ({d_inv:.1f})"


def test_callback_exception_propagates_and_output_finalized(vs, media, tmp_path):
    src = media["av30"]
    out = tmp_path / "exc.mp4"
    p = vs.Player(str(src), output=str(out))
    seen = []

    @p.on_frame
    def boom(frame):
        seen.append(frame.index)
        if frame.index == 50:
            raise ValueError("boom at 50")

    with pytest.raises(ValueError, match="boom at 50") as failure:
        p.run()
    assert seen[-1] == 50 and seen == list(range(51)), "callback must stop at the failing frame"
    # A failed run keeps its (finalized) partial output beside the name asked for, and says where.
    partial = Path(p.stats.output)
    assert not out.exists() and partial.parent == tmp_path and partial.suffix == ".mp4"
    assert any(str(partial) in note for note in failure.value.__notes__)
    ffprobe_clean(partial)
    n = ffprobe_count(partial)
    assert 48 <= n <= 52, f"expected ~50 frames in finalized output, got {n}"


def test_mkv_output(vs, media, tmp_path):
    src = media["av30"]
    out = tmp_path / "out.mkv"
    p = vs.Player(str(src), output=str(out))
    p.on_frame(lambda f: None)
    st = p.run()
    assert st.frames_encoded == 90
    ffprobe_clean(out)
    assert ffprobe_json(out, "-show_format")["format"]["format_name"].startswith("matroska")
    assert abs(ffprobe_count(out) - 90) <= 1
    assert ffprobe_stream(out, "v:0")["codec_name"] == "h264"
    assert ffprobe_stream(out, "a:0") is not None
    assert abs(stream_duration(out, "a:0") - stream_duration(src, "a:0")) <= 0.1


def test_no_audio_input(vs, media, tmp_path):
    src = media["noaudio"]
    out = tmp_path / "na.mp4"
    p = vs.Player(str(src), output=str(out))
    p.on_frame(lambda f: None)
    st = p.run()
    assert st.frames_encoded == 30
    ffprobe_clean(out)
    assert ffprobe_stream(out, "a:0") is None
    assert ffprobe_count(out) == 30


def test_audio_false_drops_audio(vs, media, tmp_path):
    out = tmp_path / "noaud.mp4"
    p = vs.Player(str(media["av30"]), output=str(out), audio=False)
    p.on_frame(lambda f: None)
    p.run()
    ffprobe_clean(out)
    assert ffprobe_stream(out, "a:0") is None
    assert abs(ffprobe_count(out) - 90) <= 1


def test_start_end_trimming(vs, media, tmp_path):
    src = media["av30"]
    out = tmp_path / "trim.mp4"
    p = vs.Player(str(src), output=str(out), start=1.0, end=2.0)
    times = []
    p.on_frame(lambda f: times.append(f.time))
    st = p.run()
    ffprobe_clean(out)
    n = ffprobe_count(out)
    assert abs(n - 30) <= 1, f"1 s of 30 fps should give ~30 frames, got {n}"
    assert st.frames_encoded == n
    assert abs(stream_duration(out, "v:0") - 1.0) <= 1 / 30 + 1e-3
    # content: output frame 0 is source frame 30 (t=1.0), last is ~59
    inp = _input_frames(vs, src)
    res = _output_frames(vs, out)
    first = int(np.argmin([mean_abs_diff(res[0], x) for x in inp]))
    last = int(np.argmin([mean_abs_diff(res[-1], x) for x in inp]))
    assert abs(first - 30) <= 1, f"first output frame matches source frame {first}, want 30"
    assert abs(last - 59) <= 1, f"last output frame matches source frame {last}, want 59"
    a = ffprobe_stream(out, "a:0")
    assert a is not None
    assert abs(stream_duration(out, "a:0") - 1.0) <= 0.1


def test_stop_from_callback(vs, media, tmp_path):
    src = media["av30"]
    out = tmp_path / "stop.mp4"
    p = vs.Player(str(src), output=str(out))
    seen = []

    @p.on_frame
    def cb(frame):
        seen.append(frame.index)
        if frame.index == 20:
            p.stop()

    st = p.run()
    assert isinstance(st, vs.PlayerStats)
    assert 21 <= len(seen) <= 25, f"stop() at frame 20 but callback ran {len(seen)} times"
    ffprobe_clean(out)
    n = ffprobe_count(out)
    assert 20 <= n <= 25, f"stopped output has {n} frames"
    assert st.frames_encoded == n


def test_explicit_mpeg4_encoder(vs, media, tmp_path):
    out = tmp_path / "m4.mp4"
    p = vs.Player(str(media["noaudio"]), output=str(out), encoder="mpeg4")
    p.on_frame(lambda f: None)
    st = p.run()
    assert st.encoder == "mpeg4"
    assert st.frames_encoded == 30
    ffprobe_clean(out)
    assert ffprobe_stream(out, "v:0")["codec_name"] == "mpeg4"
    assert ffprobe_count(out) == 30


def test_unknown_encoder_raises_encoder_error(media, tmp_path):
    out = tmp_path / "x.mp4"
    res = run_py_json(f"""
        import json, vistream as vs
        try:
            p = vs.Player({str(media['noaudio'])!r}, output={str(out)!r}, encoder="no_such_encoder")
            p.on_frame(lambda f: None)
            p.run()
            print(json.dumps({{"exc": None}}))
        except Exception as e:
            print(json.dumps({{"exc": type(e).__name__, "msg": str(e),
                              "is_enc": isinstance(e, vs.EncoderError),
                              "is_base": isinstance(e, vs.VistreamError)}}))
    """)
    assert res["exc"] is not None, "encoder='no_such_encoder' did not raise"
    assert res["is_enc"] and res["is_base"], res
    assert "no_such_encoder" in res["msg"]


def test_player_missing_source(media, tmp_path):
    res = run_py_json(f"""
        import json, vistream as vs
        try:
            p = vs.Player({str(tmp_path / 'missing.mp4')!r}, output={str(tmp_path / 'o.mp4')!r})
            p.run()
            print(json.dumps(None))
        except Exception as e:
            print(json.dumps([type(e).__name__, isinstance(e, vs.SourceNotFoundError),
                              isinstance(e, FileNotFoundError)]))
    """)
    assert res is not None and res[1] and res[2], res


def test_gop_and_crf_options(vs, media, tmp_path, probe_cache):
    src = media["av30"]
    sizes = {}
    for crf in (18, 40):
        out = tmp_path / f"crf{crf}.mp4"
        p = vs.Player(str(src), output=str(out), crf=crf, gop=15, audio=False)
        p.on_frame(lambda f: None)
        p.run()
        ffprobe_clean(out)
        sizes[crf] = out.stat().st_size
        keys = [i for i, k in enumerate(probe_cache(out)["key"]) if k]
        assert keys[:3] == [0, 15, 30] or (keys and max(b - a for a, b in zip(keys, keys[1:])) <= 15), \
            f"gop=15 but keyframes at {keys}"
    assert sizes[18] > sizes[40] * 1.5, f"crf has no effect on size: {sizes}"
