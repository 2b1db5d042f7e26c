"""The pipeline config (YAML -> ``PipelineConfig`` -> ``Pipeline``) and the batch runner's
rules that need no pool: sizing, output name collisions, the directory lock, fsspec outputs."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import textwrap

import pytest

import vistream
from vistream import batch
from vistream.pipeline_config import PipelineConfig, PipelineConfigError


def _yaml(tmp_path, text: str):
    path = tmp_path / "pipeline.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_yaml_config_builds_the_pipeline_play_would(tmp_path):
    path = _yaml(tmp_path, """
        sources: [clips/a.mp4, /data/b.mp4, rtsp://cam/1]
        detector: {name: motion, options: {min_area: 0.002}}
        tracker: {name: bytetrack, options: {track_buffer: 90}}
        annotators: [box, {name: label}]
        schedule: {every_n_frames: 2}
        outputs: "{stem}.mp4"
        results: "{stem}.jsonl"
        player: {crf: 30}
        sinks: [{type: mqtt, topic: cams, qos: 1}]
    """)
    config = PipelineConfig.from_yaml(path)
    # relative sources are relative to the config's folder; absolute paths and URLs as given
    assert config.sources == (str(tmp_path / "clips" / "a.mp4"), "/data/b.mp4", "rtsp://cam/1")
    assert config.sinks == ({"type": "mqtt", "topic": "cams", "qos": 1},)
    pipeline = config.build_pipeline(frame_rate=30.0, results=tmp_path / "r.jsonl")
    assert isinstance(pipeline, vistream.Pipeline)
    assert type(pipeline.detector).__name__ == "MotionDetector" and pipeline.detector.min_area == 0.002
    # the tracker runs at the detector's rate, as `vistream play --every 2` gives it
    assert pipeline.tracker.frame_rate == 15.0 and pipeline.tracker.track_buffer == 90
    assert [type(a).__name__ for a in pipeline.annotators] == ["BoxAnnotator", "LabelAnnotator"]
    assert pipeline.every_n_frames == 2
    assert PipelineConfig.from_dict(config.to_dict()) == config
    assert config.output_name(config.outputs, "/data/b.mp4", "b", 1) == "b.mp4"


@pytest.mark.parametrize("text, message", [
    ("detectr: motion", "detectr: unknown key (did you mean 'detector'?)"),
    ("detector: {name: motion, options: {min_aera: 0.1}}",
     "detector.options.min_aera: not an option of MotionDetector (did you mean 'min_area'?)"),
    ("detector: yolo", "detector.name: unknown detector 'yolo' (did you mean 'yolox'?)"),
    ("detector: {name: yolox, options: {conf: 1.5}}", "detector.options.conf=1.5: must be between 0 and 1"),
    ("tracker: bytetrack", "tracker: bytetrack needs a detector"),
    ("detector: motion\nschedule: {every_n_frames: 0}", "schedule.every_n_frames: expected a whole number >= 1"),
    ("results: '{stem}.csv'", "results: '{stem}.csv': use one of .jsonl"),
    ("outputs: '{stm}.mp4'", "outputs: {stm} is not a field"),
    ("outputs: out.mp4", "outputs: 'out.mp4' names one file for every source"),
    ("annotators: [box, glow]", "annotators[1]: unknown annotator 'glow'"),
    ("detector: mypkg.nowhere:Detector", "detector.name: cannot import 'mypkg.nowhere'"),
    ("player: {display: true}", "player.display: not an option here"),
    ("detector: [motion", "not valid YAML"),
])
def test_config_mistakes_name_the_file_and_the_key(tmp_path, text, message):
    path = _yaml(tmp_path, text)
    with pytest.raises(PipelineConfigError) as caught:
        PipelineConfig.from_yaml(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_batch_cli_reports_a_bad_config_in_one_line(tmp_path):
    path = _yaml(tmp_path, "detector: {name: motion, options: {min_aera: 0.1}}")
    done = subprocess.run([sys.executable, "-m", "vistream", "batch", "x.mp4", "--pipeline", str(path),
                           "--output-dir", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"vistream: error: {path}: detector.options.min_aera: not an option of MotionDetector (did you mean "
        "'min_area'?); valid: min_area, history, var_threshold, detect_shadows"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sources, workers, threads, cores, plan", [
    (100, None, None, 8, (8, 1)),   # one source per core
    (3, None, None, 8, (3, 2)),     # fewer sources: the spare cores become decoder threads
    (1, None, None, 8, (1, 8)),
    (100, 2, None, 8, (2, 4)),
    (100, None, 4, 8, (2, 4)),
    (100, None, 16, 8, (1, 16)),    # a single source decoder wider than the machine: asked for
])
def test_workers_times_threads_fit_the_cores(sources, workers, threads, cores, plan):
    assert batch.plan_workers(sources, workers, threads, cores) == plan
    if threads is None or threads <= cores:
        assert plan[0] * plan[1] <= cores


def test_sources_sharing_a_name_get_distinct_keys_and_files():
    keys = batch.source_keys(["/a/cam.mp4", "/b/cam.mp4", "/c/other.mkv"])
    assert keys[2] == "other" and keys[0] != keys[1] and all(k.startswith("cam-") for k in keys[:2])
    # keys do not depend on the order the sources come in
    assert batch.source_keys(["/b/cam.mp4", "/a/cam.mp4"]) == [keys[1], keys[0]]
    with pytest.raises(batch.BatchError, match="same output file name"):
        batch.run(["/a/cam.mp4", "/b/cam.mp4"], pipeline={"results": "{stem}.jsonl"}, output_dir="/nonexistent")


def test_one_batch_at_a_time_per_output_directory(tmp_path):
    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / ".vistream-batch.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(batch.BatchError, match="another vistream batch is writing this directory"):
            batch.run(["x.mp4"], output_dir=tmp_path / "out", workers=0, progress=False)


def test_outputs_to_an_fsspec_url(media, tmp_path):
    """memory:// with workers=0 (one process: the memory filesystem is this process's)."""
    import fsspec

    clip = str(media["bframes"])
    url = "memory://vistream-batch-test/out"
    results = batch.run([clip, str(tmp_path / "missing.mp4")], pipeline={"detector": "motion"}, output_dir=url,
                        workers=0, progress=False)
    fs = fsspec.filesystem("memory")
    assert results[0].error is None and results[0].frames > 0
    assert results[1].error.startswith("SourceNotFoundError") and results[1].frames == 0
    key = results[0].key
    assert results[0].outputs == (f"{url}/{key}.jsonl",)
    lines = fs.cat_file(f"/vistream-batch-test/out/{key}.jsonl").decode().splitlines()
    assert len(lines) == results[0].frames
    manifest = json.loads(fs.cat_file("/vistream-batch-test/out/manifest.json"))["sources"]
    assert manifest[results[0].source]["status"] == "done" and manifest[results[1].source]["status"] == "failed"
    assert fs.exists("/vistream-batch-test/out/results.parquet")
    assert not [p for p in fs.find("/vistream-batch-test/out") if ".partial-" in p]
    # the re-run finds it done
    again = batch.run([clip], pipeline={"detector": "motion"}, output_dir=url, workers=0, progress=False)
    assert again[0].skipped and again[0].frames == results[0].frames


def test_yolox_config_takes_the_bytetrack_keys_as_play_does(tmp_path):
    import torch

    from vistream.detect.yolox import build_model

    torch.manual_seed(0)
    checkpoint = tmp_path / "nano.pth"
    torch.save({"model": build_model("yolox_nano").state_dict()}, checkpoint)
    path = _yaml(tmp_path, f"""
        detector:
          name: yolox
          options: {{model: yolox_nano, ckpt_file: {checkpoint}, conf: 0.05, classes: [0, 2],
                     track_thresh: 0.3, track_buffer: 50}}
        tracker: bytetrack
    """)
    pipeline = PipelineConfig.from_yaml(path).build_pipeline(frame_rate=25.0)
    assert type(pipeline.detector).__name__ == "YOLOX" and pipeline.detector.conf == 0.05
    # the tracker keys of `--bytetrack` reach ByteTrack, as on the command line
    tracker = pipeline.tracker
    assert type(tracker).__name__ == "ByteTrack" and (tracker.track_thresh, tracker.track_buffer) == (0.3, 50)
    assert tracker.frame_rate == 25.0
