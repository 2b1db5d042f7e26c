"""Planar frames (yuv420p, nv12): ``frame.array`` and ``frame.planes`` are views of the frame's
own buffer, so a Player callback's edits (in place, or a returned array) reach the output."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ffmpeg_raw_yuv420p

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
    assert stats.frames_encoded == stats.frames_processed > 0
    return stats.frames_encoded


def edit_planes(planes, fmt, index):
    """Writes pattern(index, fmt) through frame.planes instead of frame.array."""
    picture = pattern(index, fmt)
    planes[0][:] = picture[:H]
    chroma = picture[H:].reshape(-1)
    if fmt == "yuv420p":
        planes[1][:] = chroma[:H * W // 4].reshape(H // 2, W // 2)
        planes[2][:] = chroma[H * W // 4:].reshape(H // 2, W // 2)
    else:
        planes[1][:] = chroma.reshape(H // 2, W // 2, 2)


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12"])
def test_in_place_edits_reach_output(vs, media, tmp_path, fmt):
    """Frames 0, 4, 8.. edited through frame.array, 1, 5, 9.. through frame.planes, the rest
    untouched: the file holds exactly that."""
    out = tmp_path / f"edited_{fmt}.mp4"
    original = ffmpeg_raw_yuv420p(media["noaudio"])

    def draw(frame):
        if frame.index % 4 == 0:
            frame.array[:] = pattern(frame.index, fmt)
        elif frame.index % 4 == 1:
            edit_planes(frame.planes, fmt, frame.index)

    n = encode(vs, media["noaudio"], out, fmt, draw)
    written = ffmpeg_raw_yuv420p(out)
    assert len(written) == n == len(original)
    for i in range(n):
        if i % 4 in (0, 1):
            how = "array" if i % 4 == 0 else "planes"
            assert np.array_equal(written[i], i420_of(pattern(i, fmt), fmt)), f"frame {i}: {how} edit lost"
        else:
            assert np.array_equal(written[i], original[i]), f"frame {i}: untouched frame changed"


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
    """frame.array is a view of the same memory as frame.planes; writing a frame's views never
    reaches another frame (decoder reference pictures are copied before they are handed out)."""
    ref = ffmpeg_raw_yuv420p(media["bframes"])
    kept = []
    with vs.Reader(media["bframes"], format=fmt) as r:
        for frame in r:
            array, planes = frame.array, frame.planes
            assert array.shape == (H * 3 // 2, W)
            assert np.shares_memory(array, planes[0])
            assert all(np.shares_memory(array, p) for p in planes)
            assert array is frame.array and np.shares_memory(np.asarray(frame), array)
            # the view shows this frame's decoded picture, untouched by the writes to earlier ones
            assert np.array_equal(i420_of(array, fmt), ref[frame.index]), f"frame {frame.index}"
            planes[0][0, :4] = (1, 2, 3, 4)
            assert tuple(array[0, :4]) == (1, 2, 3, 4)
            array[H, 0] = 99  # first chroma byte: U (yuv420p) or the first U of the UV pairs
            first_chroma = planes[1][0, 0] if fmt == "yuv420p" else planes[1][0, 0, 0]
            assert first_chroma == 99
            array[1:8] = 255
            kept.append((frame, array.copy()))
    assert len(kept) == len(ref)
    for frame, copy in kept:  # held frames keep their own pixels after decoding went on
        assert np.array_equal(frame.array, copy), f"frame {frame.index} changed after it was returned"

    # Odd sizes have no stacked layout: .array says so clearly, .planes are still writable views.
    with vs.Reader(media["odd"], format=fmt) as r:  # 1279x719
        frame = next(r)
        with pytest.raises(ValueError, match="even width and height"):
            frame.array
        frame.planes[0][:] = 0
        assert frame.planes[0].shape == (719, 1279) and (frame.planes[0] == 0).all()
