"""Frame-exact random access (issue 17): every access pattern returns exactly the frames a
sequential decode returns, and costs what the target needs and no more.

Ground truth is the ffmpeg CLI's own sequential decode (``-f framemd5``, yuv420p, so no pixel
conversion is involved on either side): one md5 per frame in display order. The Reader reads
the same clips as yuv420p and every frame it returns, however reached, must have the md5 of
the frame at that position.

Cost is asserted by counting, not timing: ``Reader.stats`` counts the frames the decoder
produced (``frames_decoded``; non-reference frames skipped on the way to a target are not
produced), the frames sent through the filter graph (``frames_converted``) and the demuxer
repositionings (``seeks``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import subprocess
import threading

import numpy as np
import pytest

FPS = 30
GOP = 30

_FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
_VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=4"]
_AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=4"]
_X264 = "keyint=30:min-keyint=30:scenecut=0"

# name -> (file name, ffmpeg arguments between "ffmpeg -nostdin -v error -y" and the output).
# All 320x240, 4 s at 30 fps (120 frames) unless the filter retimes them.
RANDOM_ACCESS_MEDIA = {
    # H.264 with 3 B-frames always used (b-adapt=0) as a B-pyramid (the middle B is a
    # reference), closed GOPs every 30 frames, AAC audio interleaved.
    "pyramid": ("pyramid.mp4", _VIDEO + _AUDIO + [
        "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-bf", "3", "-x264-params", f"{_X264}:b-pyramid=normal:b-adapt=0", "-c:a", "aac"]),
    # The same stream in Matroska (cue-indexed, millisecond timestamps).
    "pyramid_mkv": ("pyramid.mkv", _VIDEO + [
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-bf", "3", "-x264-params", f"{_X264}:b-pyramid=normal:b-adapt=0"]),
    # Open GOP: recovery-point I-frames every 30 frames whose leading B-frames (decoded after
    # the I-frame, shown before it) reference the previous GOP.
    "opengop": ("opengop.mp4", _VIDEO + [
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-bf", "3",
        "-x264-params", f"open_gop=1:{_X264}"]),
    # HEVC (libx265 defaults to open GOPs: CRA pictures with RASL leading pictures).
    "hevc": ("hevc.mp4", _VIDEO + [
        "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-x265-params", "keyint=30:min-keyint=30:scenecut=0:bframes=4:b-pyramid=1:log-level=error"]),
    # Variable frame rate in Matroska: steps of 1/30 s, half a frame longer every 3rd frame and a
    # quarter longer every 7th (timestamps rounded to milliseconds by the container).
    "vfr": ("vfr.mkv", _VIDEO + [
        "-vf", "setpts=(N+0.5*floor(N/3)+0.25*floor(N/7))/30/TB", "-fps_mode", "vfr",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-bf", "2", "-g", "30"]),
    # MPEG-4 ASP with B-frames in AVI: no pts in the container for I/P frames (dts only).
    "avi": ("mpeg4.avi", _VIDEO + _AUDIO + [
        "-map", "0:v", "-map", "1:a", "-c:v", "mpeg4", "-q:v", "5", "-bf", "2", "-g", "30",
        "-c:a", "pcm_s16le"]),
    # Constant 30 fps in Matroska: k/30 s stored rounded to the millisecond (frame 121 of a
    # longer clip at 4.033 s, frame 2 at 0.067 s).
    "ms": ("ms.mkv", ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=6",
                      "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-bf", "3", "-g", "30"]),
}

CLIPS = ["pyramid", "pyramid_mkv", "opengop", "hevc", "vfr", "avi"]


def _md5(frame) -> str:
    return hashlib.md5(np.ascontiguousarray(frame.array).tobytes()).hexdigest()


def _ffmpeg_frame_md5s(path) -> list[str]:
    out = subprocess.run(_FF[:-1] + ["-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                                     "-pix_fmt", "yuv420p", "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if line and not line.startswith("#")]


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """name -> dict(path, md5s (ffmpeg's sequential decode), times, keys (keyframe indices))."""
    import vistream as vs
    folder = tmp_path_factory.mktemp("random_access")
    made = {}
    for name, (file_name, argv) in RANDOM_ACCESS_MEDIA.items():
        path = folder / file_name
        command = _FF + argv + [str(path)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not path.is_file():
            raise RuntimeError(f"generating {file_name} failed:\n{' '.join(command)}\n{result.stderr}")
        md5s = _ffmpeg_frame_md5s(path)
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                "frame=key_frame", "-of", "csv=p=0", str(path)],
                               capture_output=True, text=True, check=True).stdout.split()
        keys = [i for i, flag in enumerate(probe) if flag.strip(",") == "1"]
        with vs.Reader(path) as reader:
            times = [frame.time for frame in reader]
        made[name] = dict(path=path, md5s=md5s, times=times, keys=keys, command=command)
    return made


def _around_keyframes(keys, n):
    return sorted({i for k in keys for i in (k - 2, k - 1, k, k + 1) if 0 <= i < n})


def _patterns(n, keys, seed):
    rng = random.Random(seed)
    randoms = [rng.randrange(n) for _ in range(30)] + _around_keyframes(keys, n) + [0, n - 1]
    rng.shuffle(randoms)
    centres = [rng.randrange(n) for _ in range(4)]
    clustered = [min(n - 1, max(0, c + d)) for c in centres for d in (0, 3, 1, 4, 2)]
    return {
        "random": randoms,
        "sorted": sorted(rng.randrange(n) for _ in range(40)),
        "strided": list(range(0, n, 7)),
        "clustered": clustered,
        "backward": list(range(n - 1, -1, -3)),
    }


@pytest.mark.parametrize("name", CLIPS)
def test_sequential_decode_matches_ffmpeg(vs, clips, name):
    """The reference itself: the Reader's sequential decode is ffmpeg's, labelled 0..n-1 (the
    AVI with B-frames used to be labelled from 1, its last frame 0)."""
    clip = clips[name]
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        frames = [(frame.index, _md5(frame)) for frame in reader]
        assert len(reader) == len(clip["md5s"])
    assert [index for index, _ in frames] == list(range(len(clip["md5s"])))
    assert [digest for _, digest in frames] == clip["md5s"]


@pytest.mark.parametrize("pattern", ["random", "sorted", "strided", "clustered", "backward"])
@pytest.mark.parametrize("name", CLIPS)
def test_every_access_pattern_returns_the_sequential_frames(vs, clips, name, pattern):
    clip = clips[name]
    md5s = clip["md5s"]
    n = len(md5s)
    targets = _patterns(n, clip["keys"], seed=hash((name, pattern)) & 0xFFFF)[pattern]
    wrong = []
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        for k in targets:
            frame = reader.frame_at(k)
            if frame.index != k or _md5(frame) != md5s[k]:
                wrong.append((k, frame.index, _md5(frame) == md5s[k]))
    assert not wrong, f"{name}/{pattern}: (asked, got index, right pixels): {wrong}; keyframes {clip['keys']}"


@pytest.mark.parametrize("name", CLIPS)
def test_seek_then_iterate_continues_in_order(vs, clips, name):
    """seek(index=) followed by iteration (the decode thread running ahead), forward jumps
    within and across GOPs and backward jumps: every frame after a seek is the next one."""
    clip = clips[name]
    md5s = clip["md5s"]
    n = len(md5s)
    rng = random.Random(17)
    jumps = [rng.randrange(n) for _ in range(12)] + [k + 4 for k in clip["keys"] if k + 4 < n]
    wrong = []
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        for k in jumps:
            reader.seek(index=k)
            for expected in range(k, min(n, k + 4)):
                frame = next(reader)
                if frame.index != expected or _md5(frame) != md5s[expected]:
                    wrong.append((k, expected, frame.index))
                    break
    assert not wrong, f"{name}: (seek, expected, got): {wrong}"


# ----------------------------------------------------------------------------- cost, by counting

def _delta(reader, action):
    before = dataclasses.asdict(reader.stats)
    result = action()
    after = dataclasses.asdict(reader.stats)
    return result, {key: after[key] - before[key] for key in after}


@pytest.mark.parametrize("name", ["pyramid", "pyramid_mkv", "opengop"])
def test_frame_at_a_keyframe_decodes_about_one_frame(vs, clips, name):
    """frame_at(keyframe) seeks to that keyframe (not the one before) and decodes it: one frame
    out of the decoder, one conversion. It used to decode a whole extra GOP."""
    clip = clips[name]
    keys = [k for k in clip["keys"] if k > 0]
    assert len(keys) >= 3
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        reader.frame_at(len(clip["md5s"]) - 1)
        for k in reversed(keys):  # backward: each one a real seek
            frame, cost = _delta(reader, lambda: reader.frame_at(k))
            assert frame.index == k and _md5(frame) == clip["md5s"][k]
            assert cost["seeks"] == 1, (k, cost)
            assert cost["frames_decoded"] <= 2, (k, cost)
            assert cost["frames_converted"] == 1, (k, cost)


@pytest.mark.parametrize("name", ["pyramid", "hevc"])
def test_frames_before_the_target_are_neither_converted_nor_all_decoded(vs, clips, name):
    """Toward a target late in a GOP only the reference frames before it are decoded (B-frames
    nothing predicts from are skipped; the pyramid's reference B-frames are not), and none of
    the frames before it is converted. HEVC: FFmpeg's decoder ignores skip_frame, the source
    leaves the sub-layer non-reference pictures out itself."""
    clip = clips[name]
    n = len(clip["md5s"])
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        reader.frame_at(n - 1)
        for k in (GOP - 1, 2 * GOP - 2, 3 * GOP - 1):
            keyframe = k // GOP * GOP
            frame, cost = _delta(reader, lambda: reader.frame_at(k))
            assert frame.index == k and _md5(frame) == clip["md5s"][k]
            assert cost["frames_converted"] == 1, cost
            # 3 (4) B-frames per mini-GOP, 2 (3) of them non-reference: half the frames are skipped.
            distance = k - keyframe + 1
            assert cost["frames_decoded"] <= 0.7 * distance, (k, cost)
            reader.frame_at(n - 1)


@pytest.mark.parametrize("name", ["pyramid", "pyramid_mkv", "avi"])
def test_a_target_ahead_in_the_gop_is_reached_without_seeking(vs, clips, name):
    clip = clips[name]
    md5s = clip["md5s"]
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        reader.frame_at(GOP + 2)
        for k in (GOP + 5, GOP + 6, GOP + 20, 2 * GOP - 1):
            frame, cost = _delta(reader, lambda: reader.frame_at(k))
            assert frame.index == k and _md5(frame) == md5s[k]
            assert cost["seeks"] == 0, (k, cost)
            assert cost["frames_converted"] == 1, (k, cost)
        # The next GOP's keyframe: seeking there costs less than decoding the rest of this GOP.
        frame, cost = _delta(reader, lambda: reader.frame_at(3 * GOP))
        assert frame.index == 3 * GOP and _md5(frame) == md5s[3 * GOP]
        assert cost["frames_decoded"] <= 2, cost
        # Also with the decode thread running ahead (iteration started it).
        reader.seek(index=GOP + 2)
        for expected in (GOP + 2, GOP + 3, GOP + 4):
            assert next(reader).index == expected
        _, cost = _delta(reader, lambda: reader.seek(index=GOP + 15))
        frame = next(reader)
        assert frame.index == GOP + 15 and _md5(frame) == md5s[GOP + 15]
        assert cost["seeks"] == 0, cost


def test_sorted_access_decodes_each_frame_at_most_once(vs, clips):
    clip = clips["pyramid"]
    n = len(clip["md5s"])
    targets = sorted(random.Random(3).sample(range(n), 40))
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        frames, cost = _delta(reader, lambda: [reader.frame_at(k) for k in targets])
    assert [frame.index for frame in frames] == targets
    assert [_md5(frame) for frame in frames] == [clip["md5s"][k] for k in targets]
    assert cost["frames_decoded"] <= n, cost
    assert cost["frames_converted"] == len(targets), cost
    # Every target lies ahead of the decoder: it seeks at most to skip to a later GOP.
    assert cost["seeks"] <= n // GOP, cost


# ----------------------------------------------------------------------------- time semantics

def test_seek_time_k_over_fps_gives_frame_k_with_millisecond_timestamps(vs, clips):
    """Matroska stores k/30 s rounded to the millisecond (frame 121 at 4.033 s): seek(time=k/30)
    must still give frame k, rounded up or down. It used to give k+1 for a third of them."""
    clip = clips["ms"]
    n = len(clip["md5s"])
    wrong = []
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        for k in range(n):
            reader.seek(time=k / FPS)
            frame = next(reader)
            if frame.index != k or _md5(frame) != clip["md5s"][k]:
                wrong.append((k, frame.index))
        reader.seek(time=n / FPS)  # the end of the last frame
        assert list(reader) == []
    assert not wrong, f"(k, index given for time k/30): {wrong}"


def test_seek_time_gives_the_frame_on_screen_with_variable_frame_rate(vs, clips):
    clip = clips["vfr"]
    times = clip["times"]
    n = len(times)
    steps = {round(b - a, 3) for a, b in zip(times, times[1:])}
    assert len(steps) >= 3, f"the clip is not VFR: steps {steps}"
    cases = [(0.0, 0)]
    for k in range(1, n):
        cases.append((times[k], k))
        cases.append((times[k] - 1e-4, k))  # below the container's millisecond rounding
        cases.append((times[k - 1] + 0.6 * (times[k] - times[k - 1]), k - 1))
    wrong = []
    with vs.Reader(clip["path"], format="yuv420p") as reader:
        for t, k in cases:
            reader.seek(time=t)
            frame = next(reader)
            if frame.index != k or _md5(frame) != clip["md5s"][k]:
                wrong.append((round(t, 5), k, frame.index))
    assert not wrong, f"(time, expected, got): {wrong[:10]}"


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_seek_time_is_a_value_error(vs, clips, bad):
    path = clips["pyramid"]["path"]
    with vs.Reader(path) as reader:
        with pytest.raises(ValueError, match="finite|NaN"):
            reader.seek(time=bad)
        with pytest.raises(ValueError, match="finite"):
            reader._core.seek_time(bad)  # the engine checks too, whoever calls it
        assert next(reader).index == 0, "a refused seek leaves the reader where it was"
    player = vs.Player(path)
    with pytest.raises(ValueError, match="finite|NaN"):
        player.seek(time=bad)


def test_player_seek_time_shows_the_frame_on_screen_too(vs, clips):
    """Reader and Player share index_at_time: the Player's seek(time=k/30) on the millisecond
    mkv shows frame k as well."""
    clip = clips["ms"]
    targets = [121, 2, 64, 100, 35]
    player = vs.Player(clip["path"], exit_at_end=True)
    shown = []
    done = threading.Event()

    @player.on_frame
    def record(frame):
        shown.append((frame.index, frame.discontinuity))
        if frame.discontinuity and len([s for s in shown if s[1]]) > len(targets):
            player.stop()
            done.set()
            return
        if frame.discontinuity or len(shown) == 1:
            seeks_done = len([s for s in shown if s[1]]) - 1
            if 0 <= seeks_done < len(targets):
                player.seek(time=targets[seeks_done] / FPS)

    player.run()
    after_seeks = [index for index, discontinuity in shown if discontinuity][1:]
    assert after_seeks[:len(targets)] == targets
