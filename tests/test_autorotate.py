"""Rotation metadata on input: frames come upright by default (``autorotate=True``), like ffmpeg.

Media (generated here; FFmpeg 5.1 has no ``-display_rotation``):

    ffmpeg -f lavfi -i testsrc2=size=160x96:rate=10:duration=1 -c:v libx264 -pix_fmt yuv420p -g 4 upright.mp4
    ffmpeg -i upright.mp4 -metadata:s:v rotate=R -c copy rotR.mp4          (R = 90, 180, 270)
    ffmpeg -i upright.mp4 -metadata:s:v ROTATE=90 -c copy legacy90.mkv

What FFmpeg 5.1 writes: ``rotate=R`` becomes an mp4 display matrix (tkhd) that ffprobe reports
as ``rotation`` 90, -180 and -90 for R = 90, 180, 270 (counter-clockwise degrees), and its own
CLI turns rot90.mp4 with ``transpose=cclock``. The reference for those files is therefore the
ffmpeg CLI's own (autorotated) decode, not an assumption about the sign. The Matroska file keeps
a plain ``ROTATE`` tag, which 5.1's CLI ignores; vistream reads it as older FFmpeg wrote it
(clockwise degrees), so its reference is ``-vf transpose=clock`` of the upright clip.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import vistream as vs

FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
WIDTH, HEIGHT = 160, 96


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("autorotate")
    upright = folder / "upright.mp4"
    subprocess.run(FF + ["-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate=10:duration=1",
                         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "4", str(upright)], check=True)
    made = {"upright": upright}
    for degrees in (90, 180, 270):
        path = folder / f"rot{degrees}.mp4"
        subprocess.run(FF + ["-i", str(upright), "-metadata:s:v", f"rotate={degrees}", "-c", "copy", str(path)],
                       check=True)
        made[degrees] = path
    legacy = folder / "legacy90.mkv"
    subprocess.run(FF + ["-i", str(upright), "-metadata:s:v", "ROTATE=90", "-c", "copy", str(legacy)], check=True)
    made["legacy"] = legacy
    return made


def cli_frames(path: Path, width: int, height: int, vf: str | None = None, autorotate: bool = True) -> np.ndarray:
    """The ffmpeg CLI's decode as (N, height, width, 3) bgr24."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error"]
    if not autorotate:
        cmd.append("-noautorotate")
    cmd += ["-i", str(path)]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-an", "-fps_mode", "passthrough", "-pix_fmt", "bgr24", "-f", "rawvideo", "-"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def probe_rotation(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json",
                          str(path)], check=True, capture_output=True, text=True).stdout
    for side in json.loads(out)["streams"][0].get("side_data_list", []):
        if "rotation" in side:
            return float(side["rotation"])
    return 0.0


def read_all(path: Path, **kwargs) -> tuple[vs.MediaInfo, np.ndarray]:
    with vs.Reader(path, **kwargs) as reader:
        info = reader.info
        frames = np.stack([frame.array.copy() for frame in reader])
    return info, frames


def assert_same_pictures(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    # Same scaler and flags as the CLI: the pixels agree (a wrong turn differs by tens of levels).
    difference = np.abs(ours.astype(np.int16) - reference.astype(np.int16)).mean()
    assert difference < 0.5, difference


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_display_matrix_turns_frames_like_the_ffmpeg_cli(clips, degrees):
    info, frames = read_all(clips[degrees])
    turned = degrees in (90, 270)
    width, height = (HEIGHT, WIDTH) if turned else (WIDTH, HEIGHT)
    assert (info.width, info.height) == (width, height)
    assert info.rotation == pytest.approx(probe_rotation(clips[degrees]) % 360 if degrees == 180
                                          else probe_rotation(clips[degrees]))
    assert info.autorotated is True
    assert_same_pictures(frames, cli_frames(clips[degrees], width, height))
    # and it really is turned: not the stored picture
    if not turned:
        stored = cli_frames(clips[degrees], WIDTH, HEIGHT, autorotate=False)
        assert np.abs(frames.astype(np.int16) - stored).mean() > 10


def test_autorotate_false_gives_frames_as_stored(clips):
    info, frames = read_all(clips[90], autorotate=False)
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    assert info.rotation == pytest.approx(90.0)  # still reported: the caller may turn it itself
    assert info.autorotated is False
    assert_same_pictures(frames, cli_frames(clips["upright"], WIDTH, HEIGHT))


def test_unrotated_source_reports_nothing_applied(clips):
    info, frames = read_all(clips["upright"])
    assert (info.rotation, info.autorotated) == (0.0, False)
    assert frames.shape[1:3] == (HEIGHT, WIDTH)


def test_legacy_rotate_tag_is_clockwise_degrees(clips):
    info, frames = read_all(clips["legacy"])
    assert (info.width, info.height) == (HEIGHT, WIDTH)
    assert info.rotation == pytest.approx(-90.0)  # counter-clockwise convention, as ffprobe would say
    assert_same_pictures(frames, cli_frames(clips["upright"], HEIGHT, WIDTH, vf="transpose=clock"))


def test_user_filter_sees_upright_frames(clips):
    # As in the CLI, the turn comes before -vf: cropping the top half crops the upright picture.
    crop = "crop=iw:ih/2:0:0"
    info, frames = read_all(clips[90], vfilter=crop)
    assert (info.width, info.height) == (HEIGHT, WIDTH // 2)
    assert_same_pictures(frames, cli_frames(clips[90], HEIGHT, WIDTH // 2, vf=crop))


def test_random_access_on_a_rotated_source(clips):
    reference = cli_frames(clips[270], HEIGHT, WIDTH)
    with vs.Reader(clips[270]) as reader:
        batch = reader.frames_at([7, 2, 5], stack=True)
        reader.seek(index=6)
        sixth = next(reader).array.copy()
    assert_same_pictures(batch, reference[[7, 2, 5]])
    assert_same_pictures(sixth[None], reference[[6]])


@pytest.mark.parametrize("autorotate", [True, False])
def test_player_callback_and_output_follow_autorotate(clips, tmp_path, autorotate):
    output = tmp_path / "out.mp4"
    shapes = []
    player = vs.Player(clips[90], output=str(output), autorotate=autorotate)
    player.on_frame(lambda frame: shapes.append(frame.array.shape[:2]))
    player.run()
    expected = (WIDTH, HEIGHT) if autorotate else (HEIGHT, WIDTH)
    assert set(shapes) == {expected} and len(shapes) == 10
    assert player.info.autorotated is autorotate
    probed = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
         "stream=width,height,nb_read_frames", "-of", "json", str(output)],
        check=True, capture_output=True, text=True).stdout)["streams"][0]
    assert (probed["height"], probed["width"]) == expected
    assert int(probed["nb_read_frames"]) == 10
