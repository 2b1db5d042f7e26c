"""CLI hygiene: a user mistake is one line `vistream: error: ...` and exit status 2, never a traceback
(tracebacks only with -v); plugin options are typed and checked before anything is loaded."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLAY = [sys.executable, str(REPO / "python" / "play.py")]

# (arguments after the source, words the one line must contain)
MISTAKES = [
    (["--headless", "--output", "out"], "extension"),
    (["--headless", "--detector", "motion", "--results", "res.xml"], "unknown format .xml"),
    (["--headless", "--detector", "motion", "--results", "/sys/res.jsonl"], "Permission denied"),
    (["--headless", "--start", "5", "--end", "2"], "must be before --end"),
    (["--headless", "--bytetrack", "conf=abc"], "conf=abc"),
    (["--headless", "--bytetrack", "conf=1.5"], "between 0 and 1"),
    (["--headless", "--bytetrack", "fp16=Ture"], "true/false"),
    (["--headless", "--bytetrack", "model=yolox_q"], "unknown model 'yolox_q'"),
    (["--headless", "--bytetrack", "ckpt_file=/nonexistent.pth"], "is not a file"),
    (["--headless", "--bytetrack", "track_buffer=1.5"], "whole number"),
    (["--headless", "--bytetrack", "track_tresh=0.3"], "did you mean 'track_thresh'"),
    (["--headless", "--bytetrack", "fp16=1;bf16=1"], "alternatives"),
    (["--headless", "--bytetrack", "", "--tracker", "sort"], "brings its own detector"),
    (["--headless", "--bytetrack", "", "--detector", "hog"], "brings its own detector"),
    (["--headless", "--bytetrack", "", "--botsort", ""], "alternatives"),
    (["--headless", "--fullscreen"], "--fullscreen needs a window"),
    (["--headless", "--tracker", "bytetrack"], "needs a detector"),
    (["--headless", "--tracker", "bytetrack", "--results", "r.jsonl"], "needs a detector"),
    (["--headless", "--detector", "motion", "--results", "r.txt"], "need track ids"),
    (["--headless", "--every", "2"], "add a detector"),
    (["--headless", "--speed", "0"], "--speed"),
    (["--headless", "--start", "100"], "past the end"),
    (["--headless", "--no-such-option"], "unrecognized arguments"),
]


@pytest.mark.parametrize("arguments, words", MISTAKES, ids=[" ".join(a[1:]) or "x" for a, _ in MISTAKES])
def test_user_mistake_is_one_line_and_exit_2(test_mp4, tmp_path, arguments, words):
    result = subprocess.run([*PLAY, str(test_mp4), *arguments], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("vistream: error: "), result.stderr
    assert words in lines[0]
    assert list(tmp_path.iterdir()) == [], "a refused command must not create files"


def test_verbose_after_the_subcommand_shows_the_traceback(tmp_path):
    missing = str(tmp_path / "missing.mp4")
    quiet = subprocess.run([*PLAY, missing, "--headless"], capture_output=True, text=True, timeout=60)
    verbose = subprocess.run([sys.executable, "-m", "vistream", "play", missing, "--headless", "-v"],
                             capture_output=True, text=True, timeout=60)
    assert quiet.returncode == verbose.returncode == 1
    assert "Traceback" not in quiet.stderr and "Traceback" in verbose.stderr
    assert "vistream: error: " in quiet.stderr and "No such file" in quiet.stderr


def test_version():
    import vistream

    result = subprocess.run([sys.executable, "-m", "vistream", "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"vistream {vistream.__version__}"


def test_plugin_options_are_typed():
    from vistream.plugin_options import BOTSORT_KEYS, parse_options

    assert parse_options("fp16=no") == {"fp16": False}  # bool("no") used to be True
    assert parse_options("fp16=YES;trust_checkpoint=1") == {"fp16": True, "trust_checkpoint": True}
    assert parse_options("bf16=false;device=CUDA:1") == {"bf16": False, "device": "cuda:1"}
    assert parse_options("conf=0;nms=1;track_buffer=60;model=YOLOX-S") == {
        "conf": 0.0, "nms": 1.0, "track_buffer": 60, "model": "yolox_s"}
    assert parse_options("ckpt_file=https://example.org/w.pth") == {"ckpt_file": "https://example.org/w.pth"}
    assert parse_options("gmc=ecc;appearance_thresh=0.25", BOTSORT_KEYS, "--botsort") == {
        "gmc": "ecc", "appearance_thresh": 0.25}
    for bad, message in [("fp16=Ture", "true/false"), ("conf=-0.1", "between 0 and 1"),
                         ("track_buffer=0", ">= 1"), ("classes=person", "class ids"), ("device=gpu", "cuda"),
                         ("conf=0.1;conf=0.2", "twice"), ("onnx_file=/no/such/folder/m.onnx", "does not exist")]:
        with pytest.raises(ValueError, match=message):
            parse_options(bad)
    with pytest.raises(ValueError, match="valid: sparse_flow, ecc, none"):
        parse_options("gmc=orb", BOTSORT_KEYS, "--botsort")


def test_known_models_match_the_detector():
    pytest.importorskip("torch")
    from vistream.detect.yolox import MODEL_SPECS
    from vistream.plugin_options import GMC_METHODS, KNOWN_MODELS
    from vistream.track.camera_motion import METHODS

    assert set(KNOWN_MODELS) == set(MODEL_SPECS)
    assert tuple(GMC_METHODS) == tuple(METHODS)


def test_speed_range_is_the_players(vs, test_mp4):
    from vistream.player import MAX_SPEED

    vs.Player(str(test_mp4), speed=MAX_SPEED)  # accepted by the Player, so by the CLI too
    with pytest.raises(ValueError):
        vs.Player(str(test_mp4), speed=MAX_SPEED * 1.01)
    result = subprocess.run([*PLAY, str(test_mp4), "--headless", "--end", "0.2", "--speed", f"{MAX_SPEED:g}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
