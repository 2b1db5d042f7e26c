"""Results embedded in the output video (``--embed-results``, ``Pipeline(embed_results=True)``):
a labels subtitle track players show, the full records (mkv attachment, mp4 text track) that
``vistream.read_results`` returns exactly as the results .jsonl holds them, and a finalize step
that never loses the video.

Truth comes from the ffmpeg/ffprobe programs (stream lists, packet checksums, subtitles burnt in
by libass, SRT extraction, remuxing), not from vistream. One Player run (the test clip's first
2 s, scaled to 640x360 to keep CI short) feeds most tests.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import vistream as vs
from vistream.embedded_results import label_text

_FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
WIDTH, HEIGHT = 640, 360
CONTAINERS = [".mp4", ".mkv"]


@pytest.fixture(scope="module")
def run(test_mp4, tmp_path_factory):
    """MotionDetector + ByteTrack over the clip's first 2 s into out.mp4 and out.mkv (one encoding),
    results in out.jsonl, embedded into both; plain.* are copies of the outputs before embedding."""
    from vistream.detect import MotionDetector
    from vistream.track import ByteTrack

    folder = tmp_path_factory.mktemp("embed")
    videos = {suffix: folder / f"out{suffix}" for suffix in CONTAINERS}
    player = vs.Player(str(test_mp4), output=[str(v) for v in videos.values()], display=False, end=2.0,
                       vfilter=f"scale={WIDTH}:{HEIGHT}")
    pipeline = vs.Pipeline(MotionDetector(), ByteTrack(frame_rate=player.info.fps), [],
                           results=str(folder / "out.jsonl"), embed_results=True)
    player.on_frame(pipeline)
    player.run()
    for suffix, video in videos.items():
        shutil.copy(video, folder / f"plain{suffix}")
    started = time.perf_counter()
    pipeline.close(video=[str(v) for v in videos.values()])
    seconds = time.perf_counter() - started
    lines = (folder / "out.jsonl").read_text().splitlines()
    return {"folder": folder, "videos": videos, "records": [json.loads(line) for line in lines],
            "embedded": pipeline.embedded, "seconds": seconds}


def _streams(path: Path) -> list:
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
                           capture_output=True, text=True, check=True)
    return json.loads(probe.stdout)["streams"]


def _frame(path: Path, index: int, subtitles: bool) -> np.ndarray:
    """Frame ``index`` of ``path`` decoded by ffmpeg, with the file's first subtitle track burnt in or not."""
    chain = f"subtitles={path}," if subtitles else ""
    raw = subprocess.run(_FF + ["-i", str(path), "-vf", f"{chain}select=eq(n\\,{index})", "-frames:v", "1",
                                "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(HEIGHT, WIDTH, 3)


def _srt_events(path: Path) -> list:
    """(start s, end s, text) of the file's first subtitle track, converted to SRT by ffmpeg."""
    srt = subprocess.run(_FF + ["-i", str(path), "-map", "0:s:0", "-f", "srt", "-"], capture_output=True, text=True,
                         check=True).stdout

    def seconds(stamp: str) -> float:
        hours, minutes, rest = stamp.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(rest.replace(",", "."))

    events = []
    for block in srt.strip().split("\n\n"):
        lines = block.splitlines()
        start, end = lines[1].split(" --> ")
        # ffmpeg's SRT keeps the track's font as <font> tags: the text is what is inside
        events.append((seconds(start), seconds(end), re.sub(r"<[^>]*>", "", "\n".join(lines[2:]))))
    return events


def _video_times(path: Path) -> list:
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
                            "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return sorted(float(t) for t in probe.split())


@pytest.mark.parametrize("suffix, carrier", [(".mp4", "text track"), (".mkv", "attachment")])
def test_read_results_returns_exactly_what_the_results_jsonl_holds(run, suffix, carrier):
    records = run["records"]
    assert len(records) == 60 and sum(len(r["detections"]) for r in records) > 100
    results = vs.read_results(run["videos"][suffix])
    assert results.carrier == carrier
    assert list(results) == records
    # Detections per frame: the boxes, ids and class names of the records
    seen = 0
    for (index, time_, detections), record in zip(results.frames(), records):
        assert (index, time_) == (record["frame"], record["time"])
        assert len(detections) == len(record["detections"])
        if len(detections):
            seen += 1
            assert detections.tracker_id.tolist() == [d["tracker_id"] for d in record["detections"]]
            np.testing.assert_allclose(detections.xyxy, [d["xyxy"] for d in record["detections"]], atol=1e-3)
            assert detections.data["class_name"].tolist() == [d["class_name"] for d in record["detections"]]
    assert seen > 30
    busy = max(records, key=lambda r: len(r["detections"]))
    assert len(results.detections(busy["frame"])) == len(busy["detections"])


def test_ffprobe_shows_the_labels_track_and_the_records(run):
    mp4 = [(s["codec_type"], s["codec_name"], s["tags"].get("handler_name"), s["disposition"]["default"])
           for s in _streams(run["videos"][".mp4"])]
    assert mp4 == [("video", "h264", "VideoHandler", 1), ("audio", "aac", "SoundHandler", 1),
                   ("subtitle", "mov_text", "vistream-labels", 1), ("subtitle", "mov_text", "vistream-results", 0)]
    mkv = _streams(run["videos"][".mkv"])
    assert [s["codec_type"] for s in mkv] == ["video", "audio", "subtitle", "attachment"]
    assert (mkv[2]["codec_name"], mkv[2]["tags"]["title"], mkv[2]["disposition"]["default"]) == ("ass", "vistream-labels", 1)
    assert mkv[3]["tags"] == {"filename": "vistream-results.jsonl", "mimetype": "application/x-ndjson"}
    assert run["embedded"] == [run["videos"][".mp4"], run["videos"][".mkv"]]


@pytest.mark.parametrize("suffix", CONTAINERS)
def test_video_and_audio_packets_are_copied_untouched(run, suffix):
    def checksums(path: Path) -> str:
        return subprocess.run(_FF + ["-i", str(path), "-map", "0:v", "-map", "0:a", "-c", "copy", "-f", "framemd5", "-"],
                              capture_output=True, text=True, check=True).stdout

    plain, embedded = checksums(run["folder"] / f"plain{suffix}"), checksums(run["videos"][suffix])
    assert embedded == plain and plain.count("\n") > 100


@pytest.mark.parametrize("suffix", CONTAINERS)
def test_labels_are_timed_to_the_frames(run, suffix):
    video = run["videos"][suffix]
    times = _video_times(video)
    events = _srt_events(video)
    records = run["records"]
    assert len(times) == len(records)
    for record, at in zip(records, times):
        showing = [text for start, end, text in events if start <= at + 0.0005 < end]
        expected = label_text(record)
        if expected:
            assert showing == [expected], f"frame {record['frame']}"
        else:
            assert showing == [], f"frame {record['frame']} has no detection, yet shows {showing}"
    assert len(events) < len(records)  # runs of frames with the same labels are one event


@pytest.mark.parametrize("suffix", CONTAINERS)
def test_labels_render_over_the_video_with_the_subtitles_filter(run, suffix):
    video = run["videos"][suffix]
    records = run["records"]
    empty = next(r["frame"] for r in records if not r["detections"])
    busy = next(r["frame"] for r in records[empty:] if len(r["detections"]) >= 3)
    # a frame with labels: the text is drawn in the subtitle area (bottom centre), nowhere else
    with_text, without = _frame(video, busy, True), _frame(video, busy, False)
    changed = np.any(with_text != without, axis=2)
    assert changed.sum() > 300
    rows = np.nonzero(changed.any(axis=1))[0]
    assert rows.min() >= HEIGHT * 0.55, "subtitles drawn outside the bottom of the picture"
    assert not changed[: int(HEIGHT * 0.55)].any()
    # a frame without detections shows nothing
    assert np.array_equal(_frame(video, empty, True), _frame(video, empty, False))


@pytest.mark.parametrize("suffix", CONTAINERS)
def test_remuxing_with_ffmpeg_copy_keeps_the_results_readable(run, suffix, tmp_path):
    remuxed = tmp_path / f"remuxed{suffix}"
    subprocess.run(_FF + ["-i", str(run["videos"][suffix]), "-map", "0", "-c", "copy", str(remuxed)], check=True)
    assert list(vs.read_results(remuxed)) == run["records"]
    assert _srt_events(remuxed) == _srt_events(run["videos"][suffix])


def test_embedding_again_replaces_the_results(run, tmp_path):
    video = tmp_path / "again.mkv"
    shutil.copy(run["videos"][".mkv"], video)
    lines = (run["folder"] / "out.jsonl").read_text().splitlines()
    vs.embed_results(video, lines[:10])
    streams = _streams(video)
    assert [s["codec_type"] for s in streams] == ["video", "audio", "subtitle", "attachment"]
    assert list(vs.read_results(video)) == run["records"][:10]


def test_a_video_without_results_raises_a_typed_error(test_mp4, tmp_path):
    with pytest.raises(vs.NoEmbeddedResultsError, match="no embedded results") as caught:
        vs.read_results(test_mp4)
    assert isinstance(caught.value, vs.VistreamError) and isinstance(caught.value, LookupError)
    with pytest.raises(vs.SourceNotFoundError):
        vs.read_results(tmp_path / "missing.mkv")
    with pytest.raises(ValueError, match="local .mp4"):
        vs.embed_results(tmp_path / "clip.ts", [])


_FAILING_EMBED = """
import os, resource, signal, sys
import vistream as vs
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
video, results = sys.argv[1], sys.argv[2]
limit = os.path.getsize(video) // 2
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    vs.embed_results(video, results)
except vs.EncoderError as error:
    print(type(error).__name__, error, *error.__notes__, sep="\\n")
    sys.exit(3)
"""


@pytest.mark.parametrize("suffix", CONTAINERS)
def test_a_failed_embedding_leaves_the_video_as_it_was(run, suffix, tmp_path):
    # A real failure half-way: the file size limit (RLIMIT_FSIZE) stops the new file at half the video.
    video = tmp_path / f"video{suffix}"
    shutil.copy(run["folder"] / f"plain{suffix}", video)
    before = video.read_bytes()
    child = subprocess.run([sys.executable, "-c", _FAILING_EMBED, str(video), str(run["folder"] / "out.jsonl")],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 3, child.stdout + child.stderr
    assert "File too large" in child.stdout
    assert f"results were not embedded; {video} was left as it was" in child.stdout
    assert video.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [video.name], "the partial file must be removed"
    with pytest.raises(vs.NoEmbeddedResultsError):
        vs.read_results(video)


def test_cli_interrupted_mid_run_keeps_the_video_and_embeds_the_frames_done(test_mp4, tmp_path):
    mkv, mp4, results = tmp_path / "out.mkv", tmp_path / "out.mp4", tmp_path / "out.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "vistream", "play", str(test_mp4), "--headless", "-q",
                                "--detector", "motion", "--tracker", "bytetrack", "--vfilter", f"scale={WIDTH}:{HEIGHT}",
                                "--output", str(mkv), "--also-output", str(mp4), "--results", str(results),
                                "--embed-results"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # well under way: the partial results file holds a few frames
        assert process.poll() is None, process.communicate()
        partial = list(tmp_path.glob("out.partial-*.jsonl"))
        if partial and partial[0].stat().st_size > 20_000:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "(interrupted)" in stdout
    processed = int(stdout.split(" frames processed")[0].rsplit(" ", 1)[1])
    assert 0 < processed < 240, stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.mkv", "out.mp4"], "no partial file left"
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(processed))
    for video in (mkv, mp4):
        assert f"wrote {video} (results embedded)" in stdout
        assert len(_video_times(video)) == processed  # the video is whole: every frame processed is in it
        assert list(vs.read_results(video)) == records


def test_cli_refuses_embed_results_without_a_container_for_them(test_mp4, tmp_path, capsys):
    from vistream.cli import main

    base = ["play", str(test_mp4), "--headless", "--detector", "motion", "--embed-results"]
    assert main(base) == 2
    assert "--embed-results puts the results into the --output video" in capsys.readouterr().err
    assert main(base + ["--output", str(tmp_path / "out.ts")]) == 2
    assert "must be one local .mp4, .m4v, .mov or .mkv" in capsys.readouterr().err
    assert main(["play", str(test_mp4), "--headless", "--output", str(tmp_path / "out.mkv"), "--embed-results"]) == 2
    assert "--embed-results embeds what a detector finds" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_pipeline_closed_without_a_video_warns_and_embeds_nothing():
    pipeline = vs.Pipeline(lambda image: vs.Detections(xyxy=[[1, 2, 3, 4]]), embed_results=True)

    class Picture:  # a user frame object: index, time, array (see Pipeline)
        def __init__(self, index: int) -> None:
            self.index, self.time, self.array = index, index / 30, np.zeros((8, 8, 3), np.uint8)

    for index in range(3):
        pipeline(Picture(index))
    with pytest.warns(UserWarning, match="close\\(\\) got no video="):
        pipeline.close()
    assert pipeline.embedded == []
