"""Issue 13: `vistream new demoapp && cd demoapp && pytest` passes: the scaffold makes a runnable,
tested app (config, a predictor stub satisfying vistream.Detector, a pipeline, a test on a
generated clip, a README)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _run(*args, cwd, timeout=240):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_new_app_passes_its_own_tests_and_runs_on_a_video(tmp_path):
    created = _run("-m", "vistream", "new", "demoapp", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    app = tmp_path / "demoapp"
    assert created.stdout.strip() == f"created demoapp: cd demoapp && pytest, then python -m demoapp VIDEO"
    for name in ("README.md", "config.toml", "pyproject.toml", "demoapp/__init__.py", "demoapp/__main__.py",
                 "demoapp/app.py", "demoapp/predictor.py", "tests/test_app.py"):
        assert (app / name).is_file(), name
    assert "python -m demoapp" in (app / "README.md").read_text()

    tests = _run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=app)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout

    # and the app's command line, on a small clip of a bright dot
    import numpy as np
    import vistream as vs

    clip = tmp_path / "dot.mp4"
    with vs.Writer(str(clip), fps=25) as writer:
        for index in range(20):
            image = np.zeros((120, 160, 3), np.uint8)
            image[40:60, 10 + 4 * index:30 + 4 * index] = 255
            writer.write(image)
    ran = _run("-m", "demoapp", str(clip), cwd=app)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "demoapp: 20 frames; results: results.jsonl; video: annotated.mp4"
    lines = [json.loads(line) for line in (app / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 20 and lines[0]["class_names"] == {"0": "bright object"}
    assert lines[-1]["detections"][0]["tracker_id"] == 1
    with vs.Reader(str(app / "annotated.mp4")) as annotated:
        assert len(annotated) == 20


def test_new_refuses_bad_names_and_non_empty_folders(tmp_path):
    bad = _run("-m", "vistream", "new", "9lives", cwd=tmp_path)
    assert bad.returncode == 1
    assert "vistream: error: app name '9lives': use a Python package name" in bad.stderr
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    from vistream.scaffold import create_app

    with pytest.raises(FileExistsError, match="taken exists and is not empty"):
        create_app("taken", tmp_path)
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    assert create_app("taken", tmp_path, force=True) == tmp_path / "taken"
    assert (tmp_path / "taken" / "taken" / "predictor.py").is_file()
    with pytest.raises(ValueError, match="would shadow"):
        create_app("vistream", tmp_path)
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    assert not list(tmp_path.glob("9lives*"))
