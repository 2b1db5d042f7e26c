"""The scripts in examples/ run as a user runs them (a real process, the project's Python) on
generated clips whose truth comes from FFmpeg, and produce what they say.

Generated media (320x240 / 480x360, 30 fps, H.264):
  moving_boxes.mp4: ffmpeg -f lavfi -i color=c=black:s=320x240:r=30:d=3 (plus three 24x24 white
      color sources) -filter_complex "[0][1]overlay=x=40:y='20+n*2'[a];[a][2]overlay=x=250:y='210-n*1.5'[b];
      [b][3]overlay=x='100+n*2':y=30"   (A goes down across y=120, B up across it, C along the top)
  still_then_moving.mp4: ffmpeg -f lavfi -i color=c=gray:s=320x240:r=30:d=4 -f lavfi -i color=c=white:s=24x24
      -filter_complex "[0][1]overlay=x='if(lt(n,20),40,if(lt(n,40),40+(n-20)*8,if(lt(n,70),200,
      if(lt(n,85),200-(n-70)*8,80))))':y=100"   (a box that moves in two bursts and otherwise stands still)
  jitter.mp4: as moving_boxes.mp4 with one box, overlay=x='40+n*2':y='108+10*sin(n)' (its centre swings
      across y=120 every few frames, the box never wholly leaves the line)
  portrait.mp4: matplotlib's grace_hopper.jpg scaled to 200x234, sliding over a flat 480x360 background for 15 frames
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import REPO

EXAMPLES = REPO / "examples"
_FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]


def _run_example(name: str, *args: str, cwd: Path) -> dict:
    # one torch/OpenMP thread: the CI machine's 2 cores are shared (see README)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def _decode(path: Path, pix_fmt: str = "gray") -> np.ndarray:
    """All frames of ``path`` decoded by the ffmpeg program (not vistream): the independent truth."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                           check=True)
    width, height = (int(v) for v in probe.stdout.strip().split(","))
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"],
                         capture_output=True, check=True).stdout
    channels = {"gray": 1, "bgr24": 3}[pix_fmt]
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width, channels)
    return frames[..., 0] if channels == 1 else frames


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("example_media")
    black = ["-f", "lavfi", "-i", "color=c=black:s=320x240:r=30:d=3"]
    box = ["-f", "lavfi", "-i", "color=c=white:s=24x24:r=30:d=3"]
    subprocess.run(_FF + black + box * 3 + [
        "-filter_complex", "[0][1]overlay=x=40:y='20+n*2'[a];[a][2]overlay=x=250:y='210-n*1.5'[b];"
                           "[b][3]overlay=x='100+n*2':y=30", *_X264, str(folder / "moving_boxes.mp4")], check=True)
    subprocess.run(_FF + ["-f", "lavfi", "-i", "color=c=gray:s=320x240:r=30:d=4", "-f", "lavfi", "-i",
                          "color=c=white:s=24x24:r=30:d=4", "-filter_complex",
                          "[0][1]overlay=x='if(lt(n,20),40,if(lt(n,40),40+(n-20)*8,if(lt(n,70),200,"
                          "if(lt(n,85),200-(n-70)*8,80))))':y=100", *_X264, str(folder / "still_then_moving.mp4")],
                   check=True)
    subprocess.run(_FF + black + box + ["-filter_complex", "[0][1]overlay=x='40+n*2':y='108+10*sin(n)'", *_X264,
                                        str(folder / "jitter.mp4")], check=True)
    from matplotlib import cbook

    portrait = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    subprocess.run(_FF + ["-f", "lavfi", "-i", "color=c=0x406080:s=480x360:r=30:d=0.5", "-loop", "1", "-i",
                          str(portrait), "-filter_complex",
                          "[1]scale=200:234,setsar=1[p];[0][p]overlay=x='40+n*8':y=60:shortest=1", *_X264,
                          str(folder / "portrait.mp4")], check=True)
    return folder


def _box_positions(frames: np.ndarray):
    """Per frame, the centres of the white boxes A (left column), B (right column), C (top row)."""
    positions = []
    for frame in frames:
        count, _, stats, centroids = cv2.connectedComponentsWithStats((frame > 200).astype(np.uint8))
        found = {}
        for label in range(1, count):
            x, y = centroids[label]
            name = "A" if x < 80 else "C" if y < 60 and stats[label][4] > 100 else "B"
            found[name] = (x, y)
        positions.append(found)
    return positions


# ------------------------------------------------------------------------------ record only motion

def _motion_truth(frames: np.ndarray):
    """The frames on which the box moved (its left edge differs from the frame before), as ranges."""
    edges = [int(np.argmax(frame[112] > 200)) for frame in frames]
    moving = [i for i in range(1, len(edges)) if edges[i] != edges[i - 1]]
    ranges = []
    for index in moving:
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return edges, ranges


@pytest.mark.parametrize("margin", [0, 5])
def test_record_motion_keeps_exactly_the_frames_that_move(media, tmp_path, margin):
    source = media / "still_then_moving.mp4"
    frames_in = _decode(source)
    edges, moving = _motion_truth(frames_in)
    assert len(moving) == 2  # two bursts of motion, standing still around them
    expected = [[max(0, a - margin), min(len(frames_in) - 1, b + margin)] for a, b in moving]
    summary = _run_example("record_motion.py", str(source), "motion.mp4", "--margin", str(margin), cwd=tmp_path)
    assert summary["kept"] == expected
    kept_frames = [i for a, b in expected for i in range(a, b + 1)]
    frames_out = _decode(tmp_path / "motion.mp4")
    assert summary["frames_out"] == len(frames_out) == len(kept_frames) < len(frames_in)
    # each output frame is the input frame chosen: the box stands where it stood on that frame
    assert [int(np.argmax(frame[112] > 200)) for frame in frames_out] == [edges[i] for i in kept_frames]
    # and the output plays back to back: its duration is that of the frames kept, not of the input
    duration = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                     str(tmp_path / "motion.mp4")], capture_output=True, text=True).stdout)
    assert duration == pytest.approx(len(kept_frames) / 30, abs=0.05)


# ------------------------------------------------------------------------------ line crossings

def test_count_line_crossings_counts_each_direction(media, tmp_path):
    source = media / "moving_boxes.mp4"
    truth = _box_positions(_decode(source))
    # the truth: A's centre goes down across y=120, B's up, C stays above the line
    assert truth[0]["A"][1] < 120 < truth[-1]["A"][1] and truth[0]["B"][1] > 120 > truth[-1]["B"][1]
    assert all(p["C"][1] < 100 for p in truth)
    summary = _run_example("count_line_crossings.py", str(source), "counted.mp4", "--line", "0,120,320,120",
                           cwd=tmp_path)
    assert (summary["in"], summary["out"]) == (1, 1)
    (in_frame, in_id, _), (out_frame, out_id, _) = sorted(summary["crossings"], key=lambda c: c[2])
    assert in_id != out_id
    # each is counted when the whole 24 px box has crossed (motion boxes trail the object a little)
    a_crossed = next(i for i, p in enumerate(truth) if p["A"][1] - 12 > 120)
    b_crossed = next(i for i, p in enumerate(truth) if p["B"][1] + 12 < 120)
    assert abs(in_frame - a_crossed) <= 4 and abs(out_frame - b_crossed) <= 4
    # the line is drawn on the annotated video (yellow: BGR 0,255,255)
    frame = _decode(tmp_path / "counted.mp4", "bgr24")[45].astype(int)
    yellow = (frame[..., 2] > 180) & (frame[..., 1] > 180) & (frame[..., 0] < 100)
    assert yellow[119:122, 100:150].mean() > 0.5


def test_count_line_crossings_counts_only_on_the_segment(media, tmp_path):
    # a line over the left half only: A crosses it, B crosses the line's extension, which does not count
    summary = _run_example("count_line_crossings.py", str(media / "moving_boxes.mp4"), "counted.mp4",
                           "--line", "0,120,160,120", cwd=tmp_path)
    assert (summary["in"], summary["out"]) == (1, 0)


def test_count_line_crossings_ignores_a_box_jittering_on_the_line(media, tmp_path):
    centres_y = [np.nonzero(frame > 200)[0].mean() for frame in _decode(media / "jitter.mp4")]
    sides = [np.sign(y - 120) for y in centres_y]
    assert sum(a != b for a, b in zip(sides, sides[1:])) > 10  # its centre crosses back and forth
    summary = _run_example("count_line_crossings.py", str(media / "jitter.mp4"), "counted.mp4",
                           "--line", "0,120,320,120", cwd=tmp_path)
    assert (summary["in"], summary["out"]) == (0, 0)


# ------------------------------------------------------------------------------ tracks to CSV

def test_tracks_to_csv_follows_every_object(media, tmp_path):
    source = media / "moving_boxes.mp4"
    truth = _box_positions(_decode(source))
    summary = _run_example("tracks_to_csv.py", str(source), "tracks.csv", "tracks.png", cwd=tmp_path)
    rows = (tmp_path / "tracks.csv").read_text().splitlines()
    assert rows[0] == "frame,time,tracker_id,class_id,confidence,x1,y1,x2,y2"
    assert summary["rows"] == len(rows) - 1
    paths = {}
    for line in rows[1:]:
        frame, _, track_id, _, _, x1, y1, x2, y2 = line.split(",")
        paths.setdefault(int(track_id), []).append((int(frame), (float(x1) + float(x2)) / 2,
                                                    (float(y1) + float(y2)) / 2))
    # each object is followed by one long track whose centres stay on the object
    for name in "ABC":
        def error(points):
            return np.median([np.hypot(x - truth[f][name][0], y - truth[f][name][1]) for f, x, y in points])
        best = min((p for p in paths.values() if len(p) >= 40), key=error)
        assert error(best) < 8, f"no track follows box {name}"
    # the PNG draws every plotted track in its own colour
    assert summary["plotted"] >= 3
    image = cv2.imread(str(tmp_path / "tracks.png"))[..., ::-1].astype(int)
    for color in summary["colors"].values():
        rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(image - rgb).sum(axis=2) < 30).sum() > 150, f"track colour {color} is not in the PNG"


# ------------------------------------------------------------------------------ blur faces

def _laplacian_variance(gray: np.ndarray) -> float:
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def test_blur_faces_blurs_the_faces_and_nothing_else(media, tmp_path):
    source = media / "portrait.mp4"
    summary = _run_example("blur_faces.py", str(source), "blurred.mp4", "--min-face", "40", cwd=tmp_path)
    frames_in, frames_out = _decode(source), _decode(tmp_path / "blurred.mp4")
    # the same clip through the same engine path without the example: re-encoding alone shifts flat
    # colours by a few levels (BGR <-> YUV rounding), which is not the example's doing
    import vistream as vs

    vs.Player(str(source), output=str(tmp_path / "reencoded.mp4")).run()
    frames_plain = _decode(tmp_path / "reencoded.mp4")
    assert summary["frames"] == len(frames_out) == len(frames_in)
    assert summary["frames_with_faces"] == len(frames_in)  # one sharp frontal face on every frame
    haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    for index in (0, len(frames_in) // 2, len(frames_in) - 1):
        faces = haar.detectMultiScale(frames_in[index], 1.1, 5)
        assert len(faces) == 1
        x, y, w, h = faces[0]
        # the face OpenCV finds is blurred: its fine detail is gone
        before = _laplacian_variance(frames_in[index][y:y + h, x:x + w])
        after = _laplacian_variance(frames_out[index][y:y + h, x:x + w])
        assert after < 0.2 * before
        # outside the boxes the example reports, the picture is unchanged (up to encoding noise)
        outside = np.ones(frames_in[index].shape, bool)
        for x1, y1, x2, y2 in summary["boxes"][str(index)]:
            outside[max(0, int(y1) - 4):int(y2) + 4, max(0, int(x1) - 4):int(x2) + 4] = False
        difference = np.abs(frames_plain[index].astype(int) - frames_out[index].astype(int))[outside]
        assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 8


# ------------------------------------------------------------------------------ Reader -> Writer

def test_reader_to_writer_draws_the_tracks_and_keeps_every_frame_and_the_sound(media, tmp_path):
    # moving_boxes.mp4 with a 440 Hz tone: the example must carry the sound into its output
    source = tmp_path / "boxes_with_sound.mp4"
    subprocess.run(_FF + ["-i", str(media / "moving_boxes.mp4"), "-f", "lavfi", "-i", "sine=f=440:d=3", "-c:v", "copy",
                          "-c:a", "aac", "-shortest", str(source)], check=True)
    frames_in = _decode(source, "bgr24")
    truth = _box_positions(frames_in[..., 1])
    summary = _run_example("reader_to_writer.py", str(source), "boxed.mp4", cwd=tmp_path)
    frames_out = _decode(tmp_path / "boxed.mp4", "bgr24")
    assert summary["frames"] == len(frames_out) == len(frames_in)
    assert summary["audio"] in ("copy", "aac")
    streams = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "json",
                              str(tmp_path / "boxed.mp4")], capture_output=True, text=True, check=True).stdout
    durations = {s["codec_type"]: float(s["duration"]) for s in json.loads(streams)["streams"]}
    assert durations["audio"] == pytest.approx(durations["video"], abs=0.1)
    # the input is black and white; the boxes the tracker drew are coloured, and each moving box of
    # the truth is framed by them on a frame in the middle of the clip
    index = 45
    assert str(index) in summary["boxes"]
    frame = frames_out[index].astype(int)
    coloured = (frame.max(axis=2) - frame.min(axis=2)) > 80
    assert not ((frames_in[index].astype(int).max(axis=2) - frames_in[index].astype(int).min(axis=2)) > 80).any()
    for name, (x, y) in truth[index].items():
        x, y = int(round(x)), int(round(y))
        ring = coloured[max(0, y - 22):y + 23, max(0, x - 22):x + 23].copy()
        ring[10:35, 10:35] = False  # the box itself (24 px) stays white inside the outline
        assert ring.sum() > 40, f"no box drawn around {name} at ({x}, {y})"
    # away from every box and label the picture is what was read (up to encoding noise)
    near = np.zeros(coloured.shape, bool)
    for x1, y1, x2, y2 in summary["boxes"][str(index)]:
        # the label ("motion #2 0.94") sits above the box, kept inside the picture at the right edge
        near[max(0, int(y1) - 30):int(y2) + 10, max(0, int(x1) - 60):int(x2) + 120] = True
    assert not coloured[~near].any()
    difference = np.abs(frames_in[index].astype(int) - frame)[~near]
    assert np.percentile(difference, 99) <= 12
