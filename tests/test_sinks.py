"""Result sinks (issue 14): every frame's record reaches a real local HTTP server exactly once and
in order although it fails the first requests; a full or dead target never blocks the pipeline;
the CSV sink speaks supervision's CSVSink header; a raising sink stops neither the pipeline nor
the video; the history keeps results per media time in its window; the CLI's --sink."""
from __future__ import annotations

import csv
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import pytest

import vistream
from vistream import Detections, Pipeline, Reader, Schedule
from vistream.sinks import CsvSink, JsonlSink, QueuedSink, ResultHistory, Sink, WebhookSink
from vistream.track import ByteTrack

FRAMES = 240  # python/test.mp4


class _WalkingBoxes:
    """A detector with a known answer: two boxes walking across the frame, a third every 3rd frame."""

    accepts = frozenset({"numpy"})

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image: np.ndarray) -> Detections:
        k = self.calls
        self.calls += 1
        boxes = [[10 + 4 * k, 100, 60 + 4 * k, 220], [900 - 3 * k, 300, 960 - 3 * k, 420]]
        if k % 3 == 0:
            boxes.append([500, 50, 540, 90])
        xyxy = np.array(boxes, np.float32)
        return Detections(xyxy=xyxy, confidence=np.full(len(boxes), 0.9, np.float32),
                          class_id=np.zeros(len(boxes), int), class_names={0: "person"})


class FlakyCollector:
    """A real HTTP server on 127.0.0.1 that fails its first requests — ``failures`` lists what
    each does: "500" answers 500, "close" reads the body and closes the connection without an
    answer, "hang" never answers — then keeps every accepted batch."""

    def __init__(self, failures: List[str]) -> None:
        self.failures = list(failures)
        self.batches: List[list] = []
        self.keys: List[str] = []        # Idempotency-Key of every request, in arrival order
        self.requests = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with collector.lock:
                    collector.requests += 1
                    collector.keys.append(self.headers.get("Idempotency-Key"))
                    action = collector.failures.pop(0) if collector.failures else "ok"
                if action == "500":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if action == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if action == "hang":
                    collector.release.wait(30)
                    self.close_connection = True
                    return
                with collector.lock:
                    collector.batches.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/results"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def records(self) -> list:
        with self.lock:
            return [record for batch in self.batches for record in batch]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def collector_factory():
    made: List[FlakyCollector] = []

    def make(failures: List[str]) -> FlakyCollector:
        made.append(FlakyCollector(failures))
        return made[-1]

    yield make
    for collector in made:
        collector.close()


def _count(frames, detections) -> int:
    return len(detections)


def run_pipeline(source: Path, results: Path, sinks, *, pace: float = 0.0, on_frame=None) -> Pipeline:
    """The test clip through detect -> track -> a plugin, with a .jsonl results file and the sinks."""
    pipeline = Pipeline(_WalkingBoxes(), ByteTrack(frame_rate=30), plugins=[Schedule(_count, name="count")],
                        results=str(results), sinks=sinks)
    error: Optional[BaseException] = None
    try:
        with Reader(str(source), format="bgr24") as reader:
            for frame in reader:
                pipeline(frame)
                if on_frame is not None:
                    on_frame(frame)
                if pace:
                    time.sleep(pace)
    except BaseException as caught:
        error = caught
        raise
    finally:
        pipeline.close(error)
    return pipeline


def file_records(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_webhook_delivers_every_record_once_in_order_through_failures(test_mp4, tmp_path, collector_factory):
    # The first four requests fail: two 500s, a connection closed without an answer, another 500.
    collector = collector_factory(["500", "close", "500", "close"])
    sink = WebhookSink(collector.url, batch_size=16, flush_interval=0.05, backoff=0.05, max_backoff=0.2)
    run_pipeline(test_mp4, tmp_path / "results.jsonl", [sink])

    expected = file_records(tmp_path / "results.jsonl")
    assert len(expected) == FRAMES
    assert collector.records() == expected  # each frame's .jsonl record, exactly once, in frame order
    stats = sink.stats
    assert (stats.records, stats.sent, stats.dropped, stats.pending) == (FRAMES, FRAMES, 0, 0)
    assert stats.failed == 4 and stats.retried >= 4  # four failed attempts, the same batch each time
    # a retried batch is the same batch: it keeps its Idempotency-Key
    assert len(collector.keys) == collector.requests == len(collector.batches) + 4
    assert len(set(collector.keys[:5])) == 1, collector.keys[:6]


def test_webhook_never_blocks_the_pipeline_drops_and_counts_and_closes_on_time(test_mp4, tmp_path,
                                                                              collector_factory):
    # A server that accepts the connection and never answers: the worker is stuck on one batch.
    collector = collector_factory(["hang"] * 50)
    sink = WebhookSink(collector.url, batch_size=10, flush_interval=0.0, timeout=30, max_queue=20,
                       close_timeout=1.0)
    slowest = 0.0

    class Timed(Sink):
        def write(self, record) -> None:
            pass

    pipeline = Pipeline(_WalkingBoxes(), sinks=[sink, Timed()])
    with Reader(str(test_mp4), format="bgr24") as reader:
        for frame in reader:
            started = time.perf_counter()
            pipeline(frame)
            slowest = max(slowest, time.perf_counter() - started)
    closing = time.monotonic()
    pipeline.close()
    closed_in = time.monotonic() - closing

    # a blocked write would wait for the hung request (30 s timeout); margins for a loaded machine
    assert slowest < 5.0, f"a frame waited {slowest:.2f} s on the sink"
    assert closed_in < 5.0, f"close took {closed_in:.1f} s with close_timeout=1 (the request hangs for 30 s)"
    stats = sink.stats
    assert stats.records == FRAMES and stats.sent == 0 and stats.pending == 0
    assert stats.dropped == FRAMES  # 10 in flight at the deadline + everything the full queue pushed out
    assert pipeline.sinks[1].stats.sent == FRAMES  # the other sink got every record meanwhile


def test_raising_sink_stops_neither_the_pipeline_nor_the_video_nor_the_results(test_mp4, tmp_path):
    calls = []

    def broken(record) -> None:
        calls.append(record["frame"])
        raise RuntimeError("sink bug")

    class BrokenClose(JsonlSink):
        def close(self, timeout=None) -> None:
            super().close(timeout)
            raise OSError("disk went away")

    player = vistream.Player(str(test_mp4), output=str(tmp_path / "out.mp4"), display=False, audio=False,
                             end=2.0, vfilter="scale=320:-2")
    pipeline = Pipeline(_WalkingBoxes(), ByteTrack(frame_rate=30), results=str(tmp_path / "r.jsonl"),
                        sinks=[broken, BrokenClose(tmp_path / "sink.jsonl")])
    player.on_frame(pipeline)
    stats = player.run()
    pipeline.close()

    frames = stats.frames_processed
    assert frames >= 55 and stats.frames_encoded == frames
    with Reader(str(tmp_path / "out.mp4")) as reader:
        assert sum(1 for _ in reader) == frames
    assert len(calls) == frames
    failing = pipeline.sinks[0].stats
    assert (failing.records, failing.sent, failing.failed, failing.dropped) == (frames, 0, frames, frames)
    assert "RuntimeError: sink bug" in failing.last_error
    assert file_records(tmp_path / "r.jsonl") == file_records(tmp_path / "sink.jsonl")


def test_csv_sink_header_is_supervisions_plus_class_name_and_reads_back(test_mp4, tmp_path):
    import supervision as sv  # setup.sh --test installs supervision==0.29.1 (a missing one is a failure)

    assert sv.__version__ == "0.29.1"
    sink = CsvSink(tmp_path / "d.csv")
    run_pipeline(test_mp4, tmp_path / "r.jsonl", [sink])

    # supervision's own CSVSink on the same kind of data: detections whose data has class_name,
    # appended with the frame and time as custom data
    reference = tmp_path / "sv.csv"
    detections = sv.Detections(xyxy=np.array([[1, 2, 3, 4]], np.float32), confidence=np.array([0.5]),
                               class_id=np.array([0]), tracker_id=np.array([7]),
                               data={"class_name": np.array(["person"])})
    with sv.CSVSink(str(reference)) as sv_sink:
        sv_sink.append(detections, custom_data={"frame": 0, "time": 0.0})
    with open(reference, newline="") as file:
        sv_header = next(csv.reader(file))
    with open(tmp_path / "d.csv", newline="") as file:
        rows = list(csv.DictReader(file))
        file.seek(0)
        header = next(csv.reader(file))
    assert header == sv_header
    assert set(header) - set(sv.detection.tools.csv_sink.BASE_HEADER) == {"class_name", "frame", "time"}

    # the rows are the .jsonl file's detections, one per row
    expected = [(record["frame"], record["time"], d) for record in file_records(tmp_path / "r.jsonl")
                for d in record["detections"]]
    assert len(rows) == len(expected) > FRAMES
    for row, (frame, t, d) in zip(rows, expected):
        assert int(row["frame"]) == frame and float(row["time"]) == t
        assert [float(row[k]) for k in ("x_min", "y_min", "x_max", "y_max")] == d["xyxy"]
        assert int(row["class_id"]) == d["class_id"] and float(row["confidence"]) == d["confidence"]
        assert int(row["tracker_id"]) == d["tracker_id"] and row["class_name"] == "person"


def test_history_keeps_results_per_media_time_in_its_window(test_mp4):
    history = ResultHistory(max_items=50, max_seconds=1.0)
    pipeline = Pipeline(_WalkingBoxes(), plugins=[Schedule(_count, name="count", every_n_frames=2)],
                        history=history)
    times = []
    with Reader(str(test_mp4), format="bgr24") as reader:
        for frame in reader:
            pipeline(frame)
            times.append(frame.time)
    assert pipeline.history is history
    detections = history["detections"]
    # the frames of the last second (31 at 30 fps: the 1.0 s bound includes both ends), in time order
    assert list(detections) == [t for t in times if t >= times[-1] - 1.0 - 1e-9]
    assert all(isinstance(d, Detections) for d in detections.values())
    counts = history["count"]
    assert list(counts) == [t for i, t in enumerate(times) if i % 2 == 0 and t >= times[-1] - 1.0 - 1e-9]
    assert set(counts.values()) == {2, 3}
    assert history.at("count", times[-1]) == counts[max(counts)]

    # the count bound, and a seek back: the new values replace, the entries farthest ahead go
    small = ResultHistory(max_items=5, max_seconds=None)
    pipeline = Pipeline(_WalkingBoxes(), plugins=[Schedule(_count, name="count")], history=small)
    with Reader(str(test_mp4), format="bgr24") as reader:
        for index in list(range(20)) + list(range(3, 6)):
            pipeline(reader[index])
    assert [round(t * 30) for t in small["count"]] == [3, 4, 5, 15, 16]
    with pytest.raises(ValueError, match="detections"):
        Pipeline(plugins=[Schedule(_count, name="detections")])


def test_queued_sink_subclass_posts_in_batches(test_mp4, tmp_path):
    """The subclassable dispatcher: a user's send() gets ordered batches and retries."""
    class Batches(QueuedSink):
        def __init__(self) -> None:
            super().__init__("mine", batch_size=25, flush_interval=10.0, backoff=0.01)
            self.got: List[List[dict]] = []
            self.fail_once = True

        def send(self, records):
            if self.fail_once:
                self.fail_once = False
                raise ConnectionError("first try fails")
            self.got.append([json.loads(r) for r in records])

    sink = Batches()
    run_pipeline(test_mp4, tmp_path / "r.jsonl", [sink])
    assert [len(b) for b in sink.got] == [25] * 9 + [15]  # full batches; the rest flushed by close()
    assert [r for b in sink.got for r in b] == file_records(tmp_path / "r.jsonl")
    assert (sink.stats.failed, sink.stats.retried, sink.stats.sent) == (1, 25, FRAMES)


def test_cli_sink_flag_sends_the_results_records(test_mp4, tmp_path, collector_factory):
    collector = collector_factory(["500"])
    results, csv_path = tmp_path / "r.jsonl", tmp_path / "d.csv"
    run = subprocess.run([sys.executable, "-m", "vistream", "play", str(test_mp4), "--headless", "--end", "1",
                          "--detector", "motion", "--results", str(results), "--sink", collector.url,
                          "--sink", f"csv={csv_path}", "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert collector.records() == file_records(results)
    frames = len(collector.records())
    assert f"sink webhook:{collector.url}: {frames} of {frames} records sent" in run.stdout
    assert csv_path.read_text().startswith("x_min,y_min,x_max,y_max,class_id,confidence,tracker_id,class_name,")
    bad = subprocess.run([sys.executable, "-m", "vistream", "play", str(test_mp4), "--sink", "ftp://x/y"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--sink" in bad.stderr and "webhook=URL" in bad.stderr
