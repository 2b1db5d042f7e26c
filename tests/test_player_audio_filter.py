"""Output audio through an FFmpeg audio filter (decode -> afilter -> AAC) keeps duration and applies the filter."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest


def pcm(path, seconds):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-t", str(seconds), "-map", "a:0",
                          "-f", "s16le", "-ac", "1", "-ar", "48000", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.int16).astype(np.float64)


def test_afilter_volume_halves_output_audio(vs, test_mp4, tmp_path):
    out = tmp_path / "quiet.mp4"
    stats = vs.Player(test_mp4, output=str(out), afilter="volume=0.5", end=3.0).run()
    assert stats.audio == "transcode"
    source, result = pcm(test_mp4, 2.5), pcm(out, 2.5)
    assert abs(len(result) - len(source)) < 48000 * 0.05
    ratio = np.sqrt(np.mean(result ** 2)) / np.sqrt(np.mean(source ** 2))
    assert ratio == pytest.approx(0.5, abs=0.05)


def test_bad_afilter_is_a_filter_error(vs, test_mp4, tmp_path):
    player = vs.Player(test_mp4, output=str(tmp_path / "x.mp4"), afilter="nosuchaudiofilter", end=1.0)
    with pytest.raises(vs.FilterError, match="nosuchaudiofilter"):
        player.run()
    # a failed run finalizes what it wrote beside x.mp4 (x.mp4 itself is only ever a finished run's)
    assert not (tmp_path / "x.mp4").exists() and Path(player.stats.output).is_file()
