"""MPEG-4 Part 2 video in an .mp4: what vistream writes when FFmpeg has no libx264 (conda-forge's
LGPL FFmpeg), so a user must be able to open and seek such a file."""
import subprocess
from pathlib import Path

import numpy as np

import vistream


def _mpeg4_mp4(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=320x240:rate=25:duration=2", "-c:v", "mpeg4", "-g", "10",
                    "-q:v", "3", str(path)], check=True)
    return path


def test_mpeg4_mp4_opens_with_its_size_and_seeks(tmp_path):
    # The mov demuxer leaves the size of an mp4v track to the decoder; opening used to fail with
    # "the size of its video stream is unknown" when the frame index re-opened the file.
    clip = _mpeg4_mp4(tmp_path / "mpeg4.mp4")
    with vistream.Reader(str(clip), format="rgb24") as reader:
        assert (reader.info.width, reader.info.height) == (320, 240)
        frames = reader.frames_at([37, 5, 20])
        assert [f.array.shape for f in frames] == [(240, 320, 3)] * 3
    with vistream.Reader(str(clip), format="rgb24") as reader:
        sequential = [np.array(f.array) for f in reader]
    assert len(sequential) == 50
    assert np.array_equal(np.asarray(frames[0].array), sequential[37])
