"""``vistream batch`` / ``vistream.batch.run``: many files on a process pool or Ray, resumable.

Six short clips are generated with ffmpeg (160x120, 30 fps, 2 s = 60 frames; each a different
lavfi source, so each gives different detections)::

    ffmpeg -f lavfi -i testsrc2=size=160x120:rate=30:duration=2,hue=h=H -c:v libx264 -preset veryfast
           -pix_fmt yuv420p -g 30 clipN.mp4        (H = 0, 60, ... 300)

Results must not depend on how a batch ran: the reference is a sequential run in this process
(``workers=0``); pool runs, a killed-and-resumed CLI run and a Ray run must give the same JSONL
records (less ``processing_ms``, the wall-clock time each frame took) and frame counts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ffprobe_count

CLIPS = 6
CLIP_FRAMES = 60

# A MotionDetector that crashes its worker process (os._exit, as a segfault would) the first time
# it runs while its marker file is missing (the worker dies once, the retry finds the marker), and
# that can take a minimum time per frame (so a test can stop a batch between two sources on any
# machine, however fast).
PLUGINS = '''
import os
import time
from vistream.detect import MotionDetector


class CrashOnceMotion(MotionDetector):
    def __init__(self, crash_marker=None, frame_delay=0.0, **options):
        super().__init__(**options)
        self.crash_marker = crash_marker
        self.frame_delay = frame_delay

    def __call__(self, image):
        if self.crash_marker and not os.path.exists(self.crash_marker):
            open(self.crash_marker, "w").close()
            os._exit(3)
        time.sleep(self.frame_delay)
        return super().__call__(image)
'''


def _config(detector: dict) -> dict:
    return {"detector": detector, "tracker": "bytetrack", "annotators": ["box", "label"],
            "outputs": "{key}.mp4", "results": "{key}.jsonl"}


def _write_yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch-clips")
    paths = []
    for n in range(CLIPS):
        path = folder / f"clip{n}.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size=160x120:rate=30:duration=2,hue=h={60 * n}", "-c:v", "libx264",
                        "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30", str(path)], check=True)
        paths.append(str(path))
    assert [ffprobe_count(p) for p in paths] == [CLIP_FRAMES] * CLIPS
    return paths


@pytest.fixture(scope="module")
def plugins_dir(tmp_path_factory):
    """The crash-once detector as an importable module (also for worker processes and Ray)."""
    folder = tmp_path_factory.mktemp("batch-plugins")
    (folder / "batch_test_plugins.py").write_text(textwrap.dedent(PLUGINS))
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def reference(clips, tmp_path_factory):
    """A sequential run in this process: the records every other run must reproduce."""
    from vistream import batch

    out = tmp_path_factory.mktemp("batch-sequential")
    results = batch.run(clips, pipeline=_config({"name": "motion", "options": {"min_area": 0.001}}),
                        output_dir=out, workers=0, progress=False)
    assert [r.error for r in results] == [None] * CLIPS
    assert [r.frames for r in results] == [CLIP_FRAMES] * CLIPS
    return {Path(r.source).stem: _records(out / f"{Path(r.source).stem}.jsonl") for r in results}


def _records(path) -> list:
    """The JSONL records less processing_ms (wall-clock time, different on every run)."""
    records = []
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        record.pop("processing_ms", None)
        records.append(record)
    return records


def _assert_same_results(folder: Path, reference: dict) -> None:
    for key, expected in reference.items():
        got = _records(folder / f"{key}.jsonl")
        assert len(got) == CLIP_FRAMES, key
        assert got == expected, f"{key}: records differ from the sequential run"
    # the detections are real: a batch of empty records would compare equal too
    assert sum(len(r["detections"]) for records in reference.values() for r in records) > 100


def _manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / "manifest.json").read_text())["sources"]
    except (FileNotFoundError, ValueError):  # not written yet (it is replaced whole, never partial)
        return {}


def _done(folder: Path) -> dict:
    return {source: entry for source, entry in _manifest(folder).items() if entry["status"] == "done"}


def _children(pid: int) -> list:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _batch_cli(clips, config: Path, out: Path, plugins_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vistream", "batch", *clips, "--pipeline", str(config),
                             "--output-dir", str(out), "--workers", "1", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(plugins_dir)})


def _stop_when(process: subprocess.Popen, out: Path, done: int, sig: int, timeout: float = 60) -> list:
    """Sends ``sig`` once the manifest lists ``done`` finished sources; returns the worker pids seen."""
    deadline = time.monotonic() + timeout
    workers: set = set()
    while len(_done(out)) < done:
        assert process.poll() is None, f"the batch ended before it was stopped: {process.communicate()}"
        assert time.monotonic() < deadline, "the batch made no progress"
        workers.update(_children(process.pid))
        time.sleep(0.02)
    workers.update(_children(process.pid))
    process.send_signal(sig)
    return sorted(workers)


def _wait_gone(pids, timeout: float = 10) -> list:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _final_files_complete(out: Path) -> None:
    """Every results file under a final name is whole: one record per frame of its clip."""
    for path in out.glob("*.jsonl"):
        assert len(_records(path)) == CLIP_FRAMES, f"{path.name} is under its final name but incomplete"


def test_batch_cli_stopped_killed_and_resumed_finishes_only_the_missing_sources(clips, reference, plugins_dir,
                                                                                tmp_path):
    # at least 1.2 s per source (20 ms per frame), so the batch is stopped between sources
    config = _write_yaml(tmp_path / "pipeline.yaml", _config({"name": "batch_test_plugins:CrashOnceMotion",
                                                              "options": {"min_area": 0.001, "frame_delay": 0.02}}))
    out = tmp_path / "out"

    # 1. SIGTERM once a source is done: exit 143, the workers gone, nothing half-written under a final name
    first = _batch_cli(clips, config, out, plugins_dir)
    workers = _stop_when(first, out, 1, signal.SIGTERM)
    stdout, stderr = first.communicate(timeout=30)
    assert first.returncode == 128 + signal.SIGTERM, stderr
    assert workers and not _wait_gone(workers), "workers outlived the stopped batch"
    statuses = {entry["status"] for entry in _manifest(out).values()}
    assert statuses <= {"done", "interrupted"}, statuses
    _final_files_complete(out)

    # 2. SIGKILL (no chance to clean up) once two more are done: the workers die with the driver
    done_before_kill = len(_done(out))
    second = _batch_cli(clips, config, out, plugins_dir)
    workers = _stop_when(second, out, min(done_before_kill + 2, CLIPS - 1), signal.SIGKILL)
    second.communicate(timeout=30)
    # at once: a worker left running would go on writing into the directory the re-run uses
    assert not _wait_gone(workers, timeout=1.0), "workers outlived their killed driver"
    done = _done(out)
    assert 2 <= len(done) < CLIPS, f"{len(done)} sources done when killed: nothing left to resume"
    _final_files_complete(out)
    kept = {source: (entry["finished"], [(out / name).stat().st_mtime_ns for name in entry["outputs"]])
            for source, entry in done.items()}

    # 3. the re-run redoes only the sources the manifest does not list as done
    third = _batch_cli(clips, config, out, plugins_dir)
    stdout, stderr = third.communicate(timeout=120)
    assert third.returncode == 0, stderr
    skipped = [line for line in stdout.splitlines() if "skipped (done before)" in line]
    assert len(skipped) == len(done), stdout
    manifest = _manifest(out)
    assert all(entry["status"] == "done" for entry in manifest.values()) and len(manifest) == CLIPS
    for source, (finished, mtimes) in kept.items():
        entry = manifest[source]
        assert entry["finished"] == finished, f"{source} was redone"
        assert [(out / name).stat().st_mtime_ns for name in entry["outputs"]] == mtimes, f"{source} was rewritten"
    for source in set(manifest) - set(kept):
        assert manifest[source]["finished"] > max(f for f, _ in kept.values())
    assert sorted(entry["frames"] for entry in manifest.values()) == [CLIP_FRAMES] * CLIPS
    _assert_same_results(out, reference)
    assert sorted(p.name for p in out.glob("*.mp4")) == sorted(f"{Path(c).stem}.mp4" for c in clips)
    assert all(ffprobe_count(out / f"{Path(c).stem}.mp4") == CLIP_FRAMES for c in clips)

    # one Parquet table over all six, with a source column
    import pyarrow.parquet as pq

    table = pq.read_table(out / "results.parquet").to_pydict()
    assert set(table["source"]) == set(clips)
    for clip in clips:
        expected = [(r["frame"], d["xyxy"][0]) for r in reference[Path(clip).stem] for d in r["detections"]]
        rows = [(f, x1) for s, f, x1 in zip(table["source"], table["frame"], table["x1"]) if s == clip]
        assert [f for f, _ in rows] == [f for f, _ in expected], clip
        assert [x for _, x in rows] == pytest.approx([x for _, x in expected], abs=1e-3), clip


def test_pool_and_ray_survive_a_crashing_worker_and_match_the_sequential_run(clips, reference, plugins_dir,
                                                                              tmp_path):
    from vistream import batch

    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")

    # the pool: the worker running the first source dies once; a broken source is recorded, not fatal
    config = _config({"name": "batch_test_plugins:CrashOnceMotion",
                      "options": {"min_area": 0.001, "crash_marker": str(tmp_path / "pool-crashed")}})
    results = batch.run([*clips, str(not_video)], pipeline=config, output_dir=tmp_path / "pool", workers=2,
                        progress=False)
    assert (tmp_path / "pool-crashed").exists(), "no worker crashed: the retry was not tested"
    assert [r.source for r in results] == [*clips, str(not_video)]
    assert [r.frames for r in results] == [CLIP_FRAMES] * CLIPS + [0]
    assert all(r.error is None for r in results[:CLIPS]), [r.error for r in results]
    assert results[-1].error and results[-1].outputs == ()
    _assert_same_results(tmp_path / "pool", reference)

    # Ray: one task per source on a local 2-CPU runtime; the first task's worker dies once and Ray retries it
    import ray  # scripts/setup.sh --test installs it (vistream[ray])

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             # TMPDIR: the scratch folder of the task whose worker crashes stays in the test's folder
             runtime_env={"env_vars": {"PYTHONPATH": str(plugins_dir), "TMPDIR": str(tmp_path)}})
    try:
        config["detector"]["options"]["crash_marker"] = str(tmp_path / "ray-crashed")
        out_url = (tmp_path / "ray").as_uri()  # file://...: the fsspec path
        ray_results = batch.run(clips, pipeline=config, output_dir=out_url, ray=True, max_retries=2, progress=False)

        # a live source as a long-running actor with health checks (a looping clip paced in real time)
        Camera = ray.remote(num_cpus=1)(batch.LiveSource)
        camera = Camera.remote(clips[0], _config({"name": "motion"}), str(tmp_path / "live"),
                               player_options={"loop": True, "mode": "realtime"})
        assert ray.get(camera.status.remote())["state"] == "created"
        ray.get(camera.start.remote())
        deadline = time.monotonic() + 60
        while (status := ray.get(camera.status.remote()))["frames"] < CLIP_FRAMES + 10:
            assert status["state"] in ("starting", "running") and time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["state"] == "running" and status["seconds_since_frame"] < 5, status
        live = ray.get(camera.stop.remote())
        assert ray.get(camera.status.remote())["state"] == "stopped"
    finally:
        ray.shutdown()
    assert (tmp_path / "ray-crashed").exists(), "no Ray worker crashed: the retry was not tested"
    assert [r.source for r in ray_results] == clips
    assert [(r.frames, r.error) for r in ray_results] == [(CLIP_FRAMES, None)] * CLIPS
    assert [r.outputs for r in ray_results] == [(f"{out_url}/{Path(c).stem}.mp4", f"{out_url}/{Path(c).stem}.jsonl")
                                                for c in clips]
    assert type(ray_results[0]) is type(results[0])
    _assert_same_results(tmp_path / "ray", reference)
    assert {entry["status"] for entry in _manifest(tmp_path / "ray").values()} == {"done"}
    # the live run went past the clip's end (it loops) and its outputs were finalized and promoted
    assert live.error is None and live.frames > CLIP_FRAMES
    assert live.outputs == (str(tmp_path / "live" / "clip0.mp4"), str(tmp_path / "live" / "clip0.jsonl"))
    assert ffprobe_count(live.outputs[0]) >= CLIP_FRAMES
    assert len(_records(live.outputs[1])) >= CLIP_FRAMES
