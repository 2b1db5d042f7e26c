"""MultiPlayer (issue 15): many sources in one process, batched detection, per-source trackers,
outputs, results and stats; a stalled live source never holds the others back."""
from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import vistream
from vistream.detect.motion import MotionDetector
from vistream.info import probe
from vistream.track import ByteTrack

# name -> (size, rate): four sources of different sizes and frame rates, 2 s each
CLIPS = {"small": ("320x240", 25), "medium": ("640x360", 30), "large": ("1280x720", 24), "slow": ("480x270", 15)}
SECONDS = 2


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict:
    """The four clips, H.264 + AAC (the sound is copied into the outputs)."""
    directory = tmp_path_factory.mktemp("multi")
    paths = {}
    for name, (size, rate) in CLIPS.items():
        path = directory / f"{name}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}:rate={rate}:duration={SECONDS}", "-f", "lavfi", "-i",
                        f"sine=frequency=440:duration={SECONDS}", "-c:v", "libx264", "-preset", "ultrafast",
                        "-pix_fmt", "yuv420p", "-g", str(rate), "-c:a", "aac", "-shortest", str(path)],
                       check=True, capture_output=True)
        paths[name] = path
    return paths


def _probe(path: Path) -> dict:
    """ffprobe's decoded video frame count and stream durations."""
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_type,nb_read_frames,duration", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


@pytest.fixture
def stalled_server():
    """A TCP listener on 127.0.0.1 that accepts connections and never sends a byte."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except socket.timeout:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}", accepted
    stop.set()
    thread.join()
    listener.close()
    for connection in accepted:
        connection.close()


def test_four_sources_offline_every_frame_batched_detection_per_source_tracks_and_outputs(clips, tmp_path):
    detector = vistream.PerSourceDetector(lambda: MotionDetector(min_area=0.001))
    seen = {name: [] for name in CLIPS}
    batch_sizes = []
    keys_by_source = {name: set() for name in CLIPS}

    multi = vistream.MultiPlayer({name: str(path) for name, path in clips.items()}, detector=detector,
                                 tracker=ByteTrack, outputs=str(tmp_path / "out_{source}.mp4"),
                                 results={name: tmp_path / f"res_{name}.jsonl" for name in CLIPS},
                                 max_batch=8, max_wait=0.05, writer_options={"preset": "ultrafast"})

    @multi.on_batch
    def collect(frames):
        batch_sizes.append(len(frames))
        for frame in frames:
            seen[frame.source].append((frame.index, frame.time))
            assert frame.array.shape[:2] == tuple(int(v) for v in reversed(CLIPS[frame.source][0].split("x")))
            assert frame.detections is not None and frame.detections.tracker_id is not None
            keys_by_source[frame.source].update(frame.track_keys)
            frame.array[:8, :8] = 255  # edits reach the output

    stats = multi.run()

    for name, (size, rate) in CLIPS.items():
        expected = SECONDS * rate
        # every frame of every source, in order, once
        assert [index for index, _ in seen[name]] == list(range(expected)), name
        source = stats.sources[name]
        assert (source.state, source.frames, source.drops, source.error) == ("finished", expected, 0, None)
        output = tmp_path / f"out_{name}.mp4"
        streams = _probe(output)
        assert int(streams["video"]["nb_read_frames"]) == expected
        assert float(streams["video"]["duration"]) == pytest.approx(SECONDS, abs=0.5 / rate)
        assert float(streams["audio"]["duration"]) == pytest.approx(SECONDS, abs=0.05)  # sound copied
        report = probe(str(output))  # what `vistream info` reports
        assert (report.frame_count, report.frame_count_exact, report.duration) == (expected, True, SECONDS)
        assert (report.width, report.height) == tuple(int(v) for v in size.split("x"))
        records = [json.loads(line) for line in (tmp_path / f"res_{name}.jsonl").read_text().splitlines()]
        assert [r["frame"] for r in records] == list(range(expected))
    # one detector call per batch, and batches mix sources
    assert detector.calls == stats.batches == len(batch_sizes)
    assert sum(batch_sizes) == stats.frames == sum(SECONDS * rate for _, rate in CLIPS.values())
    assert stats.mean_batch_size > 1.5 and max(batch_sizes) <= 8
    assert set(detector.detectors) == set(CLIPS)  # one stateful detector per source
    # one tracker per source: ids restart per source, and (source, id) never collides
    ids = {name: {i for _, i in keys} for name, keys in keys_by_source.items()}
    assert all(ids.values()), ids
    assert any(ids[a] & ids[b] for a in CLIPS for b in CLIPS if a < b), "expected per-source ids to overlap"
    all_keys = [key for keys in keys_by_source.values() for key in keys]
    assert len(all_keys) == len(set(all_keys)) and all(key[0] in CLIPS for key in all_keys)


def test_stalled_live_source_does_not_hold_back_the_others(clips, stalled_server):
    url, accepted = stalled_server
    files = {name: str(clips[name]) for name in ("small", "medium", "slow")}
    waits = []

    def measure(frames):
        now = time.monotonic()
        waits.extend(now - frame.decoded_at for frame in frames if frame.source != "camera")

    multi = vistream.MultiPlayer({**files, "camera": url}, realtime=True, max_wait=0.05, on_batch=measure,
                                 source_options={"camera": {"timeout": 1.0, "reconnect_delay": 0.2,
                                                            "reconnect_attempts": 1}})
    started = time.monotonic()
    stats = multi.run()
    elapsed = time.monotonic() - started

    assert accepted, "the source never connected to the stalled server"
    camera = stats.sources["camera"]
    assert camera.state == "failed" and "Timeout" in camera.error and camera.frames == 0
    assert camera.reconnects >= 1  # it was retried with the reconnect policy before giving up
    for name in files:
        source = stats.sources[name]
        expected = SECONDS * CLIPS[name][1]
        assert source.state == "finished" and source.frames + source.drops == expected
        # at media pace: done within the clip's duration plus a margin, whatever the camera does
        assert source.finished_after < SECONDS + 1.5, (name, source.finished_after)
    # no frame waited for the stalled source: the batch left after max_wait at the latest
    assert np.percentile(waits, 90) < 0.05 + 0.25, max(waits)
    assert elapsed < 10


def test_realtime_drops_and_counts_when_python_is_slow_offline_never_drops(clips):
    def slow(frames):
        time.sleep(0.15)

    realtime = vistream.MultiPlayer([str(clips["small"])], realtime=True, on_batch=slow, queue_size=2).run()
    source = realtime.sources[0]
    assert source.drops > 0 and source.frames + source.drops == SECONDS * 25
    assert source.finished_after < SECONDS + 1.0  # media pace, not Python's

    offline = vistream.MultiPlayer([str(clips["slow"])], on_batch=lambda frames: time.sleep(0.02)).run()
    assert (offline.sources[0].frames, offline.sources[0].drops) == (SECONDS * 15, 0)


def test_a_broken_source_fails_alone_and_an_on_batch_error_stops_everything(clips, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n" * 100)
    stats = vistream.MultiPlayer([str(clips["slow"]), str(broken)]).run()
    assert stats.sources[0].state == "finished" and stats.sources[0].frames == SECONDS * 15
    assert stats.sources[1].state == "failed" and stats.sources[1].error

    class Boom(RuntimeError):
        pass

    def explode(frames):
        if any(frame.index == 5 for frame in frames):
            raise Boom("from on_batch")

    multi = vistream.MultiPlayer([str(clips["small"]), str(clips["medium"])], on_batch=explode,
                                 outputs=str(tmp_path / "o_{source}.mp4"))
    with pytest.raises(Boom):
        multi.run()
    assert all(s.state in ("stopped", "finished") for s in multi.stats.sources.values())
    assert not (tmp_path / "o_0.mp4").exists()  # an interrupted output is kept under its partial name
    assert list(tmp_path.glob("o_0.partial-*.mp4"))


def test_bad_arguments_are_refused_clearly(clips):
    with pytest.raises(ValueError, match="at least one source"):
        vistream.MultiPlayer([])
    with pytest.raises(ValueError, match="max_batch"):
        vistream.MultiPlayer([str(clips["small"])], max_batch=0)
    with pytest.raises(ValueError, match="max_wait"):
        vistream.MultiPlayer([str(clips["small"])], max_wait=-1)
    with pytest.raises(ValueError, match="{source}"):
        vistream.MultiPlayer([str(clips["small"]), str(clips["slow"])], outputs="same.mp4")
    with pytest.raises(TypeError, match="factory"):
        vistream.MultiPlayer([str(clips["small"])], tracker=ByteTrack())
    multi = vistream.MultiPlayer([str(clips["slow"])])
    multi.run()
    with pytest.raises(vistream.VistreamError, match="once"):
        multi.run()


def test_stop_ends_a_source_still_connecting_to_a_silent_server(clips, stalled_server):
    # The open of a silent server blocks for its whole timeout (60 s here): stop() used to wait
    # for it, since a source still connecting has no Reader yet to close. Its CancelToken ends it.
    url, accepted = stalled_server
    multi = vistream.MultiPlayer({"file": str(clips["small"]), "camera": url}, realtime=True,
                                 source_options={"camera": {"timeout": 60.0, "reconnect_attempts": 0}})
    stopper = threading.Timer(2.0, multi.stop)
    stopper.start()
    started = time.monotonic()
    try:
        stats = multi.run()
    finally:
        stopper.cancel()
    elapsed = time.monotonic() - started
    assert accepted, "the source never connected to the stalled server"
    assert elapsed < 2.0 + 3.0, elapsed
    assert stats.sources["camera"].state == "stopped" and stats.sources["camera"].frames == 0


def test_cancel_token_ends_a_reader_open_from_another_thread(stalled_server):
    url, accepted = stalled_server
    token = vistream.CancelToken()
    threading.Timer(0.5, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(vistream.CancelledError):
        vistream.Reader(url, timeout=60.0, cancel=token)
    assert time.monotonic() - started < 0.5 + 2.0
    assert token.cancelled and accepted


def test_annotators_draw_after_on_batch_onto_what_the_outputs_write(clips, tmp_path):
    from vistream.annotate import BoxAnnotator

    box = (60, 40, 200, 160)  # x1, y1, x2, y2: inside every clip

    def fixed_box(image):
        return vistream.Detections(xyxy=[box], confidence=[0.9], class_id=[0])

    names = ["small", "medium"]
    raw_edges = {name: [] for name in names}
    multi = vistream.MultiPlayer({name: str(clips[name]) for name in names}, detector=fixed_box,
                                 annotators=[BoxAnnotator(thickness=6)],
                                 outputs=str(tmp_path / "drawn_{source}.mkv"),
                                 writer_options={"encoder": "libx264rgb", "crf": 0, "preset": "ultrafast"})

    @multi.on_batch
    def look(frames):
        for frame in frames:  # on_batch sees the frame as decoded: nothing drawn yet
            raw_edges[frame.source].append(frame.array[box[1]:box[1] + 4, box[0]:box[2]].copy())

    stats = multi.run()
    for name in names:
        rate = CLIPS[name][1]
        assert stats.sources[name].frames == SECONDS * rate
        with vistream.Reader(tmp_path / f"drawn_{name}.mkv") as drawn, vistream.Reader(clips[name]) as source:
            pairs = list(zip(drawn, source))
        assert len(pairs) == SECONDS * rate
        for number, (out, original) in enumerate(pairs):
            top_edge = (slice(box[1], box[1] + 4), slice(box[0], box[2]))
            inside = (slice(box[1] + 20, box[3] - 20), slice(box[0] + 20, box[2] - 20))
            assert np.array_equal(raw_edges[name][number], original.array[top_edge]), (name, number)
            # the box's edge was drawn over (a solid line), its inside kept (lossless output)
            assert not np.array_equal(out.array[top_edge], original.array[top_edge]), (name, number)
            assert len(np.unique(out.array[top_edge].reshape(-1, 3), axis=0)) == 1, (name, number)
            assert np.array_equal(out.array[inside], original.array[inside]), (name, number)


def test_annotators_are_checked_when_the_multiplayer_is_made(clips):
    with pytest.raises(TypeError, match="annotator"):
        vistream.MultiPlayer([str(clips["small"])], annotators=[object()])

    class TorchOnly:
        accepts = {"torch"}

        def annotate(self, image, detections):
            return image

    with pytest.raises(TypeError, match="numpy"):
        vistream.MultiPlayer([str(clips["small"])], annotators=[TorchOnly()])
    with pytest.raises(TypeError, match="list"):
        vistream.MultiPlayer([str(clips["small"])], annotators=BoxAnnotatorLike())


class BoxAnnotatorLike:
    def annotate(self, image, detections):
        return image
