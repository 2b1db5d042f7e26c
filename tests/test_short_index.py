"""A frame index shorter than the stream (issue 10: bit-flipped files).

One flipped bit in an mp4's composition offsets (ctts) gives a frame the pts of a frame 16 later:
two packets share a pts, so the frame index (one entry per distinct pts) lists fewer frames than
the stream decodes. Reading such a file must not yield duplicate or decreasing indexes, and a
Player recording it must write every frame instead of dropping all the frames that follow the
damaged one (their timestamps then look like they go backward).
"""

from __future__ import annotations

import struct
import subprocess

import pytest

SAMPLE_TO_DAMAGE = 12
FLIPPED_BIT = 13  # + 8192 ticks = 16 frames at the 1/15360 time base of a 30 fps mp4


def _flip_ctts_bit(data: bytearray, sample: int, bit: int) -> None:
    """Flips `bit` of the composition offset of the ctts entry that holds `sample`."""
    at = data.find(b"ctts")
    assert at > 0, "the clip has no ctts box (no B-frames?)"
    entries = struct.unpack(">I", data[at + 8:at + 12])[0]
    covered = 0
    for entry in range(entries):
        offset_at = at + 12 + entry * 8
        count = struct.unpack(">I", data[offset_at:offset_at + 4])[0]
        if covered + count > sample:
            value = struct.unpack(">I", data[offset_at + 4:offset_at + 8])[0]
            data[offset_at + 4:offset_at + 8] = struct.pack(">I", value ^ (1 << bit))
            return
        covered += count
    raise AssertionError("sample beyond the ctts table")


@pytest.fixture(scope="module")
def short_index_clip(tmp_path_factory):
    directory = tmp_path_factory.mktemp("short_index")
    clean = directory / "clean.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=160x120:rate=30:duration=3", "-c:v", "libx264", "-preset", "veryfast",
                    "-threads", "1", "-bf", "2", "-g", "30", "-pix_fmt", "yuv420p", "-an", str(clean)],
                   check=True, capture_output=True)
    data = bytearray(clean.read_bytes())
    _flip_ctts_bit(data, SAMPLE_TO_DAMAGE, FLIPPED_BIT)
    damaged = directory / "ctts-bit-flipped.mp4"
    damaged.write_bytes(bytes(data))
    return damaged


def _decoded_frame_count(path) -> int:
    """Frames FFmpeg itself decodes from the file (every packet is a frame here)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


def test_the_damaged_clip_has_a_short_index(vs, short_index_clip):
    with vs.Reader(short_index_clip) as reader:
        assert len(reader) < _decoded_frame_count(short_index_clip) == 90


def test_frames_past_a_short_index_keep_coming_with_increasing_indexes(vs, short_index_clip):
    with vs.Reader(short_index_clip) as reader:
        frames = [(frame.index, frame.time) for frame in reader]
    assert len(frames) == _decoded_frame_count(short_index_clip)
    indexes = [index for index, _ in frames]
    times = [time for _, time in frames]
    assert all(a < b for a, b in zip(indexes, indexes[1:])), indexes
    assert all(a < b for a, b in zip(times, times[1:])), times


def test_a_player_records_every_frame_of_a_short_index_clip(vs, short_index_clip, tmp_path):
    output = tmp_path / "out.mp4"
    player = vs.Player(str(short_index_clip), output=str(output), display=False)
    seen = []
    player.on_frame(lambda frame: seen.append(frame.index))
    player.run()
    assert len(seen) == _decoded_frame_count(short_index_clip)
    assert all(a < b for a, b in zip(seen, seen[1:])), seen
    assert _decoded_frame_count(output) == len(seen)
