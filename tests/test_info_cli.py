"""`vistream info FILE|URL`: the friendly ffprobe (text and --json), on the street clip, media
generated here with known properties, a URL served on 127.0.0.1, and the mistakes users make."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from live_servers import HttpServer

FFMPEG = ["ffmpeg", "-nostdin", "-v", "error", "-y"]


def vistream_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vistream", *args], capture_output=True, text=True,
                          timeout=timeout)


def info_json(*args: str) -> dict:
    result = vistream_cli("info", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def known_media(tmp_path_factory) -> dict:
    """Clips whose every property is set by the generating command (recorded here):

    gop12_rot90.mp4: ffmpeg -f lavfi -i testsrc2=size=640x360:rate=25:duration=4
                     -f lavfi -i sine=frequency=440:sample_rate=22050:duration=4 -ac 1
                     -c:v libx264 -g 12 -keyint_min 12 -sc_threshold 0 -bf 0 -c:a aac
                     then -metadata:s:v rotate=90 -c copy -movflags +faststart (Debian's ffmpeg 5.1 has no
                     -display_rotation; faststart because the test HTTP server cannot serve ranges)
    ntsc_silent.mkv: ffmpeg -f lavfi -i testsrc2=size=320x240:rate=30000/1001:duration=3
                     -c:v mpeg4 -g 45 (no audio)
    """
    folder = tmp_path_factory.mktemp("info-media")
    plain = folder / "gop12.mp4"
    subprocess.run(FFMPEG + ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=4",
                             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=4", "-ac", "1",
                             "-c:v", "libx264", "-g", "12", "-keyint_min", "12", "-sc_threshold", "0", "-bf", "0",
                             "-c:a", "aac", str(plain)], check=True)
    rotated = folder / "gop12_rot90.mp4"
    subprocess.run(FFMPEG + ["-i", str(plain), "-map", "0", "-metadata:s:v", "rotate=90", "-c", "copy",
                             "-movflags", "+faststart", str(rotated)], check=True)
    silent = folder / "ntsc_silent.mkv"
    subprocess.run(FFMPEG + ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30000/1001:duration=3",
                             "-c:v", "mpeg4", "-g", "45", str(silent)], check=True)
    return {"rotated": rotated, "silent": silent}


def test_street_clip_text_names_every_property(test_mp4):
    result = vistream_cli("info", str(test_mp4))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for expected in ("h264, yuv420p, 1280x720", "240 (exact)", "every 30 frames", "8 in the whole video",
                     "aac, 48000 Hz, stereo", "1.14 Mb/s", "8.005 s", "mov,mp4", "1.1 MB"):
        assert expected in text, f"{expected!r} missing from:\n{text}"


def test_street_clip_json_matches_ffprobe(test_mp4):
    report = info_json(str(test_mp4))
    stream = json.loads(subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format",
                                        str(test_mp4)], capture_output=True, text=True, check=True).stdout)
    video = next(s for s in stream["streams"] if s["codec_type"] == "video")
    audio = next(s for s in stream["streams"] if s["codec_type"] == "audio")
    assert (report["width"], report["height"], report["video_codec"]) == (video["width"], video["height"], "h264")
    assert report["fps_fraction"] == video["avg_frame_rate"]
    assert report["fps"] == round(eval(video["avg_frame_rate"]), 3)  # noqa: S307 - "num/den" from ffprobe
    assert report["frame_count"] == 240 and report["frame_count_exact"] is True
    assert report["keyframe_interval"] == {"keyframes": 8, "min_frames": 30, "max_frames": 30, "mean_frames": 30.0,
                                           "mean_seconds": pytest.approx(30 / report["fps"], abs=1e-3),
                                           "scanned_seconds": pytest.approx(8.005, abs=1e-3), "complete": True}
    assert (report["audio_codec"], report["audio_sample_rate"], report["audio_channels"]) == (
        "aac", int(audio["sample_rate"]), audio["channels"])
    assert report["file_size"] == test_mp4.stat().st_size
    assert report["bit_rate"] == int(stream["format"]["bit_rate"])


def test_generated_clip_keyframes_rotation_and_mono_audio(known_media):
    report = info_json(str(known_media["rotated"]))
    assert (report["width"], report["height"]) == (640, 360)  # stored size; rotation is reported beside it
    assert abs(report["rotation"]) == 90
    assert report["fps_fraction"] == "25/1" and report["fps"] == 25.0
    assert report["frame_count"] == 100
    interval = report["keyframe_interval"]
    assert (interval["keyframes"], interval["min_frames"], interval["max_frames"]) == (9, 12, 12)
    assert interval["mean_seconds"] == pytest.approx(0.48)
    assert (report["has_audio"], report["audio_sample_rate"], report["audio_channels"]) == (True, 22050, 1)
    text = vistream_cli("info", str(known_media["rotated"])).stdout
    assert "rotation     90°" in text.replace("-90", "90") and "mono" in text


def test_ntsc_rate_is_exact_and_silence_is_said(known_media):
    report = info_json("--scan", "all", str(known_media["silent"]))
    assert report["fps_fraction"] == "30000/1001" and report["fps"] == 29.97
    assert report["container"].startswith("matroska") and report["video_codec"] == "mpeg4"
    assert report["frame_count"] == 90 and report["frame_count_exact"] is True
    assert report["keyframe_interval"]["min_frames"] == 45 and report["keyframe_interval"]["keyframes"] == 2
    assert report["has_audio"] is False and report["audio_codec"] is None
    assert "audio        none" in vistream_cli("info", str(known_media["silent"])).stdout


def test_scan_limit_scans_only_the_start(known_media):
    partial = info_json("--scan", "1", str(known_media["rotated"]))["keyframe_interval"]
    assert partial["complete"] is False and partial["keyframes"] == 3  # frames 0, 12, 24 (<= 1 s at 25 fps)
    assert info_json("--scan", "0", str(known_media["rotated"]))["keyframe_interval"] is None


def test_url_served_over_http(known_media):
    server = HttpServer(Path(known_media["rotated"]).parent)
    try:
        url = server.url(known_media["rotated"].name)
        report = info_json(url)
        assert report["file_size"] is None and report["keyframe_interval"] is None  # no scan of a URL by default
        assert (report["width"], report["height"], report["fps_fraction"]) == (640, 360, "25/1")
        scanned = info_json("--scan", "all", url)["keyframe_interval"]
        assert scanned["min_frames"] == 12 and scanned["complete"] is True
    finally:
        server.close()


def test_mistakes_are_one_line(tmp_path, media):
    missing = vistream_cli("info", str(tmp_path / "nothere.mp4"))
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "nothere.mp4" in missing.stderr
    not_video = vistream_cli("info", str(media["text"]))
    assert not_video.returncode == 1 and "Traceback" not in not_video.stderr
    bad_scan = vistream_cli("info", "--scan", "soon", str(media["text"]))
    assert bad_scan.returncode == 2 and "--scan" in bad_scan.stderr


def test_probe_is_python_api(test_mp4, vs):
    from vistream.info import probe

    report = probe(test_mp4, scan_seconds=0)
    assert report.keyframe_interval is None and report.frame_count == 240
    with pytest.raises(vs.SourceNotFoundError):
        probe("/nonexistent/clip.mp4")
    with pytest.raises(ValueError):
        probe(test_mp4, scan_seconds=-1)


def test_standard_input_is_described_once_and_not_scanned(test_mp4):
    with open(test_mp4, "rb") as clip:
        piped = subprocess.run([sys.executable, "-m", "vistream", "info", "--json", "-"], stdin=clip,
                               capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    report = json.loads(piped.stdout)
    assert (report["width"], report["height"], report["seekable"]) == (1280, 720, False)
    assert report["keyframe_interval"] is None
    with open(test_mp4, "rb") as clip:
        scan = subprocess.run([sys.executable, "-m", "vistream", "info", "--scan", "5", "-"], stdin=clip,
                              capture_output=True, text=True, timeout=120)
    assert scan.returncode == 1 and "pipe can be read only once" in scan.stderr
