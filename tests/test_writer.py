"""vistream.Writer: frames from a Reader loop, numpy and DLPack tensors to files (issue 10).

Before this issue there was no Writer: a Reader loop could not write video at all.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import vistream
from conftest import ffprobe_frames, ffprobe_stream


def solid(bgr, size=(160, 96)) -> np.ndarray:
    image = np.empty((size[1], size[0], 3), np.uint8)
    image[:] = bgr
    return image


def frames_of(path):
    with vistream.Reader(str(path)) as reader:
        return [frame.array.copy() for frame in reader]


def test_writer_from_a_reader_loop_keeps_every_frame_and_its_picture(tmp_path, test_mp4):
    output = tmp_path / "copy.mp4"
    with vistream.Reader(str(test_mp4)) as reader:
        with vistream.Writer(output, fps=30) as writer:
            originals = []
            for frame in reader:
                if frame.index >= 45:
                    break
                writer.write(frame)
                originals.append(frame.array.copy())
    assert writer.stats.frames_written == 45
    assert writer.stats.size == (1280, 720) and writer.encoder == writer.stats.encoder
    assert writer.stats.output == str(output)
    stream = ffprobe_stream(output)
    assert stream["codec_name"] == "h264" and (stream["width"], stream["height"]) == (1280, 720)
    written = frames_of(output)
    assert len(written) == 45
    # Re-encoded, so not bit-exact; but frame k is the picture of frame k.
    for k in (0, 22, 44):
        assert np.abs(written[k].astype(int) - originals[k]).mean() < 6
    assert np.abs(written[0].astype(int) - originals[44]).mean() > np.abs(written[44].astype(int) - originals[44]).mean()


def test_numpy_frames_in_bgr_and_rgb_order(tmp_path):
    bgr_path, rgb_path = tmp_path / "bgr.mkv", tmp_path / "rgb.mkv"
    red_in_bgr, red_in_rgb = solid((0, 0, 255)), solid((255, 0, 0))
    with vistream.Writer(bgr_path, fps=25) as writer:
        for _ in range(10):
            writer.write(red_in_bgr)
    with vistream.Writer(rgb_path, fps=25, pixel_format="rgb24") as writer:
        for _ in range(10):
            writer.write(red_in_rgb)
    for path in (bgr_path, rgb_path):
        frames = frames_of(path)  # read back as BGR
        assert len(frames) == 10
        blue, green, red = frames[5].reshape(-1, 3).mean(axis=0)
        assert red > 200 and blue < 40 and green < 40, path


def test_size_from_the_first_frame_and_frame_times(tmp_path):
    output = tmp_path / "t.mp4"
    writer = vistream.Writer(str(output), fps=10)
    assert writer.size is None
    for k in range(20):
        writer.write(solid((k * 10, 0, 0), size=(64, 48)))
    assert writer.size == (64, 48)
    assert writer.close() == str(output)
    times = ffprobe_frames(output)["pts_time"]
    assert len(times) == 20
    assert times[-1] - times[0] == pytest.approx(1.9, abs=0.01)


def test_torch_cpu_tensor_through_dlpack(tmp_path):
    import torch  # scripts/setup.sh installs it (YOLOX): missing is a broken setup, not a skip
    output = tmp_path / "torch.mp4"
    tensor = torch.zeros((96, 160, 3), dtype=torch.uint8)
    tensor[..., 1] = 255  # green in BGR order
    with vistream.Writer(output, fps=25) as writer:
        for _ in range(8):
            assert writer.write(tensor)
    frames = frames_of(output)
    assert len(frames) == 8
    blue, green, red = frames[3].reshape(-1, 3).mean(axis=0)
    assert green > 200 and blue < 40 and red < 40


def test_wrong_frames_raise_typed_errors_and_lose_nothing(tmp_path):
    output = tmp_path / "e.mp4"
    with vistream.Writer(output, fps=25) as writer:
        writer.write(solid((0, 0, 255)))
        with pytest.raises(TypeError, match="uint8"):
            writer.write(np.zeros((96, 160, 3), np.float32))
        with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
            writer.write(np.zeros((96, 160), np.uint8))
        with pytest.raises(ValueError, match="160x96"):
            writer.write(np.zeros((48, 64, 3), np.uint8))
        with pytest.raises(TypeError, match="numpy array"):
            writer.write("not a frame")
        writer.write(solid((0, 0, 255)))
    assert len(frames_of(output)) == 2
    with pytest.raises(ValueError, match="fps"):
        vistream.Writer(tmp_path / "x.mp4", fps=0)
    with pytest.raises(ValueError, match="pixel_format"):
        vistream.Writer(tmp_path / "x.mp4", fps=25, pixel_format="yuv444p")


def test_close_is_idempotent_and_an_error_keeps_the_old_file(tmp_path):
    output = tmp_path / "keep.mp4"
    output.write_bytes(b"an older recording")
    with pytest.raises(RuntimeError):
        with vistream.Writer(output, fps=25) as writer:
            writer.write(solid((0, 0, 255)))
            raise RuntimeError("the loop failed")
    assert output.read_bytes() == b"an older recording"
    partials = [name for name in os.listdir(tmp_path) if ".partial-" in name]
    assert len(partials) == 1 and len(frames_of(tmp_path / partials[0])) == 1
    assert writer.close() == str(tmp_path / partials[0])  # idempotent: same answer
    with pytest.raises(ValueError, match="closed"):
        writer.write(solid((0, 0, 255)))


def test_nothing_written_leaves_no_file(tmp_path):
    output = tmp_path / "empty.mp4"
    with vistream.Writer(output, fps=25, size=(64, 48)):
        pass
    assert os.listdir(tmp_path) == []


def test_times_that_do_not_grow_are_dropped_and_counted(tmp_path):
    output = tmp_path / "guard.mp4"
    with vistream.Writer(output, fps=25) as writer:
        assert writer.write(solid((0, 0, 255)), time=0.0)
        assert writer.write(solid((0, 0, 255)), time=0.04)
        assert not writer.write(solid((0, 0, 255)), time=0.04)  # a repeated timestamp
        assert not writer.write(solid((0, 0, 255)), time=0.02)  # going back
        assert writer.write(solid((0, 0, 255)), time=0.08)
    assert writer.stats.frames_written == 3 and writer.stats.frames_dropped == 2
    times = ffprobe_frames(output)["pts_time"]
    assert times == pytest.approx([0.0, 0.04, 0.08], abs=0.002)


def test_writer_to_several_outputs_and_hls(tmp_path):
    mp4, hls = tmp_path / "a.mp4", tmp_path / "hls" / "live.m3u8"
    hls.parent.mkdir()
    # segment_time would cut every file output; the HLS segment length alone is hls_time.
    with vistream.Writer([mp4, hls], fps=25, gop=25, output_options={"hls_time": 1}) as writer:
        for k in range(75):
            writer.write(solid((0, 0, 255)))
    assert [o.format for o in writer.stats.outputs] == ["mp4", "hls"]
    assert len(frames_of(mp4)) == 75
    segments = sorted(p for p in os.listdir(hls.parent) if p.endswith(".ts"))
    assert len(segments) == 3
    assert all(name in hls.read_text() for name in segments)
    assert len(frames_of(hls)) == 75  # the playlist plays end to end
    for name in segments:
        assert len(frames_of(hls.parent / name)) == 25  # and each segment on its own


def test_audio_of_the_source_goes_along_and_stops_with_the_video(tmp_path, test_mp4):
    output = tmp_path / "with-sound.mp4"
    with vistream.Reader(str(test_mp4)) as reader, vistream.Writer(output, 30, audio=test_mp4) as writer:
        for frame in reader:
            if frame.index >= 90:
                break
            writer.write(frame)
    assert writer.stats.audio == "copy" and writer.stats.frames_written == 90
    audio = ffprobe_stream(output, "a:0")
    assert audio["codec_name"] == "aac"
    assert float(audio["duration"]) == pytest.approx(3.0, abs=0.05)  # cut where the last frame ends
    with pytest.raises(ValueError, match="no audio stream"):
        silent = tmp_path / "silent.mkv"
        with vistream.Writer(silent, 25) as writer:
            writer.write(solid((0, 0, 255)))
        vistream.Writer(tmp_path / "x.mp4", 25, size=(64, 48), audio=silent)
