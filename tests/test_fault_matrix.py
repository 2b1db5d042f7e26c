"""The fault matrix: damaged inputs, bad arguments, failing outputs, failing callbacks and signals.

Every case runs in a child interpreter with a timeout, so a native crash or a hang fails the
case (with its output) instead of taking the suite down. Each ends in the error or recovery
documented in docs/api.md ("Errors: the fault matrix"); outputs are checked with ffprobe: an
aborted encode leaves a finalized, playable file or nothing, and never touches the input or an
earlier file under the output's name.

Media (generated per module from lavfi, then damaged in Python, see ``damaged_media``):

    ffmpeg -f lavfi -i testsrc2=size=320x240:rate=30:duration=2 -f lavfi -i sine=duration=2
           -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 15 -c:a aac -movflags +faststart clip.mp4
    ffmpeg -f lavfi -i testsrc2=size=320x240:rate=30:duration=2 -c:v libx264 -preset ultrafast
           -pix_fmt yuv420p moov_at_end.mp4
    ffmpeg -f lavfi -i testsrc2=size=320x240:rate=30:duration=1 -c:v mpeg4 -q:v 5 mpeg4.avi
"""
from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
CHILD_TIMEOUT = 90  # seconds; a case that takes longer is a hang


# --------------------------------------------------------------------------- media

@pytest.fixture(scope="module")
def damaged_media(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("faults")
    clip = folder / "clip.mp4"
    subprocess.run(FF + ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2", "-f", "lavfi", "-i",
                         "sine=duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                         "-g", "15", "-c:a", "aac", "-movflags", "+faststart", str(clip)], check=True)
    moov_at_end = folder / "moov_at_end.mp4"
    subprocess.run(FF + ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2", "-c:v", "libx264",
                         "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(moov_at_end)], check=True)
    avi = folder / "mpeg4.avi"
    subprocess.run(FF + ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=1", "-c:v", "mpeg4",
                         "-q:v", "5", str(avi)], check=True)
    data = clip.read_bytes()
    made = {"clip": clip}

    def write(name: str, content: bytes) -> None:
        (folder / name).write_bytes(content)
        made[name] = folder / name

    write("truncated_faststart.mp4", data[: len(data) * 6 // 10])  # index intact, media data cut
    write("truncated_moov_at_end.mp4", moov_at_end.read_bytes()[:100_000])  # no index at all
    flipped = bytearray(data)
    rng = random.Random(7)
    for _ in range(60):  # bits flipped in the media data (after the moov of a faststart file)
        flipped[rng.randrange(len(data) // 5, len(data))] ^= 1 << rng.randrange(8)
    write("bit_flipped.mp4", bytes(flipped))
    write("zero_length.mp4", b"")
    write("mp4_named.avi", data)  # wrong extension: the content decides
    write("text_named.mp4", b"this is not a video\n" * 100)
    # A raw stream header claiming 60000x60000 (14 GB per 4:2:0 picture).
    write("huge_header.y4m", b"YUV4MPEG2 W60000 H60000 F30:1 Ip A1:1 C420jpeg\nFRAME\n" + b"\x80" * 100_000)
    # The mp4 sample entry says 60000x60000; the H.264 parameter sets say 320x240 (they win).
    patched = bytearray(data)
    entry = patched.find(b"avc1")
    struct.pack_into(">HH", patched, entry + 4 + 24, 60000, 60000)
    write("huge_sample_entry.mp4", bytes(patched))
    # A codec FFmpeg has no decoder for: the AVI's fourcc (FMP4) replaced by an unknown one.
    write("unknown_codec.avi", avi.read_bytes().replace(b"FMP4", b"QZQZ"))
    write("empty_video_track.mp4", without_video_samples(data))
    return made


def _boxes(data: bytes, start: int, end: int):
    """(offset, size, type) of the ISO-BMFF boxes between start and end."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        yield at, size, kind
        at += size


def without_video_samples(mp4: bytes) -> bytes:
    """The mp4 with its video track's sample table emptied (every entry count 0): the track and
    its codec parameters are still there, the audio is intact, but the track lists no packet."""
    data = bytearray(mp4)
    moov = next(b for b in _boxes(data, 0, len(data)) if b[2] == b"moov")
    for trak, size, kind in _boxes(data, moov[0] + 8, moov[0] + moov[1]):
        if kind != b"trak":
            continue
        mdia = next(b for b in _boxes(data, trak + 8, trak + size) if b[2] == b"mdia")
        hdlr = next(b for b in _boxes(data, mdia[0] + 8, mdia[0] + mdia[1]) if b[2] == b"hdlr")
        if data[hdlr[0] + 16:hdlr[0] + 20] != b"vide":
            continue
        minf = next(b for b in _boxes(data, mdia[0] + 8, mdia[0] + mdia[1]) if b[2] == b"minf")
        stbl = next(b for b in _boxes(data, minf[0] + 8, minf[0] + minf[1]) if b[2] == b"stbl")
        for box, _, table in _boxes(data, stbl[0] + 8, stbl[0] + stbl[1]):
            if table in (b"stts", b"ctts", b"stss", b"stsc", b"stco", b"co64"):
                struct.pack_into(">I", data, box + 12, 0)  # entry_count
            elif table == b"stsz":
                struct.pack_into(">I", data, box + 16, 0)  # sample_count
        return bytes(data)
    raise AssertionError("no video track")


def probe_frames(path: Path) -> int:
    """Video frames the ffmpeg CLI decodes (the reference for a damaged file)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                          "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def assert_playable(path: Path, video_only: bool = False) -> int:
    """The file opens and every packet decodes without an error; returns its video frame count.

    ``video_only``: audio copied from a damaged source keeps the source's damage, so only the
    video (which vistream encoded) must decode cleanly."""
    select = ["-select_streams", "v:0"] if video_only else []
    probe = subprocess.run(["ffprobe", "-v", "error", *select, "-count_frames", "-show_entries",
                            "stream=codec_type,nb_read_frames", "-of", "json", str(path)],
                           capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stderr == "", probe.stderr  # "moov atom not found", ...
    streams = [s for s in json.loads(probe.stdout)["streams"] if s["codec_type"] == "video"]
    return int(streams[0]["nb_read_frames"])


# --------------------------------------------------------------------------- child cases

# Code run in the child: opens with Reader or Player, reports what happened as JSON.
_CHILD = textwrap.dedent('''
    import json, sys, os
    import numpy as np
    import vistream as vs

    kind, source, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    report = {"error": None, "bases": [], "message": "", "notes": []}
    try:
        if kind == "reader":
            with vs.Reader(source, **extra.get("kwargs", {})) as reader:
                report["length"] = len(reader)
                report["size"] = [reader.info.width, reader.info.height]
                report["indices"] = [frame.index for frame in reader]
        else:
            player = vs.Player(source, output=extra.get("output"), **extra.get("kwargs", {}))
            calls = [0]
            fault = extra.get("callback")

            @player.on_frame
            def callback(frame):
                calls[0] += 1
                if calls[0] != 20:
                    return None
                if fault == "raise":
                    raise RuntimeError("the callback failed at frame 20")
                if fault == "shape":
                    return np.zeros((10, 10, 3), np.uint8)
                if fault == "dtype":
                    return frame.array.astype(np.float32)
                if fault == "not_an_array":
                    return [1, 2, 3]
                if fault == "remove_output_folder":
                    import shutil
                    shutil.rmtree(os.path.dirname(extra["output"]))
                return None

            stats = player.run()
            report["encoded"] = stats.frames_encoded
            report["output"] = stats.output
    except BaseException as error:
        report["error"] = type(error).__name__
        report["bases"] = [cls.__name__ for cls in type(error).__mro__]
        report["message"] = str(error)
        report["notes"] = list(getattr(error, "__notes__", []))
        if kind == "player":  # frames written before the failure (0 when construction failed)
            report["encoded"] = player.stats.frames_encoded if "player" in globals() else 0
    print(json.dumps(report))
''')


def run_case(kind: str, source, **extra) -> dict:
    """Runs one case in a child interpreter: a crash or hang fails the test with its output."""
    command = [sys.executable, "-c", _CHILD, kind, str(source), json.dumps(extra, default=str)]
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired as hang:
        pytest.fail(f"hung for {CHILD_TIMEOUT}s: {kind} {source} {extra}\n{hang.stderr!r}")
    assert child.returncode == 0, (f"child died with status {child.returncode} (negative: a signal, e.g. -11 "
                                   f"a segfault)\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- damaged and odd files

# case -> the documented error class (raised when opening; nothing decoded, nothing written)
OPEN_ERRORS = {
    "zero_length.mp4": "SourceError",
    "text_named.mp4": "SourceError",
    "truncated_moov_at_end.mp4": "SourceError",
    "huge_header.y4m": "SourceError",
    "unknown_codec.avi": "DecodeError",
    # A video track listing no packet is a damaged file, not an empty video: no video-less output.
    "empty_video_track.mp4": "SourceError",
}


@pytest.mark.parametrize("kind", ["reader", "player"])
@pytest.mark.parametrize("name", sorted(OPEN_ERRORS))
def test_unreadable_file_raises_its_typed_error(damaged_media, tmp_path, name, kind):
    output = tmp_path / "out.mp4"
    report = run_case(kind, damaged_media[name], output=output if kind == "player" else None)
    assert report["error"] is not None, report
    assert OPEN_ERRORS[name] in report["bases"] and "VistreamError" in report["bases"], report
    assert str(damaged_media[name].name) in report["message"] or "codec" in report["message"], report
    assert list(tmp_path.iterdir()) == []  # the player wrote nothing at all


def test_huge_header_names_the_size(damaged_media):
    report = run_case("reader", damaged_media["huge_header.y4m"])
    assert "60000x60000" in report["message"], report


# Damaged but partly decodable: the recovery is to deliver what decodes, in order, like ffmpeg.
RECOVERED = ["truncated_faststart.mp4", "bit_flipped.mp4", "mp4_named.avi", "huge_sample_entry.mp4"]


@pytest.mark.parametrize("name", RECOVERED)
def test_damaged_file_delivers_what_decodes(damaged_media, tmp_path, name):
    path = damaged_media[name]
    expected = probe_frames(path)
    assert expected > 0
    report = run_case("reader", path)
    assert report["error"] is None, report
    indices = report["indices"]
    assert len(indices) == expected  # every frame ffmpeg gets, none invented
    assert indices == sorted(set(indices)), "indices must be unique and increasing"
    assert indices[-1] < report["length"], "no index beyond len()"
    assert report["size"] == [320, 240]  # the stream's real size, not a container's claim
    # The Player writes all of them into a playable file (no silent stop at len(), no lost frames).
    output = tmp_path / "out.mp4"
    played = run_case("player", path, output=output)
    assert played["error"] is None, played
    assert played["encoded"] == expected
    assert assert_playable(output, video_only=True) == expected


def test_wrong_extension_decodes_the_same_frames(damaged_media):
    assert run_case("reader", damaged_media["mp4_named.avi"])["indices"] == list(range(60))


def test_unknown_protocol(damaged_media, tmp_path):
    for kind in ("reader", "player"):
        report = run_case(kind, "nosuchproto://127.0.0.1/clip.mp4", output=tmp_path / "out.mp4")
        assert "SourceError" in report["bases"], report
        assert "nosuchproto://" in report["message"] and "Protocol not found" in report["message"], report
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["reader", "player"])
def test_bad_filter_fails_before_anything_is_written(damaged_media, tmp_path, kind):
    report = run_case(kind, damaged_media["clip"], output=tmp_path / "out.mp4",
                      kwargs={"vfilter": "scale=320:240,nosuchfilter=3"})
    assert "FilterError" in report["bases"] and "ValueError" in report["bases"], report
    assert "nosuchfilter" in report["message"], report
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- failing callbacks

# callback fault -> (error class re-raised by run(), words of its message)
CALLBACK_FAULTS = {
    "raise": ("RuntimeError", "the callback failed at frame 20"),
    "shape": ("ValueError", "shape (10, 10, 3)"),
    "dtype": ("ValueError", "float32"),
    "not_an_array": ("TypeError", "numpy array"),
}


@pytest.mark.parametrize("fault", sorted(CALLBACK_FAULTS))
def test_failing_callback_stops_with_its_error_and_a_playable_partial(damaged_media, tmp_path, fault):
    output = tmp_path / "out.mp4"
    output.write_bytes(b"an earlier result")  # must survive the failed run untouched
    source_bytes = damaged_media["clip"].read_bytes()
    report = run_case("player", damaged_media["clip"], output=output, callback=fault)
    error, words = CALLBACK_FAULTS[fault]
    assert report["error"] == error and words in report["message"], report
    assert output.read_bytes() == b"an earlier result"
    assert damaged_media["clip"].read_bytes() == source_bytes
    # Documented: the frames before the failure are finalized under the partial name, which the
    # error's note gives.
    partials = list(tmp_path.glob("out.partial-*.mp4"))
    assert len(partials) == 1, list(tmp_path.iterdir())
    assert any(str(partials[0]) in note for note in report["notes"]), report
    assert assert_playable(partials[0]) == report["encoded"] == 19


# --------------------------------------------------------------------------- failing outputs

@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs (tests run as root, in CI too): the encoder runs out of space mid-stream."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_disk_full_mid_stream_leaves_nothing_behind(test_mp4, tiny_disk):
    output = tiny_disk / "out.mp4"
    report = run_case("player", test_mp4, output=output)
    assert report["error"] == "EncoderError", report
    assert "No space left on device" in report["message"], report
    assert 0 < report["encoded"] < 240  # it failed on the way, not at the end
    # An mp4 cut off before its moov is unplayable: it is removed, not left as debris.
    assert list(tiny_disk.iterdir()) == [], list(tiny_disk.iterdir())
    assert any("removed" in note for note in report["notes"]), report


def test_writing_to_dev_full_fails_cleanly(damaged_media, tmp_path):
    output = tmp_path / "out.mp4"
    output.symlink_to("/dev/full")  # a device: written in place, every write fails with ENOSPC
    report = run_case("player", damaged_media["clip"], output=output)
    assert report["error"] == "EncoderError", report
    assert "No space left on device" in report["message"], report


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_output_folder_removed_mid_run_is_an_error(damaged_media, tmp_path, suffix):
    # mp4 fails when faststart reopens the file to move its index; mkv writes on into the unlinked
    # file and finds it gone at the rename: either way an error, never a "success" with no file.
    folder = tmp_path / "vanishing"
    folder.mkdir()
    report = run_case("player", damaged_media["clip"], output=folder / f"out{suffix}", callback="remove_output_folder")
    assert report["error"] == "EncoderError", report
    assert report["encoded"] > 0 and not folder.exists()


def test_output_naming_the_input_is_refused(damaged_media, tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(damaged_media["clip"].read_bytes())
    link = tmp_path / "same.mp4"
    os.link(source, link)  # another name, the same file
    for output in (source, link):
        report = run_case("player", source, output=output)
        assert report["error"] == "ValueError" and "source file" in report["message"], report
    assert source.read_bytes() == damaged_media["clip"].read_bytes()


# --------------------------------------------------------------------------- signals

# Containers the play.py signal test (test_cli_signals.py) does not cover; both grow as they are
# written (a Matroska cluster would hold ~5 s of media back before the partial file grows).
@pytest.mark.parametrize("sig, status, suffix", [(signal.SIGINT, 130, ".ts"), (signal.SIGTERM, 143, ".mov")])
def test_signal_during_encode_finalizes_the_output(test_mp4, tmp_path, sig, status, suffix):
    output = tmp_path / f"out{suffix}"
    source_bytes = test_mp4.read_bytes()
    process = subprocess.Popen([sys.executable, "-m", "vistream", "play", str(test_mp4), "--headless",
                                "--output", str(output)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # well under way: the partial output is growing
        partial = list(tmp_path.glob(f"out.partial-*{suffix}"))
        if partial and partial[0].stat().st_size > 100_000:
            break
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    else:
        pytest.fail("the encode did not get going")
    process.send_signal(sig)
    try:
        stdout, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{sig.name} did not end the run within 30 s")
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    # An interrupted run is what the user asked for so far: finalized under the final name.
    assert [p.name for p in tmp_path.iterdir()] == [output.name]
    frames = assert_playable(output)
    assert 0 < frames < 240
    assert test_mp4.read_bytes() == source_bytes
