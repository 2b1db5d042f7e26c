"""Every output file right (issue 10): odd sizes stay H.264, VP9+Opus into .mov works, rotation
is carried, segmented recordings and HLS play. Inputs are made with ffmpeg's lavfi sources (the
commands are below)."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import time

import pytest

import vistream
from conftest import ffprobe_count, ffprobe_json, ffprobe_stream


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("output-files")
    odd = folder / "odd.mkv"  # lossless FFV1 keeps the odd size (testsrc2 itself makes even ones)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=1", "-vf", "format=yuv444p,crop=319:179:0:0", "-c:v", "ffv1", str(odd))
    vp9 = folder / "vp9.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1",
           "-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus", str(vp9))
    small = folder / "small.mp4"  # 8 s, 240 frames like the test clip, at 320x240 (cheap to re-encode)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=8", "-f", "lavfi", "-i", "sine=d=8",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(small))
    rotated = folder / "rotated.mp4"  # a phone video: stored landscape, shown portrait
    ffmpeg("-i", str(small), "-t", "1", "-c", "copy", "-metadata:s:v", "rotate=90", str(rotated))
    return {"odd": odd, "vp9": vp9, "rotated": rotated, "test": small}


def rotation_of(path) -> float:
    stream = ffprobe_stream(path)
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return float(side["rotation"])
    return 0.0


def test_odd_size_stays_h264_padded_with_a_warning(clips, tmp_path, caplog):
    output = tmp_path / "odd-out.mp4"
    with caplog.at_level(logging.WARNING, logger="vistream.ffmpeg"):
        stats = vistream.Player(str(clips["odd"]), output=str(output)).run()
    assert stats.encoder == "libx264"  # not mpeg4, which an odd size used to fall back to
    stream = ffprobe_stream(output)
    assert stream["codec_name"] == "h264" and (stream["width"], stream["height"]) == (320, 180)
    assert any("319x179 is odd" in r.getMessage() and "320x180" in r.getMessage() for r in caplog.records)
    assert ffprobe_count(output) == 25


def test_writer_odd_size_stays_h264(tmp_path):
    import numpy as np

    output = tmp_path / "odd.mkv"
    with vistream.Writer(output, fps=25) as writer:
        for _ in range(5):
            writer.write(np.full((719, 1279, 3), 128, np.uint8))
    stream = ffprobe_stream(output)
    assert stream["codec_name"] == "h264" and (stream["width"], stream["height"]) == (1280, 720)


def test_vp9_opus_into_mov_picks_an_audio_codec_mov_takes(clips, tmp_path):
    output = tmp_path / "out.mov"
    stats = vistream.Player(str(clips["vp9"]), output=str(output)).run()
    assert stats.audio == "transcode"  # Opus cannot go into .mov: AAC instead
    codecs = {s["codec_type"]: s["codec_name"] for s in ffprobe_json(output, "-show_streams")["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert ffprobe_count(output) == 25
    assert sorted(os.listdir(tmp_path)) == ["out.mov"]  # no 0-byte or partial leftovers


def test_webm_output_gets_codecs_webm_carries(clips, tmp_path):
    # Used to fail at the header ("Only VP8 or VP9 or AV1 video ... are supported for WebM")
    # after the run had started: "auto" now picks the container's codecs.
    output = tmp_path / "out.webm"
    stats = vistream.Player(str(clips["test"]), output=str(output)).run()
    assert stats.encoder == "libvpx-vp9"
    codecs = {s["codec_type"]: s["codec_name"] for s in ffprobe_json(output, "-show_streams")["streams"]}
    assert codecs == {"video": "vp9", "audio": "opus"}
    assert ffprobe_count(output) == 240
    assert sorted(os.listdir(tmp_path)) == ["out.webm"]


def test_writer_webm_and_an_explicit_codec_container_mismatch(tmp_path):
    import numpy as np

    output = tmp_path / "frames.webm"
    with vistream.Writer(output, fps=25) as writer:
        for value in range(0, 250, 25):
            writer.write(np.full((240, 320, 3), value, np.uint8))
    assert ffprobe_stream(output)["codec_name"] == "vp9" and ffprobe_count(output) == 10
    # An encoder the user named is not second-guessed: the container's refusal names it.
    with pytest.raises(vistream.VistreamError, match="WebM"):
        with vistream.Writer(tmp_path / "x264.webm", fps=25, encoder="libx264") as writer:
            writer.write(np.zeros((240, 320, 3), np.uint8))


def displayed_size(path) -> tuple:
    """(width, height) as a player shows the video: stored size turned by the display matrix."""
    stream = ffprobe_stream(path)
    size = (stream["width"], stream["height"])
    return size[::-1] if abs(rotation_of(path)) % 180 == 90 else size


def test_rotation_is_carried_into_outputs(clips, tmp_path):
    assert abs(rotation_of(clips["rotated"])) == 90 and displayed_size(clips["rotated"]) == (240, 320)
    for name in ("rot.mp4", "rot.mov"):
        output = tmp_path / name
        vistream.Player(str(clips["rotated"]), output=str(output), audio=False).run()
        # Plays upright like the source (either the rotation carried, or upright pixels without one).
        assert displayed_size(output) == (240, 320), name
    # Frames turned upright before the encoder (here by a filter; autorotation does the same):
    # the rotation must not be applied a second time.
    upright = tmp_path / "upright.mp4"
    vistream.Player(str(clips["rotated"]), output=str(upright), audio=False, vfilter="transpose=clock").run()
    assert rotation_of(upright) == 0.0
    # An explicit rotation wins.
    explicit = tmp_path / "explicit.mp4"
    vistream.Player(str(clips["test"]), output=str(explicit), end=0.2, rotation=180).run()
    assert abs(rotation_of(explicit)) == 180


def test_segmented_recording_numbered_names_each_playable(clips, tmp_path):
    pattern = tmp_path / "cam-%03d.mp4"
    stats = vistream.Player(str(clips["test"]), output=str(pattern), segment_time=2, gop=30).run()
    assert stats.frames_encoded == 240
    names = sorted(os.listdir(tmp_path))
    assert names == [f"cam-{k:03d}.mp4" for k in range(4)]
    counts = [ffprobe_count(tmp_path / name) for name in names]
    assert sum(counts) == 240 and all(count == 60 for count in counts)
    for name in names:  # each segment starts at 0 and carries the sound
        streams = ffprobe_json(tmp_path / name, "-show_streams")["streams"]
        assert {s["codec_type"] for s in streams} == {"video", "audio"}
        assert float(ffprobe_json(tmp_path / name, "-show_format")["format"]["start_time"]) < 0.1


def test_segmented_recording_strftime_names(clips, tmp_path):
    before = time.strftime("%Y%m%d")
    vistream.Player(str(clips["test"]), output=str(tmp_path / "rec-%Y%m%d-%H%M%S.mkv"), segment_time=60,
                    end=1.0).run()
    (name,) = os.listdir(tmp_path)
    match = re.fullmatch(r"rec-(\d{8})-(\d{6})\.mkv", name)
    assert match and match.group(1) in (before, time.strftime("%Y%m%d"))
    assert ffprobe_count(tmp_path / name) == 30


def test_player_hls_output(clips, tmp_path):
    playlist = tmp_path / "hls" / "index.m3u8"
    playlist.parent.mkdir()
    vistream.Player(str(clips["test"]), output=str(playlist), segment_time=2, gop=30,
                    output_options={"hls_list_size": 0}).run()
    segments = sorted(p for p in os.listdir(playlist.parent) if p.endswith(".ts"))
    assert len(segments) == 4 and all(s in playlist.read_text() for s in segments)
    with vistream.Reader(str(playlist)) as reader:
        assert sum(1 for _ in reader) == 240


def test_unknown_output_names_fail_before_anything_is_written(clips, tmp_path):
    with pytest.raises(ValueError, match="cannot tell the container format"):
        vistream.Player(str(clips["test"]), output=str(tmp_path / "out.unknownext"))
    with pytest.raises(ValueError, match="output_format 'nosuchmuxer'"):
        vistream.Writer(tmp_path / "x.bin", fps=25, size=(64, 48), output_format="nosuchmuxer")
    assert os.listdir(tmp_path) == []


def test_cli_records_a_file_and_a_second_output_in_segments(clips, tmp_path):
    import sys

    first, second = tmp_path / "main.mp4", tmp_path / "part-%02d.ts"
    result = subprocess.run([sys.executable, "-m", "vistream", "play", str(clips["test"]), "--headless", "-q",
                             "--end", "2", "--output", str(first), "--also-output", str(second),
                             "--segment-time", "1", "--gop", "30", "--output-option", "reset_timestamps=1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # --segment-time cuts the output named with a pattern; main.mp4 stays whole.
    assert ffprobe_count(first) == 60
    parts = sorted(n for n in os.listdir(tmp_path) if n.startswith("part-"))
    assert parts == ["part-00.ts", "part-01.ts"]
    assert sum(ffprobe_count(tmp_path / n) for n in parts) == 60


def spliced_sizes(folder):
    """A camera that changes resolution, or a spliced broadcast: two MPEG-TS segments, 64x48 then
    96x64 (10 frames each at 10 fps), one after the other."""
    parts = []
    for number, (size, offset) in enumerate((("64x48", 0), ("96x64", 1))):
        part = folder / f"part{number}.ts"
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10:duration=1", "-c:v", "libx264",
               "-preset", "ultrafast", "-g", "5", "-output_ts_offset", str(offset), "-f", "mpegts", str(part))
        parts.append(part.read_bytes())
    spliced = folder / "spliced.ts"
    spliced.write_bytes(b"".join(parts))
    return spliced


def test_a_source_that_changes_size_keeps_the_outputs_size_scaled_with_a_warning(tmp_path, caplog):
    # The output keeps the first size, as the ffmpeg CLI does; the run used to stop at the first
    # frame of the new size.
    import numpy as np

    spliced = spliced_sizes(tmp_path)
    output = tmp_path / "kept.mkv"
    shown = []
    player = vistream.Player(str(spliced), output=str(output), display=False,
                             encoder="libx264rgb", crf=0)
    player.on_frame(lambda frame: shown.append(frame.array.shape))
    with caplog.at_level(logging.WARNING, logger="vistream.ffmpeg"):
        stats = player.run()
    assert shown == [(48, 64, 3)] * 10 + [(64, 96, 3)] * 10, "the callback gets each frame at its own size"
    assert stats.frames_encoded == 20
    assert "changed size to 96x64; the output stays 64x48" in caplog.text
    assert caplog.text.count("changed size to") == 1, "one warning per new size, not per frame"
    stream = ffprobe_stream(output)
    assert (stream["width"], stream["height"]) == (64, 48) and ffprobe_count(output) == 20
    # the frames after the change are the source's, scaled (not black, not stale)
    with vistream.Reader(spliced) as source, vistream.Reader(output) as kept:
        for original, written in zip(source, kept):
            if original.index < 10:
                assert np.array_equal(original.array, written.array), original.index  # lossless
            else:
                import cv2

                expected = cv2.resize(original.array, (64, 48), interpolation=cv2.INTER_AREA)
                difference = np.abs(expected.astype(int) - written.array.astype(int)).mean()
                assert difference < 12, (original.index, difference)


def test_writer_scales_other_sizes_only_when_asked(tmp_path):
    import numpy as np

    small, large = np.full((48, 64, 3), 200, np.uint8), np.full((64, 96, 3), 50, np.uint8)
    strict = vistream.Writer(tmp_path / "strict.mkv", fps=10)
    strict.write(small)
    with pytest.raises(ValueError, match="96x64; this writer writes 64x48"):
        strict.write(large)
    strict.close()
    with vistream.Writer(tmp_path / "scaled.mkv", fps=10, encoder="libx264rgb", crf=0,
                         scale_other_sizes=True) as writer:
        writer.write(small)
        writer.write(large)
        writer.write(small)
    with vistream.Reader(tmp_path / "scaled.mkv") as reader:
        frames = [frame.array for frame in reader]
    assert [f.shape for f in frames] == [(48, 64, 3)] * 3
    assert [int(f.mean()) for f in frames] == [200, 50, 200], "the large frame is in, scaled"
    with pytest.raises(TypeError, match="scale_other_sizes"):
        vistream.Writer(tmp_path / "x.mkv", fps=10, scale_other_sizes="yes")


def test_multiplayer_output_of_a_source_that_changes_size_keeps_every_frame(tmp_path):
    spliced = spliced_sizes(tmp_path)
    multi = vistream.MultiPlayer([str(spliced)], outputs=str(tmp_path / "multi_{source}.mp4"))
    stats = multi.run()
    assert (stats.sources[0].state, stats.sources[0].frames, stats.sources[0].error) == ("finished", 20, None)
    output = tmp_path / "multi_0.mp4"
    stream = ffprobe_stream(output)
    assert (stream["width"], stream["height"]) == (64, 48) and ffprobe_count(output) == 20
