"""Planar frames (yuv420p, nv12): ``frame.array`` and ``frame.planes`` are views of the frame's
own buffer, so a Player callback's edits (in place, or a returned array) reach the output."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from conftest import ffmpeg_raw_yuv420p, mean_abs_diff

H, W = 240, 320  # the generated clips


def i420_of(array: np.ndarray, fmt: str) -> np.ndarray:
    """The stacked (H*3/2, W) picture of ``fmt`` rearranged as I420 (what ffmpeg decodes to)."""
    if fmt == "yuv420p":
        return array.copy()
    uv = array[H:].reshape(H // 2, W // 2, 2)
    return np.concatenate([array[:H].reshape(-1), uv[..., 0].reshape(-1),
                           uv[..., 1].reshape(-1)]).reshape(H * 3 // 2, W)


def pattern(index: int, fmt: str) -> np.ndarray:
    """A picture no decoder produces by itself: luma ramps, flat chroma that differs per plane."""
    y = ((np.arange(H)[:, None] + np.arange(W)[None, :] + 7 * index) % 220 + 16).astype(np.uint8)
    u = np.full((H // 2, W // 2), 60, np.uint8)
    v = np.full((H // 2, W // 2), 190, np.uint8)
    if fmt == "yuv420p":
        chroma = np.concatenate([u.reshape(-1), v.reshape(-1)])
    else:
        chroma = np.stack([u, v], axis=-1).reshape(-1)
    return np.concatenate([y.reshape(-1), chroma]).reshape(H * 3 // 2, W)


def encode(vs, source, output, fmt, callback):
    # crf 0 is lossless in libx264, so the file must hold exactly what the callback wrote.
    p = vs.Player(source, output=output, format=fmt, encoder="libx264", crf=0, preset="ultrafast",
                  audio=False, display=False)
    p.on_frame(callback)
    stats = p.run()
    assert stats["frames_encoded"] == stats["frames_processed"] > 0
    return stats["frames_encoded"]


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12"])
def test_in_place_edit_of_array_reaches_output(vs, media, tmp_path, fmt):
    out = tmp_path / f"edited_{fmt}.mp4"
    original = ffmpeg_raw_yuv420p(media["noaudio"])

    def draw(frame):
        if frame.index % 2 == 0:  # odd frames pass untouched: both paths are checked
            frame.array[:] = pattern(frame.index, fmt)

    n = encode(vs, media["noaudio"], out, fmt, draw)
    written = ffmpeg_raw_yuv420p(out)
    assert len(written) == n == len(original)
    for i in range(n):
        if i % 2 == 0:
            assert np.array_equal(written[i], i420_of(pattern(i, fmt), fmt)), f"frame {i}: edit lost"
        else:
            assert np.array_equal(written[i], original[i]), f"frame {i}: untouched frame changed"


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12"])
def test_edit_through_planes_reaches_output(vs, media, tmp_path, fmt):
    out = tmp_path / f"planes_{fmt}.mp4"

    def draw(frame):
        planes = frame.planes
        planes[0][:] = 50                 # luma
        if fmt == "yuv420p":
            planes[1][:] = 70
            planes[2][:] = 200
        else:
            planes[1][..., 0] = 70        # interleaved U
            planes[1][..., 1] = 200       # interleaved V

    encode(vs, media["noaudio"], out, fmt, draw)
    written = ffmpeg_raw_yuv420p(out)
    assert (written[:, :H] == 50).all()
    assert (written[:, H:H + H // 4] == 70).all()
    assert (written[:, H + H // 4:] == 200).all()


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12"])
def test_returned_array_replaces_pixels(vs, media, tmp_path, fmt):
    out = tmp_path / f"returned_{fmt}.mp4"
    seen_after = []

    def replace(frame):
        new = pattern(frame.index, fmt)
        seen_after.append(frame)  # checked below: the frame itself now holds the returned pixels
        return new

    n = encode(vs, media["noaudio"], out, fmt, replace)
    written = ffmpeg_raw_yuv420p(out)
    assert len(written) == n
    for i in range(n):
        assert np.array_equal(written[i], i420_of(pattern(i, fmt), fmt)), f"frame {i}"
    for frame in seen_after[:5]:
        assert np.array_equal(frame.array, pattern(frame.index, fmt))


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12"])
def test_array_and_planes_share_the_frame_buffer(vs, media, fmt):
    ref = ffmpeg_raw_yuv420p(media["bframes"])
    with vs.Reader(media["bframes"], format=fmt) as r:
        for frame in r:
            array, planes = frame.array, frame.planes
            assert array.shape == (H * 3 // 2, W)
            assert np.shares_memory(array, planes[0])
            assert all(np.shares_memory(array, p) for p in planes)
            assert array is frame.array and np.shares_memory(np.asarray(frame), array)
            # the view shows the decoded picture (not zeros or a stale copy)
            assert np.array_equal(i420_of(array, fmt), ref[frame.index])
            planes[0][0, :4] = (1, 2, 3, 4)
            assert tuple(array[0, :4]) == (1, 2, 3, 4)
            array[H, 0] = 99  # first chroma byte: U (yuv420p) or the first U of the UV pairs
            first_chroma = planes[1][0, 0] if fmt == "yuv420p" else planes[1][0, 0, 0]
            assert first_chroma == 99
            if frame.index >= 12:
                break


def test_held_planar_frames_keep_their_own_pixels(vs, media):
    """Decoder reference pictures are copied before they are handed out writable: editing one
    frame never changes another, and later decoding never changes a kept frame."""
    kept = []
    with vs.Reader(media["bframes"], format="yuv420p") as r:
        for frame in r:
            kept.append((frame, frame.array.copy()))
            frame.array[:8] = 255  # would corrupt later frames if it wrote into a reference picture
            if len(kept) == 20:
                break
        ref = ffmpeg_raw_yuv420p(media["bframes"])
        for frame in r:  # keep decoding while the first ones are held
            assert np.array_equal(frame.array, ref[frame.index]), f"frame {frame.index} corrupted"
    for frame, copy in kept:
        assert np.array_equal(frame.array[8:], copy[8:])
        assert (frame.array[:8] == 255).all()


def test_odd_size_planar_array_is_a_clear_error_and_planes_still_work(vs, media):
    with vs.Reader(media["odd"], format="yuv420p") as r:  # 1279x719: no stacked layout exists
        frame = next(r)
        with pytest.raises(ValueError, match="even width and height"):
            frame.array
        y, u, v = frame.planes
        assert y.shape == (719, 1279) and u.shape == (360, 640) and v.shape == (360, 640)
        y[:] = 0
        assert (frame.planes[0] == 0).all()


def test_bgr24_stays_zero_copy_after_a_planar_edit(vs, media):
    """The stacked re-layout is for yuv420p/nv12 only: packed frames keep the converter's buffer."""
    with vs.Reader(media["bframes"]) as r:
        frame = next(r)
        a = frame.array
        assert a.shape == (H, W, 3)
        assert np.shares_memory(a, np.from_dlpack(frame))
        a[0, 0] = (1, 2, 3)
        assert tuple(np.asarray(frame)[0, 0]) == (1, 2, 3)
        assert mean_abs_diff(a[1:], frame.array[1:]) == 0
