"""Reader: frame counts, timestamps, MediaInfo, pixel formats, filters, pixel accuracy."""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import (TEST_MP4_FRAMES, ffmpeg_raw, ffmpeg_raw_bgr, ffmpeg_raw_yuv420p,
                      ffprobe_format, ffprobe_stream, frame_hash, mean_abs_diff, run_py_json)

# Video clips every decoding test runs on ("test" = the 1280x720 street clip, python/test.mp4).
VIDEO_CLIPS = ["test", "bframes", "opengop", "hevc", "vp9", "mpeg2", "mpeg4", "odd",
               "noaudio", "vfr", "rotated"]
# Containers with a complete sample index: the frame count must be exact there.
INDEXED = {"test", "bframes", "hevc", "odd", "noaudio", "vfr", "rotated"}


@pytest.fixture
def clip(request, media, test_mp4):
    name = request.param
    return test_mp4 if name == "test" else media[name]


def _meta(reader):
    """Iterate a reader keeping only metadata (cheap even for 720p)."""
    out = []
    for fr in reader:
        out.append((fr.index, fr.pts, fr.time, fr.revisit, fr.array.shape))
    return out


# ----------------------------------------------------------------------------- counts / timestamps

@pytest.mark.parametrize("clip", VIDEO_CLIPS, indirect=True)
def test_frame_count_matches_ffprobe(vs, clip, probe_cache):
    truth = probe_cache(clip)
    with vs.Reader(clip) as r:
        meta = _meta(r)
        stats = r.stats
    assert len(meta) == truth["count"], f"decoded {len(meta)} frames, ffprobe counts {truth['count']}"
    assert [m[0] for m in meta] == list(range(truth["count"])), "indices must be 0..N-1 in order"
    assert not any(m[3] for m in meta), "Frame.revisit must be False"
    assert stats.frames_decoded == truth["count"]
    assert isinstance(stats.decode_errors, int)


def test_test_mp4_frame_count(vs, test_mp4, probe_cache):
    # 241 packets, the last flagged discard: 240 frames (see conftest.TEST_MP4_FRAMES)
    assert probe_cache(test_mp4)["count"] == TEST_MP4_FRAMES
    with vs.Reader(test_mp4) as r:
        assert len(r) == TEST_MP4_FRAMES
        assert r.info.frame_count == TEST_MP4_FRAMES
        assert r.info.frame_count_exact is True
        n = sum(1 for _ in r)
    assert n == TEST_MP4_FRAMES


@pytest.mark.parametrize("clip", VIDEO_CLIPS, indirect=True)
def test_info_frame_count(vs, clip, probe_cache, request):
    truth = probe_cache(clip)["count"]
    name = request.node.callspec.params["clip"]
    with vs.Reader(clip) as r:
        info = r.info
        n = len(r)
        info_after = r.info
    assert isinstance(info.frame_count, int)
    assert n == info_after.frame_count, "len(reader) must equal info.frame_count"
    if info_after.frame_count_exact:
        assert n == truth
    if name in INDEXED:
        assert info.frame_count_exact is True, f"{name}: mp4/mov sample tables give an exact count"
    if info.frame_count_exact:
        assert info.frame_count == truth
    else:
        assert abs(info.frame_count - truth) <= max(2, truth // 10), (info.frame_count, truth)


@pytest.mark.parametrize("clip", VIDEO_CLIPS, indirect=True)
def test_pts_and_time_match_ffprobe(vs, clip, probe_cache):
    truth = probe_cache(clip)
    with vs.Reader(clip) as r:
        meta = _meta(r)
        tb = r.info.time_base
    pts = [m[1] for m in meta]
    times = [m[2] for m in meta]
    assert len(pts) == len(truth["pts"])
    assert all(b > a for a, b in zip(pts, pts[1:])), "pts must be strictly increasing"
    assert all(b > a for a, b in zip(times, times[1:])), "time must be strictly increasing"
    assert pts == truth["pts"], "pts must be the stream-time-base pts ffprobe reports"
    for i, (t, ref) in enumerate(zip(times, truth["pts_time"])):
        assert abs(t - ref) <= 1e-3, f"frame {i}: time {t} vs ffprobe pts_time {ref}"
    for i, (p, t) in enumerate(zip(pts, times)):
        assert abs(float(p * tb) - t) <= 1e-6, f"frame {i}: time != pts*time_base"


def test_time_base_matches_ffprobe(vs, test_mp4, media):
    for path in (test_mp4, media["bframes"], media["mpeg2"], media["opengop"]):
        st = ffprobe_stream(path)
        with vs.Reader(path) as r:
            tb = r.info.time_base
        assert isinstance(tb, Fraction)
        assert tb == Fraction(st["time_base"]), path.name


# ----------------------------------------------------------------------------- MediaInfo

def test_info_test_mp4(vs, test_mp4):
    fmt = ffprobe_format(test_mp4)
    with vs.Reader(test_mp4) as r:
        info = r.info
    assert (info.width, info.height) == (1280, 720)
    assert isinstance(info.fps, float)
    assert abs(info.fps - 30.0) < 0.15
    assert isinstance(info.fps_fraction, Fraction)
    assert abs(float(info.fps_fraction) - info.fps) < 1e-3
    assert info.codec == "h264"
    assert info.pixel_format == "yuv420p"
    assert info.has_audio is True
    assert info.audio_sample_rate == 48000
    assert info.audio_channels == 2
    assert info.audio_codec == "aac"
    assert abs(info.duration - float(fmt["duration"])) < 0.1
    assert info.time_base == Fraction(1, 14848)
    assert info.rotation == 0
    assert info.hwaccel == "none"


# name -> (codec, pixel_format, (w, h), has_audio, audio_codec, sample_rate, channels, duration)
GEN_INFO = {
    "bframes": ("h264", "yuv420p", (320, 240), True, "aac", 44100, 2, 2.0),
    "opengop": ("h264", "yuv420p", (320, 240), False, None, 0, 0, 3.0),
    "hevc": ("hevc", "yuv420p", (320, 240), True, "aac", 44100, 1, 1.0),
    "vp9": ("vp9", "yuv420p", (320, 240), True, "opus", 48000, 1, 1.0),
    "mpeg2": ("mpeg2video", "yuv420p", (320, 240), True, "mp2", 48000, 1, 1.0),
    "mpeg4": ("mpeg4", "yuv420p", (320, 240), True, "pcm_s16le", 44100, 1, 1.0),
    "odd": ("h264", "yuv444p", (1279, 719), False, None, 0, 0, 1.0),
    "noaudio": ("h264", "yuv420p", (320, 240), False, None, 0, 0, 1.0),
}


@pytest.mark.parametrize("name", sorted(GEN_INFO))
def test_info_generated(vs, media, name):
    codec, pix, size, has_audio, acodec, sr, ch, dur = GEN_INFO[name]
    with vs.Reader(media[name]) as r:
        info = r.info
        first = next(iter(r))
    assert info.codec == codec
    assert info.pixel_format == pix
    assert (info.width, info.height) == size
    assert first.array.shape[:2] == (size[1], size[0])
    assert (first.width, first.height) == size
    assert abs(info.fps - 30.0) < 0.01, info.fps
    assert info.fps_fraction == Fraction(30, 1)
    assert info.has_audio is has_audio
    assert info.audio_codec == acodec
    assert info.audio_sample_rate == sr
    assert info.audio_channels == ch
    assert abs(info.duration - dur) < 0.15, info.duration
    assert info.rotation == 0


def test_info_vfr(vs, media, probe_cache):
    truth = probe_cache(media["vfr"])
    with vs.Reader(media["vfr"]) as r:
        info = r.info
        times = [f.time for f in r]
    steps = np.diff(times)
    # the clip really is VFR: 1/30 s steps then 1/10 s steps
    assert steps.min() < 0.04 and steps.max() > 0.09
    assert info.frame_count == truth["count"]
    assert abs(info.duration - 1.9) < 0.15
    assert info.fps > 0


def test_rotation_metadata(vs, media):
    with vs.Reader(media["rotated"]) as r:
        info = r.info
        fr = next(iter(r))
    assert isinstance(info.rotation, float)
    assert round(info.rotation) % 360 in (90, 270), info.rotation
    # whatever the engine does about rotation, info must describe the frames it yields
    assert fr.array.shape[:2] == (info.height, info.width)
    with vs.Reader(media["noaudio"]) as r:
        assert r.info.rotation == 0


# ----------------------------------------------------------------------------- formats

EXPECTED_SHAPE = {
    "bgr24": lambda h, w: (h, w, 3),
    "rgb24": lambda h, w: (h, w, 3),
    "rgba": lambda h, w: (h, w, 4),
    "bgra": lambda h, w: (h, w, 4),
    "gray": lambda h, w: (h, w),
    "yuv420p": lambda h, w: (h * 3 // 2, w),
    "nv12": lambda h, w: (h * 3 // 2, w),
}


@pytest.mark.parametrize("fmt", sorted(EXPECTED_SHAPE))
def test_format_shapes(vs, media, fmt):
    with vs.Reader(media["bframes"], format=fmt) as r:
        frames = []
        for fr in r:
            frames.append(fr)
            if len(frames) == 3:
                break
    for fr in frames:
        a = fr.array
        assert isinstance(a, np.ndarray)
        assert a.dtype == np.uint8
        assert a.shape == EXPECTED_SHAPE[fmt](240, 320)
        assert fr.format == fmt
        assert (fr.width, fr.height) == (320, 240)
        if fmt in ("yuv420p", "nv12"):
            planes = fr.planes
            assert sum(p.size for p in planes) == 320 * 240 * 3 // 2
            assert planes[0].shape == (240, 320)
        else:
            assert a.flags.writeable


def _first_n(vs, path, n, **kw):
    out = []
    with vs.Reader(path, **kw) as r:
        for fr in r:
            out.append(fr.array.copy())
            if len(out) == n:
                break
    return np.stack(out)


def test_rgb_is_channel_swapped_bgr(vs, media):
    bgr = _first_n(vs, media["bframes"], 10)
    rgb = _first_n(vs, media["bframes"], 10, format="rgb24")
    assert mean_abs_diff(rgb[..., ::-1], bgr) <= 0.5
    assert mean_abs_diff(rgb, bgr) > 5, "rgb24 and bgr24 must differ on a colourful clip"


def test_rgba_bgra_alpha_and_colour(vs, media):
    bgr = _first_n(vs, media["bframes"], 5)
    rgba = _first_n(vs, media["bframes"], 5, format="rgba")
    bgra = _first_n(vs, media["bframes"], 5, format="bgra")
    assert (rgba[..., 3] == 255).all()
    assert (bgra[..., 3] == 255).all()
    assert mean_abs_diff(bgra[..., :3], bgr) <= 0.5
    assert mean_abs_diff(rgba[..., 2::-1], bgr) <= 0.5


def test_gray_matches_ffmpeg(vs, media):
    gray = _first_n(vs, media["bframes"], 60, format="gray")
    ref = ffmpeg_raw(media["bframes"], "gray")
    assert gray.shape == ref.shape
    for i in range(len(ref)):
        assert mean_abs_diff(gray[i], ref[i]) <= 1.0, i


def test_yuv420p_is_exact_decoder_output(vs, media):
    ref = ffmpeg_raw_yuv420p(media["bframes"])  # (N, H*3/2, W) I420
    h, w = 240, 320
    with vs.Reader(media["bframes"], format="yuv420p") as r:
        n = 0
        for fr in r:
            a = fr.array
            assert a.shape == (h * 3 // 2, w)
            assert np.array_equal(a, ref[fr.index]), f"frame {fr.index}: I420 differs from ffmpeg"
            y, u, v = fr.planes
            assert y.shape == (h, w) and u.shape == (h // 2, w // 2) and v.shape == (h // 2, w // 2)
            assert np.array_equal(y, ref[fr.index][:h])
            assert np.array_equal(u.reshape(-1), ref[fr.index][h:h + h // 4].reshape(-1))
            assert np.array_equal(v.reshape(-1), ref[fr.index][h + h // 4:].reshape(-1))
            n += 1
    assert n == len(ref)


def test_nv12_layout(vs, media):
    ref = ffmpeg_raw_yuv420p(media["bframes"])
    h, w = 240, 320
    with vs.Reader(media["bframes"], format="nv12") as r:
        for fr in r:
            a = fr.array
            i420 = ref[fr.index]
            assert a.shape == (h * 3 // 2, w)
            assert np.array_equal(a[:h], i420[:h]), "NV12 Y plane must equal decoder Y"
            uv = a[h:].reshape(h // 2, w // 2, 2)
            assert np.array_equal(uv[..., 0].reshape(-1), i420[h:h + h // 4].reshape(-1)), "U"
            assert np.array_equal(uv[..., 1].reshape(-1), i420[h + h // 4:].reshape(-1)), "V"
            y = fr.planes[0]
            assert np.array_equal(y, i420[:h])
            if fr.index >= 10:
                break


def test_odd_size_formats(vs, media, probe_cache):
    path = media["odd"]
    n = probe_cache(path)["count"]
    ref = ffmpeg_raw_bgr(path)
    assert ref.shape == (n, 719, 1279, 3)
    with vs.Reader(path) as r:
        assert (r.info.width, r.info.height) == (1279, 719)
        k = 0
        for fr in r:
            assert fr.array.shape == (719, 1279, 3)
            d = mean_abs_diff(fr.array, ref[fr.index])
            assert d <= 1.0, f"odd-size frame {fr.index}: mean abs diff {d:.2f} vs ffmpeg"
            k += 1
    assert k == n
    g = _first_n(vs, path, 2, format="gray")
    assert g.shape == (2, 719, 1279)
    gref = ffmpeg_raw(path, "gray", frames=2)
    assert mean_abs_diff(g, gref) <= 1.0
    rgba = _first_n(vs, path, 2, format="rgba")
    assert rgba.shape == (2, 719, 1279, 4)
    assert mean_abs_diff(rgba[..., 2::-1], ref[:2]) <= 1.0


# ----------------------------------------------------------------------------- vfilter

def test_vfilter_scale_changes_shape(vs, media, probe_cache):
    n = probe_cache(media["bframes"])["count"]
    with vs.Reader(media["bframes"], vfilter="scale=320:180") as r:
        assert (r.info.width, r.info.height) == (320, 180)
        shapes = {fr.array.shape for fr in r}
        assert r.stats.frames_decoded == n
    assert shapes == {(180, 320, 3)}


def test_vfilter_scale_test_mp4(vs, test_mp4):
    with vs.Reader(test_mp4, vfilter="scale=320:180") as r:
        assert (r.info.width, r.info.height) == (320, 180)
        count = 0
        for fr in r:
            assert fr.array.shape == (180, 320, 3)
            count += 1
    assert count == TEST_MP4_FRAMES


def test_vfilter_hflip_matches_numpy_flip(vs, media):
    plain = _first_n(vs, media["bframes"], 60)
    flipped = _first_n(vs, media["bframes"], 60, vfilter="hflip")
    assert flipped.shape == plain.shape
    assert mean_abs_diff(flipped, plain) > 10, "hflip had no visible effect"
    for i in range(len(plain)):
        d = mean_abs_diff(flipped[i], np.flip(plain[i], axis=1))
        assert d <= 1.0, f"frame {i}: hflip vs np.flip mean abs diff {d:.2f}"


def test_vfilter_with_gray_format(vs, media):
    g = _first_n(vs, media["bframes"], 3, format="gray", vfilter="scale=160:120")
    assert g.shape == (3, 120, 160)


# ----------------------------------------------------------------------------- pixel accuracy

def test_pixels_test_mp4_first_30(vs, test_mp4):
    ref = ffmpeg_raw_bgr(test_mp4, frames=30)
    assert ref.shape == (30, 720, 1280, 3)
    with vs.Reader(test_mp4) as r:
        for fr in r:
            d = mean_abs_diff(fr.array, ref[fr.index])
            assert d <= 1.0, f"test.mp4 frame {fr.index}: mean abs diff {d:.2f} vs ffmpeg"
            if fr.index == 29:
                break


@pytest.mark.parametrize("name", ["bframes", "opengop", "hevc", "vp9", "mpeg2", "mpeg4",
                                  "noaudio", "vfr"])
def test_pixels_generated_all_frames(vs, media, name):
    ref = ffmpeg_raw_bgr(media[name])
    with vs.Reader(media[name]) as r:
        n = 0
        for fr in r:
            assert fr.index == n
            assert fr.array.shape == ref.shape[1:]
            d = mean_abs_diff(fr.array, ref[n])
            assert d <= 1.0, f"{name} frame {n}: mean abs diff {d:.2f} vs ffmpeg"
            n += 1
    assert n == len(ref)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_setting_gives_same_frames(vs, media, threads):
    ref = [frame_hash(a) for a in _first_n(vs, media["bframes"], 60)]
    got = [frame_hash(a) for a in _first_n(vs, media["bframes"], 60, threads=threads)]
    assert got == ref


# ----------------------------------------------------------------------------- lifecycle

def test_context_manager_and_pathlike(vs, media):
    p = media["noaudio"]
    with vs.Reader(Path(p)) as r:
        assert isinstance(r, vs.Reader)
        a = [fr.index for fr in r]
    with vs.Reader(str(p)) as r2:
        b = [fr.index for fr in r2]
    assert a == b == list(range(30))


def test_close_is_idempotent_and_blocks_reading(media):
    res = run_py_json(f"""
        import json, vistream as vs
        r = vs.Reader({str(media['noaudio'])!r})
        it = iter(r)
        f0 = next(it)
        saved = f0.array.copy()
        r.close()
        r.close()           # second close must be harmless
        out = {{"after_close": None}}
        try:
            nxt = next(it)
            out["after_close"] = "frame"
        except StopIteration:
            out["after_close"] = "StopIteration"
        except Exception as e:
            out["after_close"] = "exc:" + type(e).__name__
        out["frame_kept"] = bool((f0.array == saved).all())
        print(json.dumps(out))
    """)
    assert res["after_close"] != "frame", "a closed reader must not keep decoding"
    assert res["frame_kept"]


def test_with_block_closes(media):
    res = run_py_json(f"""
        import json, vistream as vs
        with vs.Reader({str(media['noaudio'])!r}) as r:
            it = iter(r)
            next(it)
        try:
            next(it)
            out = "frame"
        except StopIteration:
            out = "StopIteration"
        except Exception as e:
            out = "exc:" + type(e).__name__
        print(json.dumps(out))
    """)
    assert res != "frame", "leaving the with block must close the reader"
