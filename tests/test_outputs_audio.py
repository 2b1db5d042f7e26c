"""The audio encoder follows the output container: sound that cannot be copied is transcoded
to a codec the container takes (AAC where listed, Opus for WebM), never refused at the header."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import vistream


@pytest.fixture(scope="module")
def vp9_aac_clip(tmp_path_factory):
    """2 s of VP9 (160x120, 25 fps) + AAC 44.1 kHz in Matroska: AAC that WebM cannot carry."""
    path = tmp_path_factory.mktemp("vp9aac") / "vp9-aac.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=2", "-f", "lavfi",
                    "-i", "sine=f=440:d=2:sample_rate=44100", "-c:v", "libvpx-vp9", "-deadline", "realtime",
                    "-cpu-used", "8", "-c:a", "aac", str(path)], check=True, timeout=120)
    return path


def audio_streams(path) -> list:
    result = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries",
                             "stream=codec_name,sample_rate,duration:format=duration", "-of", "json", str(path)],
                            capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)["streams"]


def assert_decodes_cleanly(path) -> None:
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0", "-f", "null", "-"],
                             capture_output=True, text=True, timeout=120)
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr


def test_player_webm_output_transcodes_aac_to_opus(vp9_aac_clip, tmp_path):
    output = tmp_path / "out.webm"
    stats = vistream.Player(str(vp9_aac_clip), output=str(output), encoder="libvpx", display=False).run()
    assert stats.audio == "transcode" and stats.frames_encoded == 50
    (audio,) = audio_streams(output)
    assert audio["codec_name"] == "opus" and audio["sample_rate"] == "48000"
    assert_decodes_cleanly(output)
    # The sound lasts as long as the 2 s of pictures (Opus' pre-skip aside).
    duration = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-count_packets", "-show_entries",
                               "stream=nb_read_packets", "-of", "csv=p=0", str(output)],
                              capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert int(duration) * 0.020 == pytest.approx(2.0, abs=0.1)  # 20 ms Opus frames


def test_writer_webm_with_sound_and_mp4_keeps_aac(vp9_aac_clip, tmp_path):
    frame = np.zeros((120, 160, 3), np.uint8)
    webm, mp4 = tmp_path / "w.webm", tmp_path / "w.mp4"
    with vistream.Writer(webm, fps=25, encoder="libvpx", audio=vp9_aac_clip) as writer:
        for _ in range(25):
            writer.write(frame)
    assert writer.stats.audio == "transcode"
    assert [s["codec_name"] for s in audio_streams(webm)] == ["opus"]
    assert_decodes_cleanly(webm)
    with vistream.Writer(mp4, fps=25, audio=vp9_aac_clip) as writer:
        for _ in range(25):
            writer.write(frame)
    assert writer.stats.audio == "copy" and [s["codec_name"] for s in audio_streams(mp4)] == ["aac"]
